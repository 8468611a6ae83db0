"""`profile()`: capture a model, then measure every op (FLOPs, bytes, host time) one by one."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.utils import _pytree as pytree
from torch.utils.flop_counter import FlopCounterMode

from skyline.errors import ConfigError, ModelCaptureError
from skyline.graph.capture import Captured, capture
from skyline.graph.model_graph import ModelGraph, Op, Value

_STEP = Callable[[dict[str, Any]], Any]


@contextmanager
def single_thread() -> Iterator[None]:
    """One intra-op thread while timing: per-op numbers then add up and do not fight other work."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _tensor_bytes(value: Any) -> float:
    if isinstance(value, torch.Tensor):
        return float(value.numel() * value.element_size())
    return math.inf  # tuples, ints...: not shipped across a link (see Op.out_bytes)


def _storages(value: Any) -> set[int]:
    if isinstance(value, torch.Tensor):
        return {value.untyped_storage().data_ptr()}
    if isinstance(value, (tuple, list)):
        return set().union(*(_storages(v) for v in value)) if value else set()
    return set()


def _compile_steps(gm: torch.fx.GraphModule, names: list[str]) -> list[tuple[str, _STEP]]:
    """One closure per compute node, reading its arguments from an environment dict."""
    steps: list[tuple[str, _STEP]] = []
    by_name = {n.name: n for n in gm.graph.nodes}
    for name in names:
        node = by_name[name]

        def load(env: dict[str, Any], node: torch.fx.Node = node) -> tuple[Any, Any]:
            return torch.fx.node.map_arg((node.args, node.kwargs), lambda n: env[n.name])

        fn: Any
        if node.op == "call_function":
            fn = node.target
        elif node.op == "call_module":
            fn = gm.get_submodule(str(node.target))
        elif node.op == "call_method":

            def fn(obj: Any, *args: Any, _m: str = str(node.target), **kwargs: Any) -> Any:
                return getattr(obj, _m)(*args, **kwargs)

        else:
            raise ModelCaptureError(f"unexpected fx node {node.op} {node.name!r}")

        def step(env: dict[str, Any], fn: Any = fn, load: Any = load) -> Any:
            args, kwargs = load(env)
            return fn(*args, **kwargs)

        steps.append((name, step))
    return steps


def _params_of(gm: torch.fx.GraphModule, node: torch.fx.Node) -> dict[str, int]:
    """Parameters/buffers an op reads, with their byte sizes (shared ones appear in each reader)."""
    found: dict[str, int] = {}
    for arg in node.all_input_nodes:
        if arg.op == "get_attr":
            t = _get_attr(gm, str(arg.target))
            if isinstance(t, torch.Tensor):
                found[str(arg.target)] = t.numel() * t.element_size()
    if node.op == "call_module":
        mod = gm.get_submodule(str(node.target))
        for pname, t in [*mod.named_parameters(), *mod.named_buffers()]:
            found[f"{node.target}.{pname}"] = t.numel() * t.element_size()
    return found


def _get_attr(gm: torch.fx.GraphModule, target: str) -> Any:
    obj: Any = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _target_name(gm: torch.fx.GraphModule, node: torch.fx.Node) -> str:
    if node.op == "call_module":
        return type(gm.get_submodule(str(node.target))).__name__
    if node.op == "call_method":
        return f"method.{node.target}"
    if isinstance(node.target, torch._ops.OpOverload):
        return str(node.target)
    return str(getattr(node.target, "__name__", node.target))


def _initial_env(cap: Captured, inputs: tuple[Any, ...]) -> dict[str, Any]:
    env: dict[str, Any] = dict(zip(cap.inputs, inputs, strict=True))
    for node in cap.gm.graph.find_nodes(op="get_attr"):
        env[node.name] = _get_attr(cap.gm, str(node.target))
    return env


def _last_uses(gm: torch.fx.GraphModule, names: list[str]) -> list[list[str]]:
    """Per step, the values no later step (nor the output) reads: freed right after it runs."""
    index = {name: i for i, name in enumerate(names)}
    last: dict[str, int] = {}
    for node in gm.graph.nodes:
        for arg in node.all_input_nodes:
            if node.op == "output":
                last[arg.name] = len(names)
            elif node.name in index:
                last[arg.name] = index[node.name]
    frees: list[list[str]] = [[] for _ in names]
    for value, i in last.items():
        if i < len(names):
            frees[i].append(value)
    return frees


def _run_once(
    cap: Captured,
    steps: list[tuple[str, _STEP]],
    frees: list[list[str]],
    inputs: tuple[Any, ...],
    timed: dict[str, list[float]],
) -> None:
    """One timed run that frees every value after its last use, as the real stage modules do:
    keeping all of them alive would make each op fault in fresh memory and time too slow."""
    env = _initial_env(cap, inputs)
    clock = time.perf_counter
    for (name, step), dead in zip(steps, frees, strict=True):
        t0 = clock()
        env[name] = step(env)
        timed[name].append(clock() - t0)
        for value in dead:
            del env[value]


def profile(
    model: nn.Module,
    example_inputs: Any,
    *,
    name: str | None = None,
    warmup: int = 2,
    repeats: int = 10,
) -> ModelGraph:
    """Capture `model` and measure each op on this host: FLOPs, parameter bytes, output bytes
    (dtype-aware) and median wall time over `repeats` runs after `warmup`, with one torch thread.

    FLOPs come from torch's FlopCounter (2 per multiply-accumulate) for matmul/conv-like ops; other
    ops that compute count one FLOP per output element; views count zero.
    """
    if repeats < 1 or warmup < 0:
        raise ConfigError(
            f"repeats={repeats}, warmup={warmup}", fix="use repeats >= 1 and warmup >= 0"
        )
    inputs = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    cap = capture(model, inputs)
    gm = cap.gm
    compute = [n for n in gm.graph.nodes if n.op in ("call_function", "call_module", "call_method")]
    steps = _compile_steps(gm, [n.name for n in compute])
    flat = tuple(pytree.tree_leaves(inputs))  # placeholders are the flattened inputs
    with torch.no_grad(), single_thread():
        env, flops = _first_pass(cap, steps, flat)
        frees = _last_uses(gm, [n.name for n in compute])
        timings: dict[str, list[float]] = {n.name: [] for n in compute}
        for _ in range(warmup + repeats):
            _run_once(cap, steps, frees, flat, timings)
        timings = {k: v[warmup:] for k, v in timings.items()}
    values = [
        Value(
            p,
            tuple(env[p].shape),
            str(env[p].dtype).removeprefix("torch."),
            int(_tensor_bytes(env[p])),
        )
        for p in cap.inputs
    ]
    ops = []
    param_sizes: dict[str, int] = {}
    for node in compute:
        out = env[node.name]
        params = _params_of(gm, node)
        param_sizes.update(params)
        is_tensor = isinstance(out, torch.Tensor)
        ops.append(
            Op(
                name=node.name,
                target=_target_name(gm, node),
                args=tuple(a.name for a in node.all_input_nodes if a.op != "get_attr"),
                flops=flops[node.name],
                param_bytes=sum(params.values()),
                params=tuple(params),
                out_bytes=_tensor_bytes(out),
                out_shape=tuple(out.shape) if is_tensor else None,
                out_dtype=str(out.dtype).removeprefix("torch.") if is_tensor else None,
                host_time_s=statistics.median(timings[node.name]),
            )
        )
    return ModelGraph(
        name or type(model).__name__,
        values,
        ops,
        list(cap.out_nodes),
        method=cap.method,
        param_sizes=param_sizes,
        captured=cap,
    )


def _first_pass(
    cap: Captured, steps: list[tuple[str, _STEP]], inputs: tuple[Any, ...]
) -> tuple[dict[str, Any], dict[str, float]]:
    """Run once, counting FLOPs per op; an error names the op that failed."""
    env = _initial_env(cap, inputs)
    nodes = {n.name: n for n in cap.gm.graph.nodes}
    flops: dict[str, float] = {}
    for name, step in steps:
        counter = FlopCounterMode(display=False)
        try:
            with counter:
                out = step(env)
        except Exception as exc:
            raise ModelCaptureError(
                f"op {name!r} ({nodes[name].target}) failed while profiling: "
                f"{type(exc).__name__}: {exc}",
                fix="check the example inputs have the shapes and dtypes the model expects",
            ) from exc
        env[name] = out
        counted = float(counter.get_total_flops())
        if counted == 0 and isinstance(out, torch.Tensor):
            sources = [_storages(env[a.name]) for a in nodes[name].all_input_nodes]
            is_view = bool(_storages(out) & set().union(*sources))
            counted = 0.0 if is_view else float(out.numel())
        flops[name] = counted
    return env, flops
