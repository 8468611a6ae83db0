"""Load scenarios from TOML (or the packaged examples by name), every mistake a ConfigError.

A message names the file, the field as written (`device[0].count`), the value, what is wrong
and a fix. Shape of a file (see `skyline/sim/scenarios/*.toml` for complete ones)::

    name = "campus"
    duration_s = 600
    seed = 1

    [[device]]                # count devices named <name>-<i>
    name = "cam"
    count = 50
    preset = "rpi4"

    [[edge]]
    name = "edge-1"
    cores = 4
    access = "wifi"           # a link preset, or {preset = "wifi", up_mbps = 10}
    backhaul = "wan"
    x_m = 250
    y_m = 250
    radius_m = 300

    [cloud]
    cores = 16

    [[task]]
    name = "classify"
    flops = 3.6e9             # or graph = "resnet18.json" (`skyline profile --json`): FLOPs,
    input_bytes = 150528      # host time, input and output bytes from the profiled model
    output_bytes = 4000
    deadline_ms = 300
    accuracy = {device = 0.70, edge = 0.76, cloud = 0.76}

    [workload]                # poisson (rate_hz), bursty (on/off), or trace (times_s or file)
    kind = "poisson"
    rate_hz = 0.5

    [mobility]                # static, random_waypoint, or trace (file = "positions.csv"
    kind = "random_waypoint"  # with time_s,device,x_m,y_m rows; device as in cam-0)
    area_m = [500, 500]
"""

from __future__ import annotations

import csv
import json
import math
import typing
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from skyline._scenario_file import packaged_names, read_scenario_toml, trace_csv
from skyline.errors import ConfigError
from skyline.graph import ModelGraph
from skyline.sim.spec import Scenario
from skyline.topology import BandwidthTrace

_PACKAGED = resources.files("skyline.sim") / "scenarios"


def scenario_names() -> list[str]:
    """The example scenarios shipped with Skyline (`skyline simulate small`)."""
    return packaged_names(_PACKAGED)


def load_scenario(source: str | Path) -> Scenario:
    """A packaged scenario by name, or a .toml scenario file."""
    doc, where_prefix, path = read_scenario_toml(source, _PACKAGED)
    if path is None:
        return parse_scenario(doc, where=where_prefix)
    for where, table in _workload_tables(doc):
        if "file" in table:
            table.update(_read_trace(path, where, table.pop("file")))
    for where, link in _link_tables(doc):
        if isinstance(link.get("trace"), str):
            csv_path = trace_csv(path, where, link["trace"])
            link["trace"] = BandwidthTrace.from_csv(csv_path).model_dump()
    mobility = doc.get("mobility")
    if isinstance(mobility, dict) and "file" in mobility:
        mobility["trace"] = _read_positions(path, mobility.pop("file"))
    tasks = doc.get("task")
    for i, task in enumerate(tasks if isinstance(tasks, list) else []):
        if isinstance(task, dict) and "graph" in task:
            for key, value in _read_graph(path, i, task.pop("graph")).items():
                task.setdefault(key, value)
    return parse_scenario(doc, where=where_prefix)


def parse_scenario(doc: dict[str, Any], *, where: str = "") -> Scenario:
    """Validate a scenario document (the TOML shape), translating errors to ConfigError."""
    try:
        return Scenario.model_validate(doc)
    except ValidationError as exc:
        problems = [_problem(err) for err in exc.errors(include_url=False)]
    if len(problems) == 1:
        field, what, fix = problems[0]
        raise ConfigError(f"{where}{field}: {what}", fix=fix)
    lines = "\n".join(f"  - {field}: {what}. Fix: {fix}" for field, what, fix in problems)
    raise ConfigError(f"{where}{len(problems)} problems:\n{lines}")


def _workload_tables(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    tables = [("workload", doc.get("workload"))]
    groups = doc.get("device")
    if isinstance(groups, list):
        for i, group in enumerate(groups):
            if isinstance(group, dict):
                tables.append((f"device[{i}].workload", group.get("workload")))
    return [(w, t) for w, t in tables if isinstance(t, dict)]


def _read_trace(path: Path, where: str, name: object) -> dict[str, list[Any]]:
    """times_s (and devices, when the CSV has a `device` column) from a CSV beside the file."""
    csv_path = path.parent / str(name)
    try:
        with csv_path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise ConfigError(
            f"{path}: {where}.file = {name!r}: cannot read {csv_path}: {exc.strerror}",
            fix="give a CSV path relative to the scenario file",
        ) from None
    try:
        out: dict[str, list[Any]] = {"times_s": [float(r["time_s"]) for r in rows]}
        if rows and "device" in rows[0]:
            out["devices"] = [int(r["device"]) for r in rows]
    except (KeyError, TypeError, ValueError):
        raise ConfigError(
            f"{path}: {where}.file: {csv_path} is not a time_s[,device] CSV of numbers",
            fix="start it with the header 'time_s,device' (device optional), one arrival a row",
        ) from None
    return out


def _link_tables(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(field, table) of every link written as a table: edge access/backhaul, cloud links."""
    found = []
    for key, fields in (("edge", ("access", "backhaul")), ("device", ("cloud_link",))):
        entries = doc.get(key)
        for i, entry in enumerate(entries if isinstance(entries, list) else []):
            for field in fields:
                if isinstance(entry, dict) and isinstance(entry.get(field), dict):
                    found.append((f"{key}[{i}].{field}", entry[field]))
    return found


def _read_positions(path: Path, name: object) -> dict[str, list[Any]]:
    """A position trace (time_s,device,x_m,y_m rows) from a CSV beside the scenario file."""
    csv_path = path.parent / str(name)
    try:
        with csv_path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        return {
            "times_s": [float(r["time_s"]) for r in rows],
            "devices": [str(r["device"]) for r in rows],
            "x_m": [float(r["x_m"]) for r in rows],
            "y_m": [float(r["y_m"]) for r in rows],
        }
    except OSError as exc:
        raise ConfigError(
            f"{path}: mobility.file = {name!r}: cannot read {csv_path}: {exc.strerror}",
            fix="give a CSV path relative to the scenario file",
        ) from None
    except (KeyError, TypeError, ValueError):
        raise ConfigError(
            f"{path}: mobility.file: {csv_path} is not a time_s,device,x_m,y_m CSV",
            fix="start it with the header 'time_s,device,x_m,y_m', one position a row",
        ) from None


def _read_graph(path: Path, index: int, name: object) -> dict[str, float]:
    """A task's FLOPs, host time and bytes from a profiled model (ModelGraph JSON)."""
    where = f"{path}: task[{index}].graph = {name!r}"
    graph_path = path.parent / str(name)
    try:
        graph = ModelGraph.from_dict(json.loads(graph_path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise ConfigError(
            f"{where}: cannot read {graph_path}: {exc.strerror}",
            fix="give the path (relative to the scenario) of `skyline profile MODEL --json` output",
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{where}: {graph_path} is not a profiled model graph ({exc})",
            fix="write it with `skyline profile MODEL --json PATH`",
        ) from None
    output_bytes = float(graph.value_bytes[graph.output_values].sum())
    if not math.isfinite(output_bytes):
        raise ConfigError(
            f"{where}: the model's outputs cannot cross a link (tuples or Python scalars)",
            fix="set output_bytes for this task",
        )
    return {
        "flops": graph.total_flops,
        "host_ms": graph.total_host_time_s * 1e3,
        "input_bytes": float(sum(v.nbytes for v in graph.inputs)),
        "output_bytes": output_bytes,
    }


def _models(annotation: Any) -> list[type[BaseModel]]:
    """Pydantic models an annotation holds (through Optional, list, Union, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def _field(loc: tuple[int | str, ...]) -> tuple[str, FieldInfo | None, str]:
    """(field as written in the file, its FieldInfo, its key) for a pydantic error location."""
    candidates: list[type[BaseModel]] = [Scenario]
    info: FieldInfo | None = None
    path, key = "", ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
            continue
        fields = {(f.alias or n): f for m in candidates for n, f in m.model_fields.items()}
        if part in fields:
            info, key = fields[part], part
            path += f".{part}"
            candidates = _models(info.annotation)
            continue
        tagged = [m for m in candidates if _tag(m) == part]
        if tagged:  # a discriminated union member, not a key the user wrote
            candidates = tagged
            continue
        path += f".{part}"  # a dict key (e.g. compute_ms.edge)
        candidates = []
    return path.lstrip("."), info, key


def _tag(model: type[BaseModel]) -> object:
    kind = model.model_fields.get("kind")
    args = typing.get_args(kind.annotation) if kind is not None else ()
    return args[0] if args else None


def _problem(err: ErrorDetails) -> tuple[str, str, str]:
    """(field = value, what is wrong, fix) for one pydantic error, in the file's terms."""
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    field, info, key = _field((*err["loc"], *ctx.get("loc", ())))
    value = ctx.get("value", err["input"])
    missing = err["type"] == "missing"
    where = field if missing else f"{field} = {value!r}" if field else repr(value)
    if err["type"] == "skyline":
        return where or "scenario", ctx["what"], ctx["fix"]
    if err["type"] == "extra_forbidden":
        owner, _, unknown = field.rpartition(".")
        return where, f"unknown key {unknown!r} in {owner or 'the scenario'}", "remove it"
    what = err["msg"].replace("Input should be", "must be")
    todo = f"add {key}" if missing else f"set {key} to a valid value"
    if info is None or not info.description:
        return where, what, todo
    example = f", e.g. {key} = {info.examples[0]!r}" if info.examples else ""
    return where, what, f"{todo} ({info.description}){example}"
