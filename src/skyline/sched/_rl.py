"""The `rl` extra (gymnasium, stable-baselines3): imported lazily, named when missing."""

from __future__ import annotations

from skyline.errors import ConfigError

RL_EXTRA = "pip install 'skyline[rl]' (gymnasium and stable-baselines3)"


def missing(package: str, what: str) -> ConfigError:
    """The error for an absent optional package: what needs it and which extra provides it."""
    return ConfigError(f"{what} needs {package}, which is not installed", fix=RL_EXTRA)
