"""Benchmark scenario files: which runner, topology, models, workload, links, strategies, metrics.

A scenario is TOML, packaged (`skyline bench run industrial`) or a path. Every mistake becomes a
ConfigError naming the file, the field as written, the value and a fix. Shape::

    name = "industrial"
    kind = "industrial"              # the runner plug-in (skyline.bench.runner.RUNNERS)
    seeds = 3                        # runs from seed, seed+1, ...
    topology = "device-edge-cloud"   # a preset, or a topology file relative to this one
    strategies = ["edge-static", "edge-cloud-retrain"]
    metrics = ["f1@after-retrain", "latency_p95_ms"]   # metric[@phase]; the first ranks

    [links.edge-cloud]               # optional: override a topology link (by "a-b")
    trace = "uplink.csv"             # time_s,up_mbps,down_mbps, or an inline table
    rtt_ms = 60

    [models]                         # runner-specific tables, checked by its settings_model
    [workload]
    [quick]                          # merged over the above by --quick: {seeds, models, workload}
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from skyline._scenario_file import packaged_names, read_scenario_toml, trace_csv
from skyline.bench.metrics import METRICS
from skyline.bench.runner import RUNNERS, ScenarioRunner, runners
from skyline.errors import ConfigError, SkylineError
from skyline.topology import BandwidthTrace, Topology, load_topology
from skyline.topology.spec import _invalid  # the shared error-with-fix for validators

_PACKAGED = resources.files("skyline.bench") / "scenarios"
_CONFIG = ConfigDict(frozen=True, extra="forbid")


class LinkOverride(BaseModel):
    """Fields replaced on one topology link; `trace` makes its bandwidth vary over time."""

    model_config = _CONFIG

    up_mbps: float | None = Field(None, gt=0, description="uplink, Mbit/s", examples=[20.0])
    down_mbps: float | None = Field(None, gt=0, description="downlink, Mbit/s", examples=[50.0])
    rtt_ms: float | None = Field(None, ge=0, description="round-trip time, ms", examples=[40.0])
    trace: BandwidthTrace | None = Field(
        None, description="bandwidth over time: a time_s,up_mbps,down_mbps CSV or inline table"
    )


class BenchScenario(BaseModel):
    """A validated scenario; `models` and `workload` are checked by the runner's settings_model."""

    model_config = _CONFIG

    name: str = Field(min_length=1, description="scenario name", examples=["industrial"])
    kind: str = Field(description="runner plug-in for this scenario", examples=["industrial"])
    description: str = Field("", description="one paragraph shown in the report")
    seed: int = Field(0, ge=0, description="first seed", examples=[0])
    seeds: int = Field(1, ge=1, description="how many seeds to run", examples=[3])
    topology: str = Field(
        "device-edge-cloud",
        description="topology preset or file (relative to the scenario)",
        examples=["device-edge-cloud"],
    )
    strategies: list[str] = Field(min_length=1, description="strategies to compare")
    metrics: list[str] = Field(
        min_length=1, description="metric[@phase] columns; the first ranks", examples=[["f1"]]
    )
    pareto: list[tuple[str, str]] = Field(
        default_factory=list,
        description="(x, y) metric-key pairs plotted as trade-offs with their Pareto front",
        examples=[[["bytes_up", "f1"]]],
    )
    models: dict[str, Any] = Field(default_factory=dict, description="runner-specific models")
    workload: dict[str, Any] = Field(default_factory=dict, description="runner-specific workload")
    links: dict[str, LinkOverride] = Field(
        default_factory=dict, description="link overrides by 'a-b'"
    )
    quick: dict[str, Any] = Field(
        default_factory=dict, description="overrides for --quick: seeds, models, workload"
    )

    @model_validator(mode="after")
    def _known_names(self) -> Self:
        try:
            runner = runners().get(self.kind)
            RUNNERS.check(runner)  # a 'module:Class' kind is explained, not failed later
        except SkylineError as exc:
            raise _invalid(
                str(exc.args[0]).split(". Fix: ")[0], exc.fix or "", loc=("kind",), value=self.kind
            ) from None
        for i, name in enumerate(self.strategies):
            if name not in runner.strategies:
                raise _invalid(
                    f"{self.kind} has no strategy {name!r}",
                    f"use some of: {', '.join(runner.strategies)}",
                    loc=("strategies", i),
                    value=name,
                )
        keyed: list[tuple[tuple[str | int, ...], str]] = [
            (("metrics", i), key) for i, key in enumerate(self.metrics)
        ]
        keyed += [
            (("pareto", i, j), key)
            for i, pair in enumerate(self.pareto)
            for j, key in enumerate(pair)
        ]
        for loc, key in keyed:
            metric, _, phase = key.partition("@")
            if metric not in METRICS:
                raise _invalid(
                    f"unknown metric {metric!r}",
                    f"use one of: {', '.join(METRICS.names())}",
                    loc=loc,
                    value=key,
                )
            if phase and phase not in runner.phases:
                raise _invalid(
                    f"{self.kind} has no phase {phase!r}",
                    f"use one of: {', '.join(runner.phases) or '(none: drop @...)'}",
                    loc=loc,
                    value=key,
                )
        return self

    @property
    def runner(self) -> type[ScenarioRunner]:
        return runners().get(self.kind)

    def settings(self, *, where: str | None = None) -> BaseModel:
        """The runner's validated settings from `models` and `workload` (errors start with
        `where`, by default the scenario's name)."""
        doc = {"models": self.models, "workload": self.workload}
        try:
            return self.runner.settings_model.model_validate(doc)
        except ValidationError as exc:
            prefix = f"scenario {self.name!r}: " if where is None else where
            raise _translate(exc, prefix, self.runner.settings_model) from None

    def build_topology(self) -> Topology:
        """The named topology with the scenario's link overrides applied."""
        topo = load_topology(self.topology)
        for name, override in self.links.items():
            a, sep, b = name.partition("-")
            if not sep:
                raise ConfigError(
                    f"scenario {self.name!r}: links.{name}: not an 'a-b' link name",
                    fix="name a link by its two nodes, e.g. [links.edge-cloud]",
                )
            topo = topo.with_link(a, b, **override.model_dump(exclude_none=True))
        return topo

    def quick_variant(self) -> BenchScenario:
        """This scenario with its `quick` table merged over seeds, models and workload."""
        doc = self.model_dump()
        doc["quick"] = {}
        for key, value in self.quick.items():
            doc[key] = {**doc[key], **value} if isinstance(doc.get(key), dict) else value
        return parse_bench_scenario(doc, where=f"scenario {self.name!r} (quick): ")


def packaged_scenarios() -> list[str]:
    """Names of the scenarios shipped with Skyline."""
    return packaged_names(_PACKAGED)


def load_bench_scenario(source: str | Path) -> BenchScenario:
    """A packaged scenario by name, or a scenario TOML file (relative paths inside it resolved
    against its folder)."""
    doc, where, path = read_scenario_toml(source, _PACKAGED)
    if path is None:
        return parse_bench_scenario(doc, where=where)
    topology = doc.get("topology")
    if isinstance(topology, str) and (path.parent / topology).is_file():
        doc["topology"] = str(path.parent / topology)
    links = doc.get("links")
    for name, link in (links if isinstance(links, dict) else {}).items():
        if isinstance(link, dict) and isinstance(link.get("trace"), str):
            csv_path = trace_csv(path, f"links.{name}", link["trace"])
            link["trace"] = BandwidthTrace.from_csv(csv_path).model_dump()
    return parse_bench_scenario(doc, where=where)


def parse_bench_scenario(doc: Mapping[str, Any], *, where: str = "") -> BenchScenario:
    """Validate a scenario document, its runner settings included; errors are ConfigErrors."""
    try:
        scenario = BenchScenario.model_validate(doc)
    except ValidationError as exc:
        raise _translate(exc, where, BenchScenario) from None
    scenario.settings(where=where)
    return scenario


def _nested(annotation: Any) -> list[type[BaseModel]]:
    """Pydantic models an annotation holds (through Optional, list, dict, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _nested(arg)]


def _field_info(root: type[BaseModel], loc: tuple[int | str, ...]) -> FieldInfo | None:
    candidates, info = [root], None
    for part in loc:
        if isinstance(part, int):
            continue
        fields = {n: f for m in candidates for n, f in m.model_fields.items()}
        info = fields.get(part)
        candidates = _nested(info.annotation) if info is not None else []
    return info


def _problem(err: ErrorDetails, root: type[BaseModel]) -> tuple[str, str]:
    """("field = value: what is wrong", fix) for one pydantic error, in the file's terms."""
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    loc = (*err["loc"], *ctx.get("loc", ()))
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    value = ctx.get("value", err["input"])
    where = field if err["type"] == "missing" else f"{field} = {value!r}"
    if err["type"] == "skyline":
        return f"{where}: {ctx['what']}", ctx["fix"]
    if err["type"] == "extra_forbidden":
        return f"{where}: unknown key", "remove it, or check its spelling"
    missing = err["type"] == "missing"
    what = (
        "required key is missing" if missing else err["msg"].replace("Input should be", "must be")
    )
    info = _field_info(root, loc)
    fix = f"set {field}"
    if info is not None and info.description:
        fix += f" ({info.description})"
    if info is not None and info.examples:
        fix += f", e.g. {field} = {info.examples[0]!r}"
    return f"{where}: {what}", fix


def _translate(exc: ValidationError, where: str, root: type[BaseModel]) -> ConfigError:
    problems = [_problem(err, root) for err in exc.errors(include_url=False)]
    if len(problems) == 1:
        what, fix = problems[0]
        return ConfigError(f"{where}{what}", fix=fix)
    lines = "\n".join(f"  - {what}. Fix: {fix}" for what, fix in problems)
    return ConfigError(f"{where}{len(problems)} problems:\n{lines}")
