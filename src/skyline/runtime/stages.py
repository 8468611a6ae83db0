"""What one node of a plan does: run its stage, and know what crosses each hop and how."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from skyline.errors import PlanError
from skyline.graph import ModelGraph, profile
from skyline.plan import Plan, SplitModel, StageModule, split


def weights_digest(model: nn.Module) -> str:
    """Hash of every parameter and buffer: two processes must hold the same weights."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        t = tensor.detach().contiguous().cpu()
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


@dataclass
class StageTimes:
    """Measured compute per node for one request, ms (local ones here, remote ones reported)."""

    compute_ms: dict[str, float] = field(default_factory=dict)

    def add(self, node: str, ms: float) -> None:
        self.compute_ms[node] = self.compute_ms.get(node, 0.0) + ms


class PlanRunner:
    """Executes a plan's stages in this process and answers what each hop carries.

    `slowdown` (>= 1) makes every stage take that many times its measured compute time by
    sleeping afterwards: the labelled fallback when no cgroup can really slow the CPU. `codec`
    overrides the plan's codec on every cut tensor.
    """

    def __init__(
        self,
        plan: Plan,
        model: nn.Module | ModelGraph | SplitModel,
        *,
        slowdown: float = 1.0,
        codec: str | None = None,
    ) -> None:
        if slowdown < 1:
            raise PlanError(f"slowdown {slowdown} < 1", fix="give the factor a device is slower by")
        self.plan = plan
        self.key = plan.key  # a hash of the plan: computed once, not per request
        self.split = model if isinstance(model, SplitModel) else split(model, plan)
        self.path = list(plan.path)
        self.slowdown = slowdown
        self._modules: dict[str, StageModule] = {
            s.node: s for s in self.split.stages if isinstance(s, StageModule)
        }
        self.up: dict[int, dict[str, str]] = {}
        self.down: dict[int, dict[str, str]] = {}
        self._declared: dict[int, dict[str, tuple[list[int] | None, str | None]]] = {}
        for cut in plan.cuts:
            hop = min(self.path.index(cut.src), self.path.index(cut.dst))
            table = self.up if cut.direction == "up" else self.down
            table[hop] = {t.name: codec or t.codec for t in cut.tensors}
            if cut.direction == "up":
                self._declared[hop] = {t.name: (t.shape, t.dtype) for t in cut.tensors}
        self.digest = weights_digest(self.split.stages)

    def position(self, node: str) -> int:
        if node not in self.path:
            raise PlanError(
                f"node {node!r} is not on the plan's path {self.path}", fix="pick a path node"
            )
        return self.path.index(node)

    def declared_inputs(self, node: str) -> dict[str, tuple[list[int] | None, str | None]]:
        """(shape, dtype) the plan declares for each tensor sent up to `node`."""
        return self._declared.get(self.position(node) - 1, {})

    def has_stage(self, node: str) -> bool:
        return node in self._modules

    def check_received(self, node: str, tensors: dict[str, Any]) -> None:
        """Refuse what the plan does not send up to `node`: other names, shapes or dtypes (a
        worker computes only requests its plan declares, so a bad client cannot make it
        allocate or run anything else)."""
        declared = self.declared_inputs(node)
        if set(tensors) != set(declared):
            raise PlanError(
                f"the request carries tensors {sorted(tensors)}, the plan sends "
                f"{sorted(declared)} to {node!r}",
                fix="send exactly the tensors the plan's cut names",
            )
        for name, (shape, dtype) in declared.items():
            value = tensors[name]
            got = (list(value.shape), str(value.dtype).removeprefix("torch."))
            if (shape is not None and got[0] != shape) or (dtype is not None and got[1] != dtype):
                raise PlanError(
                    f"tensor {name!r} is {got[1]}{got[0]}, the plan declares {dtype}{shape}",
                    fix="send the tensor the plan was made for (same batch size and dtype)",
                )

    def next_hop(self, position: int) -> str | None:
        """The next node above `position` that computes something. Nodes in between only relay
        (their cuts carry the same tensors), so a worker talks to this node directly."""
        busy = {stage.node for stage in self.plan.stages if stage.ops}
        return next((n for n in self.path[position + 1 :] if n in busy), None)

    def needs_upstream(self, position: int) -> bool:
        """Does any stage run beyond this path position?"""
        return self.next_hop(position) is not None

    def stage_module(self, node: str) -> StageModule:
        """The module running `node`'s stage."""
        module = self._modules.get(node)
        if module is None:
            raise PlanError(f"the plan has no stage on {node!r}", fix="run a node that has one")
        return module

    def _run(self, node: str, env: dict[str, Any]) -> float | None:
        module = self._modules.get(node)
        return None if module is None else self.timed(module, env)

    def timed(self, module: nn.Module, env: dict[str, Any]) -> float:
        """Run `module` on `env` (adding its outputs), slowed down if asked; returns ms."""
        t0 = time.perf_counter()
        with torch.no_grad():
            env.update(module(env))
        elapsed = time.perf_counter() - t0
        if self.slowdown > 1:
            time.sleep(elapsed * (self.slowdown - 1))
            elapsed *= self.slowdown
        return elapsed * 1e3

    def compute(self, node: str, tensors: Mapping[str, Any]) -> tuple[dict[str, Any], float]:
        """`node`'s stage on `tensors` alone: (the values it sends, ms)."""
        module = self.stage_module(node)
        env = dict(tensors)
        ms = self.timed(module, env)
        return {name: env[name] for name in module.sends}, ms

    def run_beyond(self, position: int, env: dict[str, Any], times: StageTimes) -> None:
        """Fallback: run every stage above `position` here, because the next hop is lost."""
        for node in self.path[position + 1 :]:
            ms = self._run(node, env)
            if ms is not None:
                times.add(self.path[position], ms)

    def outputs(self, env: dict[str, Any]) -> Any:
        return self.split.outputs_from(env)


def captured_graph(plan: Plan, model: nn.Module | ModelGraph) -> ModelGraph:
    """Capture `model` once at the plan's input shapes, so many plans can be split cheaply."""
    if isinstance(model, ModelGraph):
        return model
    inputs = tuple(torch.zeros(t.shape, dtype=getattr(torch, t.dtype)) for t in plan.model.inputs)
    return profile(model, inputs, warmup=0, repeats=1)


def runners_for(
    plans: Plan | Sequence[Plan], model: nn.Module | ModelGraph, **options: Any
) -> dict[str, PlanRunner]:
    """One PlanRunner per plan, keyed by `Plan.key`, sharing one capture of the model."""
    plans = [plans] if isinstance(plans, Plan) else list(plans)
    if not plans:
        raise PlanError("no plan given", fix="pass at least one plan")
    graph = captured_graph(plans[0], model)
    return {plan.key: PlanRunner(plan, graph, **options) for plan in plans}
