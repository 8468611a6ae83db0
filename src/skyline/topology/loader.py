"""Read and write topology files (TOML or YAML), turning every mistake into a TopologyError.

A message names the file, the field as the user wrote it (`link[0].up_mbps`), the value given,
what is wrong and a fix, because a topology file is usually written by hand. The format
(YAML has the same structure, with `node:` and `link:` lists)::

    name = "lab"                 # optional; defaults to the file name

    [[node]]
    name = "cam"
    preset = "rpi4"              # optional; the other keys override the preset
    memory_mb = 2048             # MiB; inf = unlimited

    [[node]]
    name = "cloud"
    tier = "cloud"               # device, edge or cloud
    gflops = 2000                # or speed = 0.5 (relative to this host), not both

    [[link]]
    a = "cam"                    # `up` is a -> b
    b = "cloud"
    preset = "4g"
    rtt_ms = 60
    trace = "trace.csv"          # time_s,up_mbps,down_mbps; relative to this file,
                                 # or inline: {times_s = [...], up_mbps = [...], down_mbps = [...]}

Presets and their sources are listed in docs/presets.md.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from skyline.errors import TopologyError
from skyline.topology.presets import TOPOLOGY_PRESETS, expand_presets, topology_preset
from skyline.topology.spec import BandwidthTrace, Link, Node, PowerModel, Topology

_TOML = (".toml",)
_YAML = (".yaml", ".yml")

# Model that holds the fields under each nesting key, to find allowed keys and field docs.
_SUBMODELS: dict[str, type[BaseModel]] = {
    "nodes": Node,
    "links": Link,
    "power": PowerModel,
    "trace": BandwidthTrace,
}
# Topology fields are spelled as the file's table names.
_FILE_KEYS = {"nodes": "node", "links": "link"}


def load_topology(source: str | Path) -> Topology:
    """A preset by name, or a .toml/.yaml/.yml topology file."""
    if isinstance(source, str) and source in TOPOLOGY_PRESETS:
        return topology_preset(source)
    path = Path(source)
    presets = ", ".join(TOPOLOGY_PRESETS)
    if path.suffix.lower() not in _TOML + _YAML:
        raise TopologyError(
            f"{str(source)!r} is neither a topology preset nor a .toml/.yaml/.yml file",
            fix=f"use a preset ({presets}) or the path of a topology file",
        )
    if not path.is_file():
        raise TopologyError(
            f"topology file {path} not found",
            fix=f"check the path, or use a preset instead: {presets}",
        )
    doc = _parse(path)
    fields = expand_presets({"name": path.stem, **doc}, where=f"{path}: ")
    for i, link in enumerate(fields["links"]):
        if isinstance(link.get("trace"), str):
            link["trace"] = _read_trace(path, i, link["trace"])
    try:
        return Topology.model_validate(fields)
    except ValidationError as exc:
        raise _translate(exc, path) from None


def _parse(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TopologyError(
            f"cannot read topology file {path}: {exc}", fix="check it is a readable text file"
        ) from exc
    doc: object
    if path.suffix.lower() in _TOML:
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:  # its message carries line and column
            raise TopologyError(
                f"{path}: TOML syntax error: {exc}", fix="correct the syntax at that line"
            ) from None
    else:
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
            problem = getattr(exc, "problem", None) or exc
            raise TopologyError(
                f"{where}: YAML syntax error: {problem}", fix="correct the syntax at that line"
            ) from None
    if not isinstance(doc, dict):
        raise TopologyError(
            f"{path}: the file holds {type(doc).__name__}, not a table of name, node, link",
            fix="follow the format in help(skyline.topology.loader), or save_topology() output",
        )
    return doc


def _read_trace(path: Path, index: int, trace: str) -> BandwidthTrace:
    csv_path = path.parent / trace
    if not csv_path.is_file():
        raise TopologyError(
            f"{path}: link[{index}].trace = {trace!r}: trace file {csv_path} not found",
            fix="give a CSV path relative to the topology file, or an inline table "
            "{times_s = [...], up_mbps = [...], down_mbps = [...]}",
        )
    return BandwidthTrace.from_csv(csv_path)


def _translate(exc: ValidationError, path: Path) -> TopologyError:
    problems = [_problem(err) for err in exc.errors(include_url=False)]
    if len(problems) == 1:
        where, what, fix = problems[0]
        return TopologyError(f"{path}: {where}: {what}", fix=fix)
    lines = "\n".join(f"  - {where}: {what}. Fix: {fix}" for where, what, fix in problems)
    return TopologyError(f"{path}: {len(problems)} problems:\n{lines}")


def _problem(err: ErrorDetails) -> tuple[str, str, str]:
    """(field = value, what is wrong, fix) for one pydantic error, in the file's terms."""
    ctx: Mapping[str, Any] = err.get("ctx") or {}
    loc = (*err["loc"], *ctx.get("loc", ()))
    value = ctx.get("value", err["input"])
    field = "".join(
        f"[{p}]" if isinstance(p, int) else f".{_FILE_KEYS.get(p, p)}" for p in loc
    ).lstrip(".")
    key = next((p for p in reversed(loc) if isinstance(p, str)), "")
    file_key = _FILE_KEYS.get(key, key)
    owner: type[BaseModel] = Topology
    for part in loc[:-1]:
        owner = _SUBMODELS.get(str(part), owner)
    info = owner.model_fields.get(key)
    where = field if err["type"] == "missing" else f"{field} = {value!r}"
    if err["type"] == "skyline":
        return where, ctx["what"], ctx["fix"]
    if err["type"] == "extra_forbidden":
        allowed = ", ".join(_FILE_KEYS.get(k, k) for k in owner.model_fields)
        return where, f"unknown key {key!r}", f"remove it, or use one of: {allowed}"
    if err["type"] == "missing":
        what, todo = "required key is missing", f"add {file_key}"
    else:
        what = err["msg"].replace("Input should be", "must be")
        todo = f"set {file_key} to a valid value"
    if info is None:
        return where, what, "follow the format in help(skyline.topology.loader)"
    example = f", e.g. {file_key} = {info.examples[0]!r}" if info.examples else ""
    return where, what, f"{todo} ({info.description}){example}"


def save_topology(topo: Topology, path: str | Path) -> None:
    """Write `topo` as a topology file (YAML for .yaml/.yml, else TOML) that loads back equal."""
    path = Path(path)
    data = topo.to_dict()
    doc = {"name": data["name"], "node": data["nodes"], "link": data["links"]}
    if path.suffix.lower() in _YAML:
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    else:
        path.write_text(_to_toml(doc), encoding="utf-8")


def _to_toml(doc: Mapping[str, Any]) -> str:
    """TOML for a topology document; None is written as inf for memory and left out elsewhere."""
    lines = [f"name = {_toml_value(doc['name'])}"]
    for table in ("node", "link"):
        for entry in doc[table]:
            lines += ["", f"[[{table}]]"]
            for key, value in entry.items():
                if value is None and key == "memory_mb":
                    value = math.inf  # unlimited; a bare omission would let a preset fill it
                if value is not None:
                    lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(float(value)) if math.isfinite(value) else "inf"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = (f"{k} = {_toml_value(v)}" for k, v in value.items() if v is not None)
        return "{ " + ", ".join(items) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")
