"""Scenario runners: one plug-in per scenario `kind`, each emitting metric rows tagged by source.

A runner implements `run_seed` (fill the context with rows and plot series for one seed) and may
add scenario-specific plots; `run` is the template that seeds torch, numpy and Python, pins torch
to one thread (timings comparable across runs) and loops over seeds. Every row says whether its
number was measured on real processes, simulated, or predicted by a model, because a benchmark
report must not mix the three silently.
"""

from __future__ import annotations

import importlib
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import BaseModel

from skyline._registry import PluginRegistry
from skyline.bench.metrics import METRICS, metric_key
from skyline.graph import single_thread
from skyline.topology import Topology

if TYPE_CHECKING:
    from skyline.bench.scenario import BenchScenario

Source = Literal["measured", "simulated", "predicted"]
SOURCES: tuple[Source, ...] = ("measured", "simulated", "predicted")
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class MetricRow:
    """One number of one strategy in one seed (and optionally one phase of the run).

    `timing` is True when the value depends on wall-clock time in this run, so a rerun from the
    same seed may differ; every other value must reproduce exactly.
    """

    scenario: str
    seed: int
    strategy: str
    metric: str
    value: float
    source: Source
    phase: str | None = None
    timing: bool = False

    @property
    def key(self) -> str:
        return metric_key(self.metric, self.phase)

    def to_dict(self) -> dict[str, Any]:
        spec = METRICS.get(self.metric)
        return {
            **asdict(self),
            "key": self.key,
            "unit": spec.unit,
            "lower_is_better": spec.lower_is_better,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricRow:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class SeedContext:
    """What a runner gets for one seed, and where it puts its rows and plot series."""

    scenario: BenchScenario
    settings: BaseModel
    topology: Topology
    seed: int
    progress: Progress = lambda fraction, label: None
    rows: list[MetricRow] = field(default_factory=list)
    series: dict[str, Any] = field(default_factory=dict)

    def add(
        self,
        strategy: str,
        metric: str,
        value: float,
        source: Source,
        *,
        phase: str | None = None,
        timing: bool | None = None,
    ) -> None:
        """Record a value; `timing` defaults to the metric's own (latency: yes, F1: no)."""
        is_timing = METRICS.get(metric).timing if timing is None else timing
        row = MetricRow(
            self.scenario.name, self.seed, strategy, metric, float(value), source, phase, is_timing
        )
        self.rows.append(row)


@dataclass
class RunData:
    """A finished run as written to its folder: scenario, environment, rows and series per seed."""

    scenario: dict[str, Any]
    environment: dict[str, Any]
    rows: list[MetricRow]
    series: dict[str, dict[str, Any]]


class ScenarioRunner(ABC):
    """Runs one scenario kind. Subclasses set `name`, `strategies`, `settings_model` (validates
    the scenario's `models` and `workload` tables, given as {"models": ..., "workload": ...}),
    optionally `phases` (the `@phase` of metric keys) and `method` (how the numbers are obtained,
    paragraphs for the report), and implement `run_seed`."""

    name: ClassVar[str]
    strategies: ClassVar[tuple[str, ...]]
    settings_model: ClassVar[type[BaseModel]]
    phases: ClassVar[tuple[str, ...]] = ()
    method: ClassVar[str] = ""

    @abstractmethod
    def run_seed(self, ctx: SeedContext) -> None:
        """Run every strategy of `ctx.scenario` for `ctx.seed`, adding rows and series."""

    def plots(self, run: RunData, out_dir: Path) -> list[tuple[str, Path]]:
        """Scenario-specific plots as (caption, PNG path); none by default."""
        return []

    def run(
        self,
        scenario: BenchScenario,
        settings: BaseModel,
        topology: Topology,
        seeds: Sequence[int],
        progress: Progress | None = None,
    ) -> list[SeedContext]:
        """Every seed in turn, each from freshly seeded random generators, torch on one thread."""
        done = []
        for i, seed in enumerate(seeds):

            def report(fraction: float, label: str, i: int = i, seed: int = seed) -> None:
                if progress is not None:
                    progress((i + fraction) / len(seeds), f"seed {seed}: {label}")

            random.seed(seed)
            np.random.seed(seed % 2**32)
            torch.manual_seed(seed)
            ctx = SeedContext(scenario, settings, topology, seed, report)
            with single_thread():
                self.run_seed(ctx)
            report(1.0, "done")
            done.append(ctx)
        return done


RUNNERS: PluginRegistry[ScenarioRunner] = PluginRegistry(
    "scenario kind", ScenarioRunner, "skyline.bench.runner.ScenarioRunner"
)

# Modules whose import registers the built-in runners (imported on first lookup, since they
# pull in models and data generators that listing the CLI should not pay for).
_BUILTIN = ("skyline.bench.industrial", "skyline.bench.driving", "skyline.bench.healthcare")


def runners() -> PluginRegistry[ScenarioRunner]:
    """The runner registry with the built-in scenario kinds loaded."""
    for module in _BUILTIN:
        importlib.import_module(module)
    return RUNNERS
