"""What a cut codec costs per value of a graph, measured, so planning can weigh it.

Feature compression changes three things about a tensor that crosses a link: the bytes on the
wire, the seconds to encode it on the sender and decode it on the receiver, and (when lossy) the
answer. `measure_codec_costs` runs the captured graph once, then measures each codec on every
value's real tensor; `Problem(codec=...)` turns that into per-(value, hop) costs, so every
planner picks its cut knowing the codec. The accuracy effect needs labelled data and lives with
the planner that trades it (`skyline.exits.edgent`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils import _pytree as pytree

from skyline.errors import PlanError
from skyline.graph import ModelGraph, single_thread


@dataclass(frozen=True)
class CodecCost:
    """One codec measured on the values of one graph (batch as profiled).

    Seconds are this host's, single-threaded; the planner scales them by each node's speed.
    A value not listed travels raw at no extra time.
    """

    codec: str
    wire_bytes: Mapping[str, float] = field(default_factory=dict)
    encode_s: Mapping[str, float] = field(default_factory=dict)
    decode_s: Mapping[str, float] = field(default_factory=dict)
    rel_l2_error: Mapping[str, float] = field(default_factory=dict)


def value_tensors(graph: ModelGraph, example_inputs: Any) -> dict[str, torch.Tensor]:
    """Every tensor value of `graph` (inputs and op outputs) computed on `example_inputs`."""
    cap = graph.captured
    if cap is None:
        raise PlanError(
            f"graph {graph.name!r} has no captured module to run",
            fix="measure codecs on a ModelGraph returned by profile()",
        )
    flat = pytree.tree_leaves(example_inputs)
    env: dict[str, Any] = {}

    class _Recorder(torch.fx.Interpreter):
        def run_node(self, n: torch.fx.Node) -> Any:
            env[n.name] = result = super().run_node(n)
            return result

    with torch.no_grad():
        _Recorder(cap.gm).run(*flat)
    wanted = set(graph.value_names)
    return {k: v for k, v in env.items() if k in wanted and isinstance(v, torch.Tensor)}


def measure_codec_costs(
    graph: ModelGraph,
    example_inputs: Any,
    codecs: Iterable[str],
    *,
    values: Iterable[str] | None = None,
    repeats: int = 5,
) -> dict[str, CodecCost]:
    """Each codec's wire bytes, encode/decode seconds and error on every value (or `values`)."""
    from skyline.runtime.codecs import measure

    tensors = value_tensors(graph, example_inputs)
    names = list(values) if values is not None else list(tensors)
    unknown = [n for n in names if n not in tensors]
    if unknown:
        raise PlanError(
            f"values {unknown[:5]} are not tensors of graph {graph.name!r}",
            fix="name values from graph.value_names",
        )
    out: dict[str, CodecCost] = {}
    with single_thread():
        for codec in codecs:
            stats = {n: measure(codec, tensors[n], repeats=repeats) for n in names}
            out[codec] = CodecCost(
                codec=codec,
                wire_bytes={n: float(s.encoded_bytes) for n, s in stats.items()},
                encode_s={n: s.encode_ms / 1e3 for n, s in stats.items()},
                decode_s={n: s.decode_ms / 1e3 for n, s in stats.items()},
                rel_l2_error={n: s.rel_l2_error for n, s in stats.items()},
            )
    return out
