"""`ModelGraph`: the DAG of ops the planners work on, independent of torch once built."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from skyline.errors import ConfigError


@dataclass(frozen=True)
class Value:
    """A model input: a tensor that exists at the origin node before any op runs."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    nbytes: int


@dataclass(frozen=True)
class Op:
    """One op of the captured graph; its single output value carries the op's name.

    `out_bytes` is `inf` when the output cannot cross a link (tuples, Python scalars): planners
    then keep the op beside its consumers.
    """

    name: str
    target: str
    args: tuple[str, ...]
    flops: float
    param_bytes: int
    params: tuple[str, ...]
    out_bytes: float
    out_shape: tuple[int, ...] | None
    out_dtype: str | None
    host_time_s: float

    @property
    def kind(self) -> str:
        """Short op kind used for per-kind calibration, e.g. 'conv2d' from 'aten.conv2d.default'."""
        parts = self.target.split(".")
        return parts[1] if parts[0] == "aten" and len(parts) > 1 else parts[-1]


@dataclass
class ModelGraph:
    """Ops in topological order, model inputs, and which values are the model's outputs.

    `captured` keeps the torch GraphModule the graph came from (not serialized), so `split` can
    build stage modules without capturing again.
    """

    name: str
    inputs: list[Value]
    ops: list[Op]
    outputs: list[str]
    method: str = "synthetic"
    param_sizes: dict[str, int] = field(default_factory=dict)
    captured: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        seen = {v.name for v in self.inputs}
        for op in self.ops:
            for arg in op.args:
                if arg not in seen:
                    raise ConfigError(
                        f"op {op.name!r} reads {arg!r}, which is not an input or an earlier op",
                        fix="list ops in topological order and name only existing values",
                    )
            if op.name in seen:
                raise ConfigError(f"value name {op.name!r} is used twice", fix="rename the op")
            seen.add(op.name)
        for out in self.outputs:
            if out not in seen:
                raise ConfigError(f"output {out!r} is not a value of the graph", fix="fix outputs")

    # -- array views used by planners (built once) ---------------------------------------------
    @cached_property
    def value_names(self) -> list[str]:
        """All values: inputs first (indices 0..I-1), then op outputs (index I + op index)."""
        return [v.name for v in self.inputs] + [op.name for op in self.ops]

    @cached_property
    def value_index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.value_names)}

    @cached_property
    def value_specs(self) -> list[tuple[tuple[int, ...] | None, str | None]]:
        """(shape, dtype) of every value, in `value_names` order; None where not one tensor."""
        return [(v.shape, v.dtype) for v in self.inputs] + [
            (op.out_shape, op.out_dtype) for op in self.ops
        ]

    @cached_property
    def value_bytes(self) -> np.ndarray:
        return np.array(
            [float(v.nbytes) for v in self.inputs] + [op.out_bytes for op in self.ops], dtype=float
        )

    @cached_property
    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """(value index, consumer op index) for each distinct data dependency."""
        src: list[int] = []
        dst: list[int] = []
        index = self.value_index
        for j, op in enumerate(self.ops):
            for arg in dict.fromkeys(op.args):
                src.append(index[arg])
                dst.append(j)
        return np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64)

    @cached_property
    def output_values(self) -> np.ndarray:
        return np.array([self.value_index[o] for o in self.outputs], dtype=np.int64)

    @property
    def num_ops(self) -> int:
        return len(self.ops)

    @property
    def total_flops(self) -> float:
        return float(sum(op.flops for op in self.ops))

    @property
    def total_host_time_s(self) -> float:
        return float(sum(op.host_time_s for op in self.ops))

    @cached_property
    def fingerprint(self) -> str:
        """Hash of the structure (names, targets, wiring, shapes): ties a Plan to its model."""
        payload = json.dumps(
            [
                [(v.name, v.shape, v.dtype) for v in self.inputs],
                [(o.name, o.target, o.args, o.out_shape, o.out_dtype) for o in self.ops],
                self.outputs,
            ],
            default=list,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def memory_bytes(self, op_indices: Any) -> int:
        """Parameter bytes resident on a node running these ops (shared weights counted once)."""
        names: set[str] = set()
        loose = 0
        for j in np.asarray(op_indices, dtype=np.int64).ravel():
            op = self.ops[int(j)]
            if op.params and all(p in self.param_sizes for p in op.params):
                names.update(op.params)
            else:
                loose += op.param_bytes
        return loose + sum(self.param_sizes[p] for p in names)

    def op(self, name: str) -> Op:
        return self.ops[self.value_index[name] - len(self.inputs)]

    def ancestors(self, value: str) -> set[str]:
        """The ops `value` depends on, itself included (model inputs are not ops)."""
        inputs = {v.name for v in self.inputs}
        found: set[str] = set()
        stack = [value]
        while stack:
            name = stack.pop()
            if name not in found and name not in inputs:
                found.add(name)
                stack.extend(self.op(name).args)
        return found

    # -- serialization -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        def clean(d: dict[str, Any]) -> dict[str, Any]:
            return {
                k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in d.items()
            }

        return {
            "schema": "skyline.graph/v1",
            "name": self.name,
            "method": self.method,
            "inputs": [asdict(v) for v in self.inputs],
            "ops": [clean(asdict(op)) for op in self.ops],
            "outputs": list(self.outputs),
            "param_sizes": dict(self.param_sizes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelGraph:
        def op_from(d: dict[str, Any]) -> Op:
            d = dict(d)
            d["out_bytes"] = math.inf if d["out_bytes"] is None else float(d["out_bytes"])
            for key in ("args", "params"):
                d[key] = tuple(d[key])
            if d["out_shape"] is not None:
                d["out_shape"] = tuple(d["out_shape"])
            return Op(**d)

        return cls(
            name=data["name"],
            inputs=[
                Value(v["name"], tuple(v["shape"]), v["dtype"], v["nbytes"]) for v in data["inputs"]
            ],
            ops=[op_from(o) for o in data["ops"]],
            outputs=list(data["outputs"]),
            method=data.get("method", "synthetic"),
            param_sizes=dict(data.get("param_sizes", {})),
        )


def random_dag(
    num_ops: int,
    *,
    seed: int = 0,
    num_inputs: int = 1,
    max_fan_in: int = 3,
    locality: int = 8,
) -> ModelGraph:
    """A random DAG with skip connections and branches, for planner tests and benchmarks.

    Ops read 1..max_fan_in earlier values, mostly recent ones (`locality`) as real networks do;
    sizes and times are log-uniform so cuts are non-trivial.
    """
    if num_ops < 1 or num_inputs < 1:
        raise ConfigError(
            "random_dag needs num_ops >= 1 and num_inputs >= 1", fix="pass positive sizes"
        )
    rng = np.random.default_rng(seed)
    inputs = [
        Value(f"x{i}", (1, 1024), "float32", int(rng.integers(1, 64)) * 4096)
        for i in range(num_inputs)
    ]
    names = [v.name for v in inputs]
    ops: list[Op] = []
    for j in range(num_ops):
        avail = len(names)
        fan_in = int(rng.integers(1, max_fan_in + 1))
        lo = max(0, avail - locality)
        args = sorted({int(rng.integers(lo, avail)) for _ in range(fan_in)})
        if rng.random() < 0.1:  # occasional long skip connection
            args = sorted({*args, int(rng.integers(0, avail))})
        name = f"op{j}"
        flops = float(10 ** rng.uniform(4, 8))
        ops.append(
            Op(
                name=name,
                target="synthetic.op",
                args=tuple(names[a] for a in args),
                flops=flops,
                param_bytes=int(10 ** rng.uniform(2, 6)),
                params=(),
                out_bytes=float(int(10 ** rng.uniform(2, 6))),
                out_shape=None,
                out_dtype="float32",
                host_time_s=flops / 2e10,
            )
        )
        names.append(name)
    consumed = {a for op in ops for a in op.args}
    outputs = [op.name for op in ops if op.name not in consumed] or [ops[-1].name]
    return ModelGraph(f"random-dag-{num_ops}-{seed}", inputs, ops, outputs)
