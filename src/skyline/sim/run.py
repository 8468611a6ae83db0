"""`simulate()`: run a scenario's replications with one policy on one engine; `sweep()`: many
such runs over policies, engines and scaled scenarios. Both run here or fan out on Ray, with
identical results: replication r is seeded by (scenario seed, r) wherever it runs, and results are
merged in replication order."""

from __future__ import annotations

import contextlib
import functools
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from skyline._ray import ensure_ray, ray_module
from skyline.errors import ConfigError, SkylineError
from skyline.sched import Policy, policies
from skyline.sim.engines import ENGINES
from skyline.sim.engines.base import Engine
from skyline.sim.loader import load_scenario, parse_scenario
from skyline.sim.metrics import LatencyHistogram, Recorder
from skyline.sim.spec import Scenario, Trace
from skyline.sim.world import World
from skyline.topology import Tier

Progress = Callable[[float], None]
"""Called with the fraction of the work done, in [0, 1]."""
RayTarget = str | bool | None
"""None or False: run here; True: a private local Ray cluster; a string: join that cluster."""


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


@dataclass(frozen=True)
class _Job:
    """One checked `simulate()` call: what every replication, here or on a Ray worker, needs."""

    scenario: Scenario
    policy: Policy
    engine: type[Engine]
    replications: int
    tick_s: float


def _job(
    scenario: Scenario | str | Path,
    policy: Policy | str,
    engine: str,
    replications: int | None,
    tick_s: float | None,
) -> _Job:
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    chosen = policies.create(policy) if isinstance(policy, str) else policy
    reps = sc.replications if replications is None else replications
    step = sc.tick_s if tick_s is None else tick_s
    if reps < 1 or not step > 0:
        raise ConfigError(
            f"replications {reps} / tick_s {step} out of range",
            fix="use replications >= 1 and tick_s > 0",
        )
    return _Job(sc, chosen, ENGINES.get(engine), reps, step)


Replication = tuple[dict[str, Any], LatencyHistogram]
"""One replication's metrics and latency histogram."""


def _replicate(
    job: _Job,
    world: World,
    rep: int,
    sink: TextIO | None = None,
    report: Callable[[float], None] | None = None,
) -> Replication:
    recorder = Recorder(world, job.scenario.warmup_s, replication=rep, records=sink)
    stats = job.engine(world, job.policy, recorder, tick_s=job.tick_s).run(rep, report)
    return recorder.summary(stats.busy_s, stats.horizon_s, stats.events), recorder.histogram


def _result(job: _Job, world: World, replications: list[Replication], cpu_s: float) -> SimResult:
    """Merge replications in order (so a result does not depend on where they ran)."""
    pooled = LatencyHistogram()
    for _, histogram in replications:
        pooled.merge(histogram)
    tiers = dict(zip(world.targets, world.tiers, strict=True))
    runs = [run for run, _ in replications]
    return SimResult(
        job.scenario.name, job.policy.name, job.engine.name, runs, pooled, cpu_s, tiers
    )


def _here(job: _Job, sink: TextIO | None, progress: Progress | None) -> SimResult:
    world = World(job.scenario)
    start = time.process_time()
    done = []
    for rep in range(job.replications):

        def report(t_s: float, rep: int = rep) -> None:
            if progress is not None:
                progress((rep + t_s / job.scenario.duration_s) / job.replications)

        done.append(_replicate(job, world, rep, sink, report))
    cpu_s = time.process_time() - start
    if progress is not None:
        progress(1.0)
    return _result(job, world, done, cpu_s)


def _timed_replication(job: _Job, rep: int) -> tuple[Replication, float]:
    """A Ray task's body: one replication in a World of its own, and the CPU seconds it took."""
    start = time.process_time()
    done = _replicate(job, World(job.scenario), rep)
    return done, time.process_time() - start


@functools.cache
def _remote_replication() -> Any:
    """The Ray task, made on first use so that `import skyline.sim` does not import Ray."""
    return ray_module().remote(_timed_replication)


def _on_ray(jobs: list[_Job], target: RayTarget, progress: Progress | None) -> list[SimResult]:
    """Every replication of every job as one Ray task, all submitted at once; the first failure
    cancels the rest and is raised here (a Skyline error as itself, not wrapped by Ray)."""
    ray = ensure_ray(target if isinstance(target, str) else None)
    task = _remote_replication()
    refs = []
    for job in jobs:
        shared = ray.put(job)  # shipped once, not once per replication
        refs.append([task.remote(shared, rep) for rep in range(job.replications)])
    pending = [ref for job_refs in refs for ref in job_refs]
    total = len(pending)
    got: dict[Any, tuple[Replication, float]] = {}  # by ObjectRef
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            got.update(zip(done, ray.get(done), strict=True))
            if progress is not None:
                progress(len(got) / total)
    except BaseException as exc:
        for ref in pending:
            ray.cancel(ref)
        cause = getattr(exc, "cause", None)  # a RayTaskError wraps the task's own exception
        if isinstance(cause, SkylineError):
            raise cause from exc  # the message and fix as a local run gives them
        raise
    results = []
    for job, job_refs in zip(jobs, refs, strict=True):
        outputs = [got[ref] for ref in job_refs]
        cpu_s = sum(cpu for _, cpu in outputs)
        results.append(_result(job, World(job.scenario), [out for out, _ in outputs], cpu_s))
    return results


def simulate(
    scenario: Scenario | str | Path,
    policy: Policy | str = "greedy-min-latency",
    engine: str = "exact",
    *,
    replications: int | None = None,
    tick_s: float | None = None,
    records: str | Path | None = None,
    progress: Progress | None = None,
    ray: RayTarget = None,
) -> SimResult:
    """Simulate `scenario` (object, packaged name or TOML path) under `policy`.

    `engine`: "exact" (event heap) or "fast" (numpy ticks of `tick_s`, default the scenario's).
    `records`: JSONL path for one line per measured task (not with `ray`: gathering them from
    the workers would hold every task's record in memory). `progress`: called with the fraction
    done, in [0, 1] (with `ray`: once per finished replication).
    `ray`: run each replication as a Ray task -- True on a private local cluster, or the address
    of one to join (workers need Skyline installed). Results equal the in-process run's; `cpu_s`
    is then the sum of the CPU seconds the tasks report.
    """
    job = _job(scenario, policy, engine, replications, tick_s)
    if ray:
        if records is not None:
            raise ConfigError(
                "per-task records are written by an in-process run, not on Ray",
                fix="leave out ray (--ray) to write records, or leave out records",
            )
        return _on_ray([job], ray, progress)[0]
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
        return _here(job, sink, progress)


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: the scenario scaled by `rate_scale` (every arrival rate) and
    `device_scale` (every device group's count), run on `engine` under `policy`."""

    rate_scale: float
    device_scale: float
    engine: str
    policy: str


def _scaled(sc: Scenario, rate: float, devices: float) -> Scenario:
    """`sc` with every arrival rate times `rate` and every group's count times `devices` (rounded,
    at least 1), validated again: a smaller group may no longer cover the devices a trace names."""
    if rate == 1 and devices == 1:
        return sc
    if rate != 1 and any(isinstance(sc.workload_of(g), Trace) for g in sc.devices):
        raise ConfigError(
            f"rate_scale {rate:g}: scenario {sc.name!r} has a trace workload, whose arrival "
            "times are given",
            fix="sweep rate_scale over poisson or bursty workloads, or scale the trace itself",
        )
    doc = sc.model_dump()
    for workload in [doc["workload"], *(g["workload"] for g in doc["devices"])]:
        for key in ("rate_hz", "on_rate_hz", "off_rate_hz"):
            if workload is not None and key in workload:
                workload[key] *= rate
    for group in doc["devices"]:
        group["count"] = max(1, round(group["count"] * devices))
    return parse_scenario(doc, where=f"rate_scale {rate:g}, device_scale {devices:g}: ")


def sweep(
    scenario: Scenario | str | Path,
    policies: Sequence[Policy | str],
    engines: Sequence[str] = ("exact",),
    *,
    rate_scale: Sequence[float] = (1.0,),
    device_scale: Sequence[float] = (1.0,),
    replications: int | None = None,
    tick_s: float | None = None,
    progress: Progress | None = None,
    ray: RayTarget = None,
) -> dict[SweepPoint, SimResult]:
    """`simulate()` at every point of the grid rate_scale x device_scale x engines x policies,
    in that order: how policies compare as load (`rate_scale`) or fleet size (`device_scale`)
    grows. With `ray`, every replication of every point is one task, all fanned out at once;
    results equal the in-process sweep's. `progress` sees the fraction of all the work done.
    """
    base = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    axes = {
        "policies": policies,
        "engines": engines,
        "rate_scale": rate_scale,
        "device_scale": device_scale,
    }
    for name, values in axes.items():
        if not values:
            raise ConfigError(f"sweep over no {name}", fix=f"give at least one of {name}")
    points, jobs = [], []
    for rate, devices in itertools.product(rate_scale, device_scale):
        sc = _scaled(base, rate, devices)
        for engine, policy in itertools.product(engines, policies):
            job = _job(sc, policy, engine, replications, tick_s)
            point = SweepPoint(float(rate), float(devices), job.engine.name, job.policy.name)
            points.append(point)
            jobs.append(job)
    if ray:
        return dict(zip(points, _on_ray(jobs, ray, progress), strict=True))
    results = {}
    for i, (point, job) in enumerate(zip(points, jobs, strict=True)):

        def part(fraction: float, i: int = i) -> None:
            if progress is not None:
                progress((i + fraction) / len(jobs))

        results[point] = _here(job, None, part)
    return results
