"""Capture any `nn.Module` into a flat torch.fx graph: torch.export first, torch.fx as fallback."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils import _pytree as pytree

from skyline.errors import ModelCaptureError

_CAPTURE_LOCK = threading.RLock()


@dataclass
class Captured:
    """A captured model: a GraphModule whose placeholders are the flattened inputs.

    `out_nodes` are the flattened output values (fx node names), `out_spec` rebuilds the
    user-visible output structure, `in_spec` the input structure.
    """

    gm: torch.fx.GraphModule
    inputs: list[str]
    out_nodes: list[str]
    in_spec: pytree.TreeSpec
    out_spec: pytree.TreeSpec
    method: str


def _flat_outputs(gm: torch.fx.GraphModule) -> tuple[list[str], pytree.TreeSpec]:
    out = next(n for n in gm.graph.nodes if n.op == "output")
    leaves, spec = pytree.tree_flatten(out.args[0])
    names: list[str] = []
    for leaf in leaves:
        if not isinstance(leaf, torch.fx.Node):
            raise ModelCaptureError(
                f"the model returns a constant {leaf!r}, not a tensor computed from its inputs",
                fix="return only tensors from forward()",
            )
        names.append(leaf.name)
    return names, spec


def _mutates(node: torch.fx.Node) -> bool:
    target = node.target
    return isinstance(target, torch._ops.OpOverload) and target._schema.is_mutable


def _via_export(model: nn.Module, args: tuple[Any, ...]) -> Captured:
    ep = torch.export.export(model, args, strict=False)
    if any(_mutates(n) for n in ep.graph.nodes):
        # In-place ops would make results depend on which stage runs first: functionalize.
        ep = ep.run_decompositions({})
    gm = ep.module()
    assert isinstance(gm, torch.fx.GraphModule)
    # torch adds a shape-guard call that returns nothing; it is not part of the computation.
    for node in list(gm.graph.nodes):
        if node.op == "call_module" and node.target == "_guards_fn":
            gm.graph.erase_node(node)
    gm.recompile()
    inputs = [n.name for n in gm.graph.nodes if n.op == "placeholder"]
    out_nodes, _ = _flat_outputs(gm)
    _, in_spec = pytree.tree_flatten((args, {}))
    return Captured(gm, inputs, out_nodes, in_spec, ep.call_spec.out_spec, "export")


def _via_fx(model: nn.Module, args: tuple[Any, ...]) -> Captured:
    gm = torch.fx.symbolic_trace(model)
    inputs = [n.name for n in gm.graph.nodes if n.op == "placeholder"]
    if len(inputs) != len(args) or not all(isinstance(a, torch.Tensor) for a in args):
        raise ModelCaptureError(
            f"fx capture needs one tensor per forward() argument; got {len(args)} args "
            f"for {len(inputs)} placeholders",
            fix="pass exactly one example tensor per forward() argument",
        )
    out_nodes, out_spec = _flat_outputs(gm)
    _, in_spec = pytree.tree_flatten((args, {}))
    return Captured(gm, inputs, out_nodes, in_spec, out_spec, "fx")


@contextmanager
def _quiet_torch_logs() -> Iterator[None]:
    """torch logs whole tracebacks when export fails; our error says it once, clearly."""
    logger = logging.getLogger("torch")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def capture(model: nn.Module, example_inputs: tuple[Any, ...]) -> Captured:
    """Capture `model` (put in eval mode) at the shapes of `example_inputs`.

    Why two paths: torch.export handles most modern code (no Python-level tracing limits) and gives
    ATen ops; torch.fx still works on some models export rejects. If both fail, the error names
    the construct each one stopped at.
    """
    if not isinstance(model, nn.Module):
        raise ModelCaptureError(
            f"expected a torch.nn.Module, got {type(model).__name__}",
            fix="pass an nn.Module instance (or a zoo name / 'module:attr' on the command line)",
        )
    if not isinstance(example_inputs, tuple):
        example_inputs = (example_inputs,)
    model.eval()
    with _CAPTURE_LOCK:  # torch.export keeps global tracing state: one capture at a time
        return _capture(model, example_inputs)


def _capture(model: nn.Module, example_inputs: tuple[Any, ...]) -> Captured:
    try:
        with _quiet_torch_logs():
            return _via_export(model, example_inputs)
    except ModelCaptureError:
        raise
    except Exception as export_exc:  # torch raises many types here; all mean "not exportable"
        try:
            return _via_fx(model, example_inputs)
        except Exception as fx_exc:
            raise ModelCaptureError(
                f"cannot capture {type(model).__name__}: torch.export failed with "
                f"{_first_line(export_exc)}; torch.fx failed with {_first_line(fx_exc)}",
                fix="remove data-dependent Python control flow (if/for over tensor values) and "
                "non-tensor outputs from forward(), or wrap the offending code in a leaf module",
            ) from export_exc
