"""Scenario files, shared by the simulator and the benchmark suite: a packaged name or a TOML
path, read with errors that say what to fix, and CSV traces found beside the file."""

from __future__ import annotations

import tomllib
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from skyline.errors import ConfigError


def packaged_names(folder: Traversable) -> list[str]:
    """The scenario names (TOML stems) shipped in `folder`."""
    files = (p.name for p in folder.iterdir())
    return sorted(name.removesuffix(".toml") for name in files if name.endswith(".toml"))


def read_scenario_toml(
    source: str | Path, folder: Traversable
) -> tuple[dict[str, Any], str, Path | None]:
    """(document, prefix naming the source for error messages, the file's path or None for a
    packaged scenario). A file's document gets its stem as default `name`."""
    names = packaged_names(folder)
    if isinstance(source, str) and source in names:
        text = (folder / f"{source}.toml").read_text(encoding="utf-8")
        return tomllib.loads(text), f"scenario {source!r}: ", None
    path = Path(source)
    if path.suffix.lower() != ".toml" or not path.is_file():
        raise ConfigError(
            f"{str(source)!r} is neither a packaged scenario nor an existing .toml file",
            fix=f"use one of {', '.join(names)}, or the path of a scenario file",
        )
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:  # its message carries line and column
        raise ConfigError(
            f"{path}: TOML syntax error: {exc}", fix="correct the syntax at that line"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read {path}: {exc}", fix="check it is a readable text file"
        ) from None
    doc.setdefault("name", path.stem)
    return doc, f"{path}: ", path


def trace_csv(path: Path, where: str, name: str) -> Path:
    """The bandwidth-trace CSV `name` given at `where` in scenario file `path`, relative to it."""
    csv_path = path.parent / name
    if not csv_path.is_file():
        raise ConfigError(
            f"{path}: {where}.trace = {name!r}: {csv_path} not found",
            fix="give a time_s,up_mbps,down_mbps CSV relative to the scenario file",
        )
    return csv_path
