"""Model variants a planner can choose between, per node: the fastest that is accurate enough.

A `Variant` is one way to run a model (fp32, int8, pruned, ...) with its size, its accuracy
(measured) and its latency on each topology node (predicted). The cost model predicts from
FLOPs or host time, which int8 does not change, so `predicted_latency_ms` divides by the
variant's speedup measured on this host against its fp32 parent: the assumption, stated, is
that a backend's int8/fp32 ratio carries over from the host to the node.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skyline.errors import ConfigError, InfeasiblePlanError, RegistryError
from skyline.graph import CostModel, ModelGraph
from skyline.topology import Node, Topology


@dataclass(frozen=True)
class Variant:
    """One way to run `model`: `latency_ms` maps node name -> predicted ms for one input;
    `accuracy` in [0, 1] (None: not measured); `path` a saved file and/or `factory` a
    zero-argument callable that builds the runnable model."""

    model: str
    name: str
    size_bytes: int
    latency_ms: Mapping[str, float]
    accuracy: float | None = None
    path: Path | None = None
    factory: Callable[[], Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        label = f"variant {self.name!r} of {self.model!r}"
        if self.size_bytes < 0:
            raise ConfigError(f"{label}: size_bytes={self.size_bytes}", fix="give bytes >= 0")
        if self.accuracy is not None and not 0 <= self.accuracy <= 1:
            raise ConfigError(
                f"{label}: accuracy={self.accuracy}", fix="give a fraction in [0, 1] (0.91)"
            )
        bad = {n: v for n, v in self.latency_ms.items() if not (math.isfinite(v) and v > 0)}
        if bad:
            raise ConfigError(f"{label}: latency_ms {bad}", fix="give finite times > 0 in ms")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the factory, being code, is left out)."""
        return {
            "model": self.model,
            "name": self.name,
            "size_bytes": self.size_bytes,
            "predicted_latency_ms": dict(self.latency_ms),
            "accuracy": self.accuracy,
            "path": None if self.path is None else str(self.path),
        }


def load_variants(path: str | Path) -> list[Variant]:
    """The variants in a JSON file with a "variants" list of `Variant.to_dict()` entries, as
    `skyline optimize` writes (optimize.json); extra keys (backend, host_ms) are ignored."""
    file = Path(path)
    try:
        entries = json.loads(file.read_text(encoding="utf-8"))["variants"]
        return [
            Variant(
                model=e["model"],
                name=e["name"],
                size_bytes=int(e["size_bytes"]),
                latency_ms={k: float(v) for k, v in e["predicted_latency_ms"].items()},
                accuracy=e["accuracy"],
                path=None if e["path"] is None else Path(e["path"]),
            )
            for e in entries
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"{file} does not hold variants: {type(exc).__name__}: {exc}",
            fix="give the optimize.json written by `skyline optimize`",
        ) from exc


def predicted_latency_ms(
    graph: ModelGraph,
    topology: Topology,
    *,
    cost_model: CostModel | None = None,
    speedup: float = 1.0,
) -> dict[str, float]:
    """Predicted ms of the whole `graph` on every node (ops one after another), divided by
    `speedup`, the variant's measured host speedup over the fp32 model `graph` was taken of."""
    if not speedup > 0:
        raise ConfigError(f"speedup={speedup}", fix="give the measured fp32/variant ratio, > 0")
    cost = cost_model or CostModel(topology)
    return {
        node.name: 1e3 * float(cost.op_times_s(graph, node).sum()) / speedup
        for node in topology.nodes
    }


_REGISTRY: dict[str, dict[str, Variant]] = {}


def register_variant(variant: Variant, *, overwrite: bool = False) -> Variant:
    """Make `variant` known under its model's name; a second one of the same name is refused
    unless `overwrite`."""
    known = _REGISTRY.setdefault(variant.model, {})
    if variant.name in known and not overwrite and known[variant.name] != variant:
        raise RegistryError(
            f"variant {variant.name!r} of {variant.model!r} is already registered",
            fix="pick another name, or pass overwrite=True to replace it on purpose",
        )
    known[variant.name] = variant
    return variant


def variants_for(model: str) -> list[Variant]:
    """The variants registered for `model`, in registration order (empty if none)."""
    return list(_REGISTRY.get(model, {}).values())


def _why_not(variant: Variant, node: Node, accuracy_floor: float) -> str | None:
    if variant.accuracy is None or variant.accuracy < accuracy_floor:
        return f"accuracy {variant.accuracy} < {accuracy_floor}"
    if node.name not in variant.latency_ms:
        return f"no latency predicted on {node.name!r}"
    if variant.size_bytes > node.memory_bytes:
        return f"{variant.size_bytes} B > {node.name!r} memory {node.memory_bytes:.0f} B"
    return None


def pick_variant(variants: Iterable[Variant], node: Node, accuracy_floor: float) -> Variant:
    """The variant with the lowest predicted latency on `node` among those whose measured
    accuracy is at least `accuracy_floor` and that fit its memory (ties: smaller, then name)."""
    pool = list(variants)
    fitting = [v for v in pool if _why_not(v, node, accuracy_floor) is None]
    if not fitting:
        reasons = "; ".join(f"{v.name}: {_why_not(v, node, accuracy_floor)}" for v in pool)
        raise InfeasiblePlanError(
            f"no variant runs on node {node.name!r} at accuracy >= {accuracy_floor}"
            + (f" ({reasons})" if reasons else " (no variants given)"),
            fix="lower the accuracy floor, give the node more memory, or add a variant "
            "(e.g. `skyline optimize MODEL --quantize int8`)",
        )
    return min(fitting, key=lambda v: (v.latency_ms[node.name], v.size_bytes, v.name))


def pick_per_node(
    variants: Iterable[Variant], topology: Topology, accuracy_floor: float
) -> dict[str, Variant]:
    """`pick_variant` on every node of `topology`; nodes no variant fits are left out."""
    pool = list(variants)
    picks: dict[str, Variant] = {}
    for node in topology.nodes:
        try:
            picks[node.name] = pick_variant(pool, node, accuracy_floor)
        except InfeasiblePlanError:
            continue
    return picks
