"""Flower is the `fl` extra: imported here, once, with an error that names the extra."""

from __future__ import annotations

import functools
import os
from types import SimpleNamespace

from skyline.errors import ConfigError

_QUIET = {"FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1"}


@functools.cache
def flower() -> SimpleNamespace:
    """The Flower modules Skyline uses (telemetry and update checks off before import)."""
    for key, value in _QUIET.items():
        os.environ.setdefault(key, value)
    try:
        import flwr.app as app
        import flwr.clientapp as clientapp
        import flwr.serverapp as serverapp
        import flwr.serverapp.strategy as serverapp_strategy
        import flwr.simulation as simulation
    except ImportError as exc:
        raise ConfigError(
            f"federated learning needs Flower, which is not importable ({exc})",
            fix='pip install "skyline[fl]"',
        ) from exc
    return SimpleNamespace(
        app=app,
        clientapp=clientapp,
        serverapp=serverapp,
        serverapp_strategy=serverapp_strategy,
        simulation=simulation,
    )
