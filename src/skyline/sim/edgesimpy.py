"""Import EdgeSimPy JSON datasets as Skyline scenarios, so one file runs in both simulators.

EdgeSimPy's dataset is `{"<Class>": [{"attributes": {...}, "relationships": {...}}, ...]}`
with references `{"class": ..., "id": ...}`. It models where services are *placed* on edge
servers joined by a switch mesh; Skyline models where each *request* runs. The mapping keeps
what has a faithful counterpart and says what it changes in `ImportedScenario.notes`:

- EdgeServer -> edge server: `cpu` (cores) -> cores, `coordinates` -> position, infinite
  coverage (a device attaches to the nearest edge server, not to the nearest base station).
- BaseStation `wireless_delay` (one-way, read as ms) -> the access link of the edge servers
  nearest to it: RTT = 2 x delay. EdgeSimPy has no wireless bandwidth: `access_mbps` is used.
- NetworkLink `bandwidth` (read as Mbit/s) and `delay` (ms) -> each edge's backhaul, from the
  links at its switch (narrowest bandwidth, shortest delay): another edge is up + down one
  hop, so multi-hop mesh paths are shortened to two hops.
- User -> one device (phone preset) at `coordinates`, moved by `coordinates_trace` (one sample
  per EdgeSimPy step of `step_s`). Its applications' requests -> a Poisson stream of `task`
  at `rate_hz` while requesting, scaled by the access pattern's duty cycle
  (mean duration / (duration + interval)).
- Dropped: services, container images/layers/registries (placement is the policy's per
  request), delay SLAs (one deadline per task type: set it on `task`), power models (the
  presets' are used), switch coordinates, flows. There is no cloud.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

from skyline.errors import ConfigError
from skyline.sim.loader import parse_scenario
from skyline.sim.spec import Scenario, TaskType

_DEFAULT_TASK: dict[str, Any] = {
    "name": "request",
    "flops": 1e9,
    "input_bytes": 1e4,
    "output_bytes": 1e3,
}


class ImportedScenario(Scenario):
    """A Scenario built from another simulator's file, with what the import approximated."""

    notes: tuple[str, ...] = Field((), description="what was approximated or dropped")


def is_edgesimpy(doc: object) -> bool:
    """True for a document in EdgeSimPy's dataset shape (component classes at the top)."""
    return isinstance(doc, dict) and ("EdgeServer" in doc or "User" in doc)


def from_edgesimpy(
    source: str | Path | Mapping[str, Any],
    *,
    task: TaskType | Mapping[str, Any] | None = None,
    rate_hz: float = 1.0,
    access_mbps: float = 20.0,
    step_s: float = 1.0,
    duration_s: float | None = None,
    seed: int = 0,
) -> ImportedScenario:
    """An EdgeSimPy dataset (path or parsed dict) as a Skyline scenario (see module doc).

    `task`: the task type every request is (default 1 GFLOP, 10 kB up, 1 kB down); `rate_hz`:
    requests/s of a user while requesting; `duration_s`: default the longest mobility trace,
    at least one step.
    """
    where = f"{source}: " if isinstance(source, (str, Path)) else "EdgeSimPy dataset: "
    doc = _read(source, where) if isinstance(source, (str, Path)) else dict(source)
    if not is_edgesimpy(doc):
        raise ConfigError(
            f"{where}not an EdgeSimPy dataset (top-level keys {sorted(doc)[:5]})",
            fix='give {"EdgeServer": [...], "User": [...], ...} as EdgeSimPy writes it',
        )
    rd = _Reader(doc, where)
    stations = {
        sid: (rd.xy("BaseStation", i), rd.number("BaseStation", i, "wireless_delay", 0.0))
        for i, sid in enumerate(rd.ids("BaseStation"))
    }
    links = rd.switch_links()
    edges = []
    for i, sid in enumerate(rd.ids("EdgeServer")):
        x, y = rd.xy("EdgeServer", i)
        cores = rd.number("EdgeServer", i, "cpu", 1.0)
        edge: dict[str, Any] = {
            "name": f"edge-{sid}",
            "preset": "edge-server",
            "cores": max(1, int(cores)),
            "x_m": x,
            "y_m": y,
        }
        station = rd.ref("EdgeServer", i, "base_station")
        delay = stations[station][1] if station in stations else _nearest(stations, x, y)
        edge["access"] = {"up_mbps": access_mbps, "down_mbps": access_mbps, "rtt_ms": 2 * delay}
        switch = rd.ref("EdgeServer", i, "network_switch")
        if switch in links:
            bandwidth, hop_ms = links[switch]
            edge["backhaul"] = {"up_mbps": bandwidth, "down_mbps": bandwidth, "rtt_ms": 2 * hop_ms}
        edges.append(edge)
    if not edges:
        raise ConfigError(
            f"{where}EdgeServer: no edge servers", fix="add at least one EdgeServer entry"
        )
    duty = rd.duty_cycles()
    devices: list[dict[str, Any]] = []
    trace: dict[str, list[Any]] = {"times_s": [], "devices": [], "x_m": [], "y_m": []}
    longest = 1
    for i, uid in enumerate(rd.ids("User")):
        name = f"user-{uid}"
        x, y = rd.xy("User", i)
        apps = rd.refs("User", i, "applications")
        share = sum(duty.get(f"{uid}/{app}", 1.0) for app in apps)
        devices.append(
            {
                "name": name,
                "preset": "phone",
                "x_m": x,
                "y_m": y,
                "workload": {"kind": "poisson", "rate_hz": rate_hz * share},
            }
        )
        steps = rd.trace("User", i)
        longest = max(longest, len(steps))
        where_now = (x, y)
        for k, point in enumerate(steps):
            if point != where_now:
                for key, value in zip(trace, (k * step_s, f"{name}-0", *point), strict=True):
                    trace[key].append(value)
                where_now = point
    if not devices:
        raise ConfigError(f"{where}User: no users", fix="add at least one User entry")
    order = sorted(range(len(trace["times_s"])), key=lambda j: trace["times_s"][j])
    moved = {key: [values[j] for j in order] for key, values in trace.items()}
    scenario = {
        "name": Path(source).stem if isinstance(source, (str, Path)) else "edgesimpy",
        "duration_s": duration_s if duration_s is not None else longest * step_s,
        "seed": seed,
        "device": devices,
        "edge": edges,
        "task": [task.model_dump() if isinstance(task, TaskType) else dict(task or _DEFAULT_TASK)],
        "workload": {"kind": "poisson", "rate_hz": rate_hz},
        "mobility": {"kind": "trace", "trace": moved, "update_s": step_s}
        if moved["times_s"]
        else {"kind": "static"},
    }
    built = parse_scenario(scenario, where=where)
    notes = (
        "devices attach to the nearest edge server (infinite coverage), not to the nearest "
        "base station routed over the switch mesh",
        "users become phones (node preset; EdgeSimPy users do not compute); edge cores = cpu "
        "rounded down, at least 1; coordinates read as m, one trace sample per "
        f"{step_s:g} s step",
        f"wireless bandwidth is not in EdgeSimPy: access links use {access_mbps:g} Mbit/s; "
        "RTT = 2 x the base station's wireless_delay (ms)",
        "backhaul per edge from the links at its switch (narrowest bandwidth as Mbit/s, "
        "shortest delay as ms); edge-to-edge paths are two hops",
        f"each user's application requests are a Poisson stream of task {built.tasks[0].name!r} "
        f"at {rate_hz:g} Hz x the access pattern's duty cycle",
        "dropped: services and their placement, container images/layers/registries, delay "
        "SLAs, power models, network flows; no cloud",
    )
    return ImportedScenario.model_validate({**built.model_dump(by_alias=True), "notes": notes})


def _read(path: str | Path, where: str) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.strerror}", fix="give an EdgeSimPy dataset JSON"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}JSON syntax error: {exc}", fix="correct the JSON") from None
    if not isinstance(doc, dict):
        raise ConfigError(
            f"{where}top level is a {type(doc).__name__}, not an object",
            fix='give {"EdgeServer": [...], "User": [...], ...}',
        )
    return doc


def _nearest(
    stations: dict[object, tuple[tuple[float, float], float]], x: float, y: float
) -> float:
    """Wireless delay of the base station nearest (x, y); 0 when there is none."""
    if not stations:
        return 0.0
    (_, delay) = min(stations.values(), key=lambda s: math.hypot(s[0][0] - x, s[0][1] - y))
    return delay


class _Reader:
    """Typed access to entries, each failure a ConfigError naming the JSON path and value."""

    def __init__(self, doc: dict[str, Any], where: str) -> None:
        self.doc, self.where = doc, where

    def _fail(self, path: str, value: object, what: str, fix: str) -> ConfigError:
        return ConfigError(f"{self.where}{path} = {value!r}: {what}", fix=fix)

    def _entry(self, cls: str, i: int, part: str) -> dict[str, Any]:
        entry = self.doc[cls][i]
        value = entry.get(part, {}) if isinstance(entry, dict) else None
        if not isinstance(value, dict):
            raise self._fail(
                f"{cls}[{i}].{part}", value, "not an object", f"write {part} as {{...}}"
            )
        return value

    def ids(self, cls: str) -> list[object]:
        entries = self.doc.get(cls, [])
        if not isinstance(entries, list):
            raise self._fail(cls, entries, "not a list", f"write {cls} as a list of entries")
        return [self._entry(cls, i, "attributes").get("id", i + 1) for i in range(len(entries))]

    def number(self, cls: str, i: int, key: str, default: float) -> float:
        value = self._entry(cls, i, "attributes").get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise self._fail(
                f"{cls}[{i}].attributes.{key}", value, "must be a number >= 0", f"set {key}"
            )
        return float(value)

    def _point(self, path: str, value: object) -> tuple[float, float]:
        if (
            not isinstance(value, (list, tuple))
            or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        ):
            raise self._fail(path, value, "not an [x, y] pair of numbers", "write [x, y]")
        return float(value[0]), float(value[1])

    def xy(self, cls: str, i: int) -> tuple[float, float]:
        value = self._entry(cls, i, "attributes").get("coordinates")
        return self._point(f"{cls}[{i}].attributes.coordinates", value)

    def trace(self, cls: str, i: int) -> list[tuple[float, float]]:
        steps = self._entry(cls, i, "attributes").get("coordinates_trace") or []
        path = f"{cls}[{i}].attributes.coordinates_trace"
        if not isinstance(steps, list):
            raise self._fail(path, steps, "not a list", "give one [x, y] per step")
        return [self._point(f"{path}[{k}]", p) for k, p in enumerate(steps)]

    def ref(self, cls: str, i: int, key: str) -> object:
        value = self._entry(cls, i, "relationships").get(key)
        if value is None:
            return None
        if not isinstance(value, dict) or "id" not in value:
            raise self._fail(
                f"{cls}[{i}].relationships.{key}",
                value,
                "not a reference",
                'write {"class": ..., "id": ...} or null',
            )
        return value["id"]

    def refs(self, cls: str, i: int, key: str) -> list[object]:
        value = self._entry(cls, i, "relationships").get(key) or []
        path = f"{cls}[{i}].relationships.{key}"
        if not isinstance(value, list) or not all(isinstance(v, dict) and "id" in v for v in value):
            raise self._fail(path, value, "not a list of references", 'write [{"id": ...}]')
        return [v["id"] for v in value]

    def switch_links(self) -> dict[object, tuple[float, float]]:
        """(narrowest bandwidth, shortest delay) of the links at each switch."""
        at: dict[object, list[tuple[float, float]]] = {}
        for i, _ in enumerate(self.ids("NetworkLink")):
            bandwidth = self.number("NetworkLink", i, "bandwidth", 0.0)
            if bandwidth <= 0:
                raise self._fail(
                    f"NetworkLink[{i}].attributes.bandwidth",
                    bandwidth,
                    "must be > 0",
                    "give the link's bandwidth (read as Mbit/s)",
                )
            delay = self.number("NetworkLink", i, "delay", 0.0)
            for node in self.refs("NetworkLink", i, "nodes"):
                at.setdefault(node, []).append((bandwidth, delay))
        return {s: (min(b for b, _ in ls), min(d for _, d in ls)) for s, ls in at.items()}

    def duty_cycles(self) -> dict[str, float]:
        """Per "user/app" id pair: share of steps a user requests it, from its access pattern."""
        duty: dict[str, float] = {}
        for cls in self.doc:
            if not cls.endswith("AccessPattern"):
                continue
            for i, _ in enumerate(self.ids(cls)):
                attrs = self._entry(cls, i, "attributes")
                on = self._mean(attrs, f"{cls}[{i}].attributes", "duration_values")
                off = self._mean(attrs, f"{cls}[{i}].attributes", "interval_values")
                key = f"{self.ref(cls, i, 'user')}/{self.ref(cls, i, 'app')}"
                if on is not None and off is not None and on + off > 0:
                    duty[key] = on / (on + off)
        return duty

    def _mean(self, attrs: dict[str, Any], path: str, key: str) -> float | None:
        values = attrs.get(key)
        if values is None or values == []:
            return None
        if not isinstance(values, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in values
        ):
            raise self._fail(
                f"{path}.{key}", values, "not a list of numbers >= 0", "give step counts"
            )
        return sum(values) / len(values)
