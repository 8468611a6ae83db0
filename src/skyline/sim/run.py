"""`simulate()`: run a scenario's replications with one policy on one engine."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skyline.errors import ConfigError
from skyline.sched import Policy, policies
from skyline.sim.engines import ENGINES
from skyline.sim.loader import load_scenario
from skyline.sim.metrics import LatencyHistogram, Recorder
from skyline.sim.spec import Scenario
from skyline.sim.world import World
from skyline.topology import Tier


@dataclass
class SimResult:
    """Metrics of every replication, their mean and spread, and the pooled latency histogram."""

    scenario: str
    policy: str
    engine: str
    runs: list[dict[str, Any]]
    histogram: LatencyHistogram
    cpu_s: float
    target_tiers: dict[str, Tier]

    def _scalars(self) -> dict[str, np.ndarray]:
        keys = [k for k, v in self.runs[0].items() if isinstance(v, int | float)]
        return {k: np.array([run[k] for run in self.runs], dtype=float) for k in keys}

    def summary(self) -> dict[str, float]:
        """Mean over replications of every scalar metric."""
        return {k: float(v.mean()) for k, v in self._scalars().items()}

    def spread(self) -> dict[str, float]:
        """Sample standard deviation over replications (0 for one replication)."""
        return {k: float(v.std(ddof=1)) if len(v) > 1 else 0.0 for k, v in self._scalars().items()}

    def __getitem__(self, key: str) -> float:
        return self.summary()[key]

    def tier_shares(self) -> dict[str, float]:
        """Fraction of measured tasks run on each tier, mean over replications."""
        shares = dict.fromkeys((t.value for t in Tier), 0.0)
        for run in self.runs:
            for target, share in run["placement"].items():
                shares[self.target_tiers[target].value] += share / len(self.runs)
        return shares

    def to_dict(self) -> dict[str, Any]:
        latency_s, fraction = self.histogram.cdf()
        return {
            "scenario": self.scenario,
            "policy": self.policy,
            "engine": self.engine,
            "replications": len(self.runs),
            "cpu_s": self.cpu_s,
            "summary": self.summary(),
            "tier_shares": self.tier_shares(),
            "spread": self.spread(),
            "runs": self.runs,
            "latency_cdf": {
                "latency_ms": (latency_s * 1e3).tolist(),
                "fraction": fraction.tolist(),
            },
        }


def simulate(
    scenario: Scenario | str | Path,
    policy: Policy | str = "greedy-min-latency",
    engine: str = "exact",
    *,
    replications: int | None = None,
    tick_s: float | None = None,
    records: str | Path | None = None,
    progress: Callable[[float], None] | None = None,
) -> SimResult:
    """Simulate `scenario` (object, packaged name or TOML path) under `policy`.

    `engine`: "exact" (event heap) or "fast" (numpy ticks of `tick_s`, default the scenario's).
    `records`: JSONL path for one line per measured task. `progress`: called with the fraction
    of simulated time done, in [0, 1].
    """
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    chosen = policies.create(policy) if isinstance(policy, str) else policy
    engine_cls = ENGINES.get(engine)
    reps = sc.replications if replications is None else replications
    step = sc.tick_s if tick_s is None else tick_s
    if reps < 1 or not step > 0:
        raise ConfigError(
            f"replications {reps} / tick_s {step} out of range",
            fix="use replications >= 1 and tick_s > 0",
        )
    world = World(sc)
    pooled = LatencyHistogram()
    runs = []
    start = time.process_time()
    with contextlib.ExitStack() as stack:
        sink = None
        if records is not None:
            try:
                sink = stack.enter_context(Path(records).open("w", encoding="utf-8"))
            except OSError as exc:
                raise ConfigError(
                    f"cannot write task records to {records}: {exc.strerror}",
                    fix="check the folder exists and is writable",
                ) from None
        for rep in range(reps):
            recorder = Recorder(world, sc.warmup_s, replication=rep, records=sink)
            sim = engine_cls(world, chosen, recorder, tick_s=step)

            def report(t_s: float, rep: int = rep) -> None:
                if progress is not None:
                    progress((rep + t_s / sc.duration_s) / reps)

            stats = sim.run(rep, report)
            runs.append(recorder.summary(stats.busy_s, stats.horizon_s, stats.events))
            pooled.merge(recorder.histogram)
    cpu_s = time.process_time() - start
    if progress is not None:
        progress(1.0)
    tiers = dict(zip(world.targets, world.tiers, strict=True))
    return SimResult(sc.name, chosen.name, engine_cls.name, runs, pooled, cpu_s, tiers)
