"""A per-device latency predictor for NAS archs, fitted to latencies measured in a subprocess.

Features come from the arch alone (`nas_space.layout`): conv count and residual adds (eager
PyTorch pays a fixed cost per op, which dominates nets this small at batch 1), dense and
depthwise multiply-accumulates (depthwise kernels run far below dense ones per MAC), bytes
written by the convs and their BatchNorm/activation, and parameter bytes. The fit is weighted
non-negative least squares on relative error, so no term can go negative and predict time back.

Measurement runs in a child process (`_child`, started with `python -c`): the same code
on the host or inside a `CgroupCpu` (the emulated edge: `SharedCore` or `DeviceThrottle`), one
torch thread, batch 1. A slowed process runs in bursts (slices or quota), so a single call's time
depends on where in a burst it starts; each round therefore times back-to-back calls for
`round_s` of wall time (many bursts) and divides, and the result is the median over rounds.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.optimize import nnls

from skyline.emulation.throttle import CgroupCpu
from skyline.errors import ConfigError, EmulationError
from skyline.optimize.nas_space import (
    Arch,
    BlockSpec,
    SearchSpace,
    block_from_dict,
    block_module,
    block_to_dict,
    build,
)

PREDICTOR_SCHEMA = "skyline.nas.latency/v1"
FEATURES = (
    "constant",
    "convs",
    "residual_adds",
    "dense_mmacs",
    "depthwise_mmacs",
    "activation_mb",
    "param_mb",
)


def features(arch: Arch, space: SearchSpace) -> dict[str, float]:
    """The predictor's inputs for one arch (units in the names: millions of MACs, MB)."""
    blocks = space.layout(arch)
    convs = [c for b in blocks for c in b.convs]
    return {
        "constant": 1.0,
        "convs": float(len(convs)),
        "residual_adds": float(sum(b.residual for b in blocks)),
        "dense_mmacs": sum(c.macs for c in convs if c.groups == 1) / 1e6,
        "depthwise_mmacs": sum(c.macs for c in convs if c.groups > 1) / 1e6,
        "activation_mb": 4 * sum(c.out_elems for c in convs) / 1e6,
        "param_mb": space.param_bytes(arch) / 1e6,
    }


def median_ape(predicted: Sequence[float], measured: Sequence[float]) -> float:
    """Median of |predicted - measured| / measured (a fraction: 0.1 is 10 %)."""
    if len(predicted) != len(measured) or len(measured) == 0:
        raise ConfigError(
            f"{len(predicted)} predictions for {len(measured)} measurements",
            fix="pass one prediction per measurement, at least one",
        )
    p, m = np.asarray(predicted, float), np.asarray(measured, float)
    return float(np.median(np.abs(p - m) / m))


@dataclass(frozen=True)
class LatencyPredictor:
    """Latency (ms) of an arch of `space` on `device` = sum of coef[f] * features[f]."""

    device: str
    space: SearchSpace
    coef: dict[str, float]
    fitted_on: int

    @classmethod
    def fit(
        cls, device: str, space: SearchSpace, archs: Sequence[Arch], latency_ms: Sequence[float]
    ) -> LatencyPredictor:
        """Non-negative least squares on relative error over measured (arch, latency) pairs."""
        if len(archs) != len(latency_ms) or len(archs) < len(FEATURES):
            raise ConfigError(
                f"{len(archs)} archs and {len(latency_ms)} latencies to fit {len(FEATURES)} "
                "coefficients",
                fix=f"measure the same archs, at least {len(FEATURES)} (a few dozen is better)",
            )
        y = np.asarray(latency_ms, float)
        if not np.all(np.isfinite(y)) or y.min() <= 0:
            raise ConfigError("latencies must be finite and > 0", fix="re-measure")
        x = np.array([[features(a, space)[f] for f in FEATURES] for a in archs])
        scale = x.max(axis=0)  # column scaling keeps nnls well conditioned
        scale[scale == 0] = 1.0
        solution, _ = nnls(x / scale / y[:, None], np.ones(len(y)))
        coef = {f: float(c) for f, c in zip(FEATURES, solution / scale)}
        return cls(device, space, coef, len(archs))

    def predict_ms(self, arch: Arch) -> float:
        feats = features(arch, self.space)
        return sum(self.coef[f] * feats[f] for f in FEATURES)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": PREDICTOR_SCHEMA,
            "device": self.device,
            "space": self.space.to_dict(),
            "coef_ms": self.coef,
            "fitted_on": self.fitted_on,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatencyPredictor:
        if data.get("schema") != PREDICTOR_SCHEMA:
            raise ConfigError(
                f"predictor schema {data.get('schema')!r} is not {PREDICTOR_SCHEMA!r}",
                fix="load a file written by LatencyPredictor.save",
            )
        coef = data["coef_ms"]
        if set(coef) != set(FEATURES):
            raise ConfigError(
                f"predictor coefficients {sorted(coef)} are not {sorted(FEATURES)}",
                fix="refit the predictor with this version of skyline",
            )
        space = SearchSpace.from_dict(data["space"])
        return cls(data["device"], space, {f: float(coef[f]) for f in FEATURES}, data["fitted_on"])

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path) -> LatencyPredictor:
        return cls.from_dict(json.loads(Path(path).read_text()))


def measure_latency_ms(archs: Sequence[Arch], space: SearchSpace, **options: Any) -> list[float]:
    """Measured batch-1 latency (ms) of each arch in one child process; `options` as `timed`."""
    return timed([{"arch": a.to_dict()} for a in archs], space, **options)


def measure_parts_ms(
    space: SearchSpace,
    blocks: Sequence[BlockSpec],
    archs: Sequence[Arch] = (),
    **options: Any,
) -> tuple[list[float], float, list[float]]:
    """Measured latency (ms) of each block alone, of the tail (pooling + classifier) and of
    each whole arch, as `measure_latency_ms` times archs: a lookup table and the archs that
    calibrate and score it. All in the same rounds of one child, so a change of device speed
    while timing (an emulated edge follows the host's load) hits table and archs alike."""
    items = (
        [{"block": block_to_dict(b)} for b in blocks]
        + [{"tail": True}]
        + [{"arch": a.to_dict()} for a in archs]
    )
    ms = timed(items, space, **options)
    return ms[: len(blocks)], ms[len(blocks)], ms[len(blocks) + 1 :]


def timed(
    items: list[dict[str, Any]],
    space: SearchSpace,
    *,
    throttle: CgroupCpu | None = None,
    repeats: int = 5,
    round_s: float = 0.1,
    warmup_s: float = 0.05,
    cpu: int | None = None,
    on_round: Callable[[int], None] | None = None,
) -> list[float]:
    """Measured batch-1 latency (ms) of each item (`{"arch": ...}`, `{"block": ...}` or
    `{"tail": True}`) in one child process, throttled if given.

    Rounds go over all items in turn (as `bench.stats.alternated_median_ms`), each round in its
    own seeded order, so a burst of load from elsewhere, or a slow drift, hits an item in one
    round at a different place each time, and the median over rounds drops it.
    `cpu` pins the child to that CPU: a throttled process that migrates between CPUs is
    slowed more, and less repeatably, than its quota says. `on_round(r)` is called as round
    r finishes (for progress display).
    """
    if repeats < 1 or round_s <= 0 or warmup_s < 0 or not items:
        raise ConfigError(
            f"repeats={repeats}, round_s={round_s}, warmup_s={warmup_s}, {len(items)} nets",
            fix="use repeats >= 1, round_s > 0, warmup_s >= 0 and at least one arch",
        )
    job = {
        "space": space.to_dict(),
        "items": items,
        "repeats": repeats,
        "round_s": round_s,
        "warmup_s": warmup_s,
        "cpu": cpu,
    }
    # -c, not -m: the package __init__ imports this module, which -m would then run twice
    cmd = [sys.executable, "-c", "from skyline.optimize.nas_latency import _child; _child()"]
    pipes: dict[str, Any] = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True}
    proc = subprocess.Popen(cmd, **pipes) if throttle is None else throttle.popen(cmd, **pipes)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(job))
    proc.stdin.close()
    rounds = []
    for line in proc.stdout:
        rounds.append(json.loads(line))
        if on_round is not None:
            on_round(len(rounds) - 1)
    if proc.wait() != 0 or len(rounds) != repeats:
        raise EmulationError(
            f"latency child {' '.join(cmd)} exited {proc.returncode} after {len(rounds)} of "
            f"{repeats} rounds",
            fix="run the command by hand to see its error (it reads the job as JSON on stdin)",
        )
    return [statistics.median(per_arch) for per_arch in zip(*rounds)]


def _round_ms(model: torch.nn.Module, x: torch.Tensor, seconds: float) -> float:
    """Mean time (ms) of back-to-back calls for at least `seconds` of wall time."""
    calls, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds or calls == 0:
        model(x)
        calls += 1
    return 1e3 * elapsed / calls


def _child() -> None:
    """Read a job (JSON) on stdin; print each round's latencies (ms, one per arch) as a line."""
    torch.set_num_threads(1)
    job = json.loads(sys.stdin.read())
    if job["cpu"] is not None:
        os.sched_setaffinity(0, {job["cpu"]})
    space = SearchSpace.from_dict(job["space"])
    nets = [_net(item, space) for item in job["items"]]
    with torch.inference_mode():
        for model, x in nets:
            _round_ms(model, x, job["warmup_s"])
        for r in range(job["repeats"]):
            order = list(range(len(nets)))
            random.Random(r).shuffle(order)
            ms = [0.0] * len(nets)
            for i in order:
                ms[i] = _round_ms(*nets[i], job["round_s"])
            print(json.dumps(ms), flush=True)


def _net(item: dict[str, Any], space: SearchSpace) -> tuple[torch.nn.Module, torch.Tensor]:
    """A measurement item as (module, batch-1 input): a whole arch, one block, or the tail."""
    gen = torch.Generator().manual_seed(0)
    if "arch" in item:
        return build(Arch.from_dict(item["arch"]), space).eval(), torch.randn(
            1, *space.input_shape, generator=gen
        )
    if "block" in item:
        spec = block_from_dict(item["block"])
        first = spec.convs[0]
        x = torch.randn(1, first.cin, first.height, first.width, generator=gen)
        return block_module(spec).eval(), x
    head = space.layout(space.baseline())[-1].convs[0]
    return space.tail_module().eval(), torch.randn(1, head.cout, *head.out_hw, generator=gen)
