"""`RequestRecord`: what happened to one request, measured (nothing is lost silently)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Outcome = Literal["local", "remote", "fallback", "exit", "error"]


@dataclass
class RequestRecord:
    """One request as the origin saw it. `compute_ms` holds measured compute per node (remote
    nodes report theirs); `latency_ms` is wall time from inputs to outputs at the origin."""

    request_id: int
    outcome: Outcome
    latency_ms: float
    compute_ms: dict[str, float] = field(default_factory=dict)
    bytes_up: int = 0
    bytes_down: int = 0
    attempts: int = 0
    error: str | None = None
    plan: str | None = None
    started_s: float = 0.0  # time.monotonic() when the request began
    model_version: int = 0  # the model version that served it (`EdgeWorker.swap_model`)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
