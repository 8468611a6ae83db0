"""`split()`: turn a Plan into runnable stage modules whose composition equals the model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils import _pytree as pytree

from skyline.errors import PlanError
from skyline.graph import ModelGraph, profile
from skyline.graph.capture import Captured
from skyline.plan.spec import Plan


class StageModule(nn.Module):
    """The ops of one plan stage: reads the values it `receives`, returns the values it `sends`."""

    def __init__(
        self, gm: torch.fx.GraphModule, node: str, receives: list[str], sends: list[str]
    ) -> None:
        super().__init__()
        self.gm = gm
        self.node = node
        self.receives = list(receives)
        self.sends = list(sends)

    def forward(self, values: Mapping[str, Any]) -> dict[str, Any]:
        missing = [name for name in self.receives if name not in values]
        if missing:
            raise PlanError(f"stage on {self.node!r} is missing input tensors {missing}")
        out: dict[str, Any] = self.gm(*(values[name] for name in self.receives))
        return out


class SplitModel(nn.Module):
    """All stages run in plan order in this process: equal to the unsplit model, op for op."""

    def __init__(self, stages: list[StageModule], captured: Captured, plan: Plan) -> None:
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.plan = plan
        self._inputs = list(captured.inputs)
        self._outputs = list(captured.out_nodes)
        self._out_spec = captured.out_spec

    def inputs_env(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The model inputs as named values, ready for the first stage."""
        plain = not kwargs and all(isinstance(a, torch.Tensor) for a in args)
        flat = list(args) if plain else pytree.tree_leaves((args, kwargs))
        if len(flat) != len(self._inputs):
            raise PlanError(f"the model takes {len(self._inputs)} input tensors, got {len(flat)}")
        return dict(zip(self._inputs, flat))

    def outputs_from(self, env: dict[str, Any]) -> Any:
        """The model's outputs, in its own structure, from the named values."""
        return pytree.tree_unflatten([env[name] for name in self._outputs], self._out_spec)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        env = self.inputs_env(*args, **kwargs)
        for stage in self.stages:
            env.update(stage(env))
        return self.outputs_from(env)


def _stage_graph(
    gm: torch.fx.GraphModule, ops: set[str], receives: list[str], sends: list[str]
) -> torch.fx.GraphModule:
    graph = torch.fx.Graph()
    env: dict[str, torch.fx.Node] = {name: graph.placeholder(name) for name in receives}
    for node in gm.graph.nodes:
        if node.name not in ops:
            continue
        for arg in node.all_input_nodes:
            if arg.op == "get_attr" and arg.name not in env:
                env[arg.name] = graph.get_attr(arg.target)
        env[node.name] = graph.node_copy(node, lambda n: env[n.name])
    graph.output({name: env[name] for name in sends})
    return torch.fx.GraphModule(gm, graph)


def segments(stage: StageModule, ends: Sequence[str]) -> list[StageModule]:
    """`stage` cut into len(ends) + 1 consecutive pieces, piece k ending once `ends[k]` exists.

    Running the pieces in order equals running the stage (the same nodes, in the same order);
    in between, a caller can look at what is computed so far, e.g. to stop at an early exit.
    Each piece sends its end value and what later pieces or the stage's receivers read.
    """
    ops = [n for n in stage.gm.graph.nodes if n.op not in ("placeholder", "get_attr", "output")]
    position = {n.name: i for i, n in enumerate(ops)}
    missing = [e for e in ends if e not in position]
    if missing:
        raise PlanError(
            f"values {missing} are not computed on {stage.node!r}",
            fix="plan the model so that these values are computed in this stage",
        )
    bounds = [position[e] + 1 for e in ends]
    if bounds != sorted(bounds):
        raise PlanError(f"values {list(ends)} are not in the order the stage computes them")
    pieces: list[StageModule] = []
    for start, stop, end in zip([0, *bounds], [*bounds, len(ops)], [*ends, None]):
        mine = ops[start:stop]
        names = {n.name for n in mine}
        receives = sorted(
            {a.name for n in mine for a in n.all_input_nodes if a.op != "get_attr"} - names
        )
        sends = [n.name for n in mine if n.name == end or any(u.name not in names for u in n.users)]
        gm = _stage_graph(stage.gm, names, receives, sends)
        pieces.append(StageModule(gm, stage.node, receives, sends))
    return pieces


def split(target: nn.Module | ModelGraph, plan: Plan, example_inputs: Any = None) -> SplitModel:
    """Stage modules for `plan` built from the captured graph of `target`.

    `target` is a ModelGraph from `profile()` (no re-capture) or the nn.Module itself, captured
    again at the plan's input shapes (or `example_inputs`). Refuses a plan made for another model.
    """
    if isinstance(target, ModelGraph):
        graph = target
    else:
        if example_inputs is None:
            example_inputs = tuple(
                torch.zeros(t.shape, dtype=getattr(torch, t.dtype)) for t in plan.model.inputs
            )
        graph = profile(target, example_inputs, warmup=0, repeats=1)
    if graph.captured is None:
        raise PlanError(
            f"graph {graph.name!r} has no captured torch module (synthetic, or loaded from JSON)",
            fix="split a ModelGraph returned by profile(), or pass the nn.Module",
        )
    if graph.fingerprint != plan.model.fingerprint:
        raise PlanError(
            f"plan was made for model {plan.model.name!r} (fingerprint {plan.model.fingerprint}), "
            f"not for {graph.name!r} ({graph.fingerprint})",
            fix="re-plan this model, or pass the model and input shapes the plan was made for",
        )
    cap: Captured = graph.captured
    stages = [
        StageModule(
            _stage_graph(cap.gm, set(s.ops), s.receives, s.sends), s.node, s.receives, s.sends
        )
        for s in plan.stages
    ]
    return SplitModel(stages, cap, plan)
