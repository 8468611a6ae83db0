"""A lookup-table latency predictor for NAS archs (as in FBNet / ProxylessNAS): every distinct
block of the space is timed alone once per device, and an arch's latency is the sum of its
blocks' entries plus the tail, times a `scale` calibrated on a few whole archs measured on the
same device (what running blocks back to back costs or saves over timing them alone: cache
reuse, call overhead).

It needs no functional form: an arch made of blocks never timed together is still predicted from
measurements of exactly its parts, which is where the feature regression
(`nas_latency.LatencyPredictor`) extrapolates badly (small archs the search favours).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skyline.errors import ConfigError
from skyline.optimize.nas_space import (
    Arch,
    BlockSpec,
    SearchSpace,
    block_from_dict,
    block_to_dict,
)

LUT_SCHEMA = "skyline.nas.lut/v1"


@dataclass(frozen=True)
class LookupTablePredictor:
    """Latency (ms) of an arch of `space` on `device` from per-block measurements."""

    device: str
    space: SearchSpace
    table_ms: dict[BlockSpec, float]
    tail_ms: float
    scale: float = 1.0

    @classmethod
    def from_measurements(
        cls, device: str, space: SearchSpace, blocks: Sequence[BlockSpec], ms: Sequence[float],
        tail_ms: float,
    ) -> LookupTablePredictor:  # fmt: skip
        """The uncalibrated table (scale 1, offset 0) of `blocks` timed alone."""
        if len(blocks) != len(ms) or not blocks:
            raise ConfigError(
                f"{len(blocks)} blocks and {len(ms)} latencies",
                fix="measure every block of space.blocks() once (measure_parts_ms)",
            )
        if not all(np.isfinite(v) and v > 0 for v in [*ms, tail_ms]):
            raise ConfigError("block latencies must be finite and > 0", fix="re-measure")
        return cls(device, space, dict(zip(blocks, map(float, ms), strict=True)), float(tail_ms))

    def table_sum_ms(self, arch: Arch) -> float:
        """Sum of the arch's block entries and the tail (before calibration)."""
        try:
            return self.tail_ms + sum(self.table_ms[b] for b in self.space.layout(arch))
        except KeyError:
            raise ConfigError(
                "the arch holds a block the table never timed",
                fix="build the table from space.blocks() of the same space",
            ) from None

    def calibrate(
        self, archs: Sequence[Arch], measured_ms: Sequence[float]
    ) -> LookupTablePredictor:
        """This table with `scale` set to the median ratio of whole archs measured on the same
        device to their table sums. One robust factor: an offset fitted beside it on a dozen
        noisy archs traded error on small archs for error on large ones (measured)."""
        if len(archs) != len(measured_ms) or not archs:
            raise ConfigError(
                f"{len(archs)} archs and {len(measured_ms)} latencies to calibrate on",
                fix="measure at least one whole arch (a dozen is better)",
            )
        y = np.asarray(measured_ms, float)
        if not np.all(np.isfinite(y)) or y.min() <= 0:
            raise ConfigError("arch latencies must be finite and > 0", fix="re-measure")
        ratio = float(np.median(y / np.array([self.table_sum_ms(a) for a in archs])))
        return LookupTablePredictor(self.device, self.space, self.table_ms, self.tail_ms, ratio)

    def predict_ms(self, arch: Arch) -> float:
        return self.scale * self.table_sum_ms(arch)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": LUT_SCHEMA,
            "device": self.device,
            "space": self.space.to_dict(),
            "blocks": [{**block_to_dict(b), "ms": ms} for b, ms in self.table_ms.items()],
            "tail_ms": self.tail_ms,
            "scale": self.scale,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LookupTablePredictor:
        if data.get("schema") != LUT_SCHEMA:
            raise ConfigError(
                f"lookup table schema {data.get('schema')!r} is not {LUT_SCHEMA!r}",
                fix="load a file written by LookupTablePredictor.save",
            )
        table = {block_from_dict(b): float(b["ms"]) for b in data["blocks"]}
        return cls(
            data["device"],
            SearchSpace.from_dict(data["space"]),
            table,
            float(data["tail_ms"]),
            float(data["scale"]),
        )

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> LookupTablePredictor:
        return cls.from_dict(json.loads(Path(path).read_text()))
