"""The `Plan`: the one contract between planning, the real runtime and the simulator.

Versioned JSON (`skyline.plan/v1`) that round-trips exactly and carries its predictions, so every
measured run can be set beside what was predicted.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from skyline._version import __version__
from skyline.errors import ConfigError, PlanError
from skyline.topology import Tier, Topology

SCHEMA: Literal["skyline.plan/v1"] = "skyline.plan/v1"


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:  # user-facing specs answer with a SkylineError
            err = exc.errors(include_url=False)[0]
            field = ".".join(str(p) for p in err["loc"]) or "(model)"
            raise ConfigError(
                f"{type(self).__name__}: {field} = {err['input']!r}: {err['msg']}",
                fix=f"give {type(self).__name__} a valid {field}",
            ) from exc


class Objective(_Spec):
    """What a planner minimizes: latency_weight * latency_s + energy_weight * device_energy_j."""

    kind: Literal["latency", "energy", "weighted"] = "latency"
    latency_weight: float = Field(default=1.0, ge=0)
    energy_weight: float = Field(default=0.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _weights(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        fixed = {"latency": (1.0, 0.0), "energy": (0.0, 1.0)}.get(data.get("kind", "latency"))
        if fixed is None:
            return data
        given = (data.get("latency_weight", fixed[0]), data.get("energy_weight", fixed[1]))
        if given != fixed:
            raise ValueError(
                f"objective {data['kind']!r} has fixed weights {fixed}; use kind='weighted' "
                "to set latency_weight and energy_weight"
            )
        return {**data, "latency_weight": fixed[0], "energy_weight": fixed[1]}

    @model_validator(mode="after")
    def _some_weight(self) -> Objective:
        if self.latency_weight == 0 and self.energy_weight == 0:
            raise ValueError("both weights are 0; give latency_weight or energy_weight > 0")
        return self

    @classmethod
    def parse(cls, text: str) -> Objective:
        """'latency', 'energy' or 'weighted:0.7' (latency weight; energy weight 1 - w)."""
        kind, _, weight = text.partition(":")
        try:
            if kind == "weighted":
                w = float(weight or 0.5)
                return cls(kind="weighted", latency_weight=w, energy_weight=1.0 - w)
            return cls(kind=kind)
        except (ValidationError, ValueError) as exc:
            raise ConfigError(
                f"invalid objective {text!r}",
                fix="use 'latency', 'energy' or 'weighted:W' with 0 <= W <= 1 the latency weight",
            ) from exc


class Constraints(_Spec):
    """Hard limits: a latency deadline and each node's memory (parameter bytes)."""

    deadline_ms: float | None = Field(default=None, gt=0)
    respect_memory: bool = True


class TensorSpec(_Spec):
    name: str
    shape: list[int]
    dtype: str


class ModelInfo(_Spec):
    name: str
    fingerprint: str
    capture: str
    inputs: list[TensorSpec]
    outputs: list[str]
    num_ops: int


class Stage(_Spec):
    """Ops run on one node, in graph order; `receives`/`sends` name the values crossing in/out."""

    node: str
    tier: Tier
    ops: list[str]
    receives: list[str]
    sends: list[str]


class CutTensor(_Spec):
    """One value crossing a hop; `shape` and `dtype` (when the value is one tensor) are what a
    receiving worker accepts, so a request that does not match the plan is refused."""

    name: str
    nbytes: float
    codec: str = "raw"
    shape: list[int] | None = None
    dtype: str | None = None


class Cut(_Spec):
    """Tensors crossing one hop of the path, in one direction (up: towards the cloud)."""

    src: str
    dst: str
    direction: Literal["up", "down"]
    tensors: list[CutTensor]


class Prediction(_Spec):
    """Predicted costs of one request (sequential model: compute, then transfers, then RTTs)."""

    latency_ms: float
    compute_ms: dict[str, float]
    transfer_ms: dict[str, float]
    rtt_ms: float
    device_energy_j: float
    bytes_up: dict[str, float]
    bytes_down: dict[str, float]
    memory_bytes: dict[str, float]
    objective: float
    cost_model: str


class Plan(_Spec):
    """Where each op runs, what crosses which link, and what that is predicted to cost."""

    schema_: Literal["skyline.plan/v1"] = Field(default=SCHEMA, alias="schema")
    skyline_version: str = __version__
    planner: str
    model: ModelInfo
    objective: Objective
    constraints: Constraints
    topology: Topology
    path: list[str]
    stages: list[Stage]
    cuts: list[Cut]
    prediction: Prediction

    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, ser_json_inf_nan="constants"
    )

    @property
    def key(self) -> str:
        """Short id of what a worker must do: model, placement and codecs (not predictions)."""
        payload = json.dumps(
            [
                self.model.fingerprint,
                [(s.node, s.ops) for s in self.stages],
                [(c.src, c.direction, [(t.name, t.codec) for t in c.tensors]) for c in self.cuts],
            ]
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

    def placement(self) -> dict[str, str]:
        """op name -> node name."""
        return {op: stage.node for stage in self.stages for op in stage.ops}

    def to_json(self, indent: int | None = 2) -> str:
        return self.model_dump_json(by_alias=True, indent=indent)

    @classmethod
    def from_json(cls, text: str, *, source: str = "<string>") -> Plan:
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise PlanError(
                f"{source}: not a valid {SCHEMA} plan: {where}: {first['msg']}",
                fix="regenerate it with `skyline plan MODEL --json` from this Skyline version",
            ) from exc

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_text(self.to_json() + "\n")
        return p

    @classmethod
    def load(cls, path: str | Path) -> Plan:
        p = Path(path)
        if not p.is_file():
            raise PlanError(f"plan file {str(p)!r} does not exist", fix="check the path")
        return cls.from_json(p.read_text(), source=str(p))


def load_plans(path: str | Path) -> list[Plan]:
    """Plans from a file with one plan, a list, or {name: plan} (`skyline plan --json`)."""
    p = Path(path)
    if not p.is_file():
        raise PlanError(f"plan file {str(p)!r} does not exist", fix="check the path")
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise PlanError(
            f"{p}: not JSON ({exc})", fix="give a file written by `skyline plan --json`"
        ) from exc
    items = (
        data if isinstance(data, list) else list(data.values()) if "schema" not in data else [data]
    )
    return [Plan.from_json(json.dumps(item), source=str(p)) for item in items]
