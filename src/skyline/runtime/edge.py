"""`EdgeWorker`: the origin of a plan. Runs its stage, ships the cut tensors up, returns the
outputs — and when the next hop is lost, finishes the request itself. Every request is recorded."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from torch import nn

from skyline.errors import FrameError, PlanError, RemoteError, TransportError
from skyline.graph import ModelGraph
from skyline.plan import Plan, SplitModel
from skyline.plan.split import segments
from skyline.runtime.hop import HopClient
from skyline.runtime.records import Outcome, RequestRecord
from skyline.runtime.stages import PlanRunner, StageTimes
from skyline.runtime.transports import Transport
from skyline.runtime.transports.curve import CurveClient
from skyline.runtime.wire import Frame, FrameKind


class ExitRule(Protocol):
    """Looks at the values computed so far once `value` exists; returns a result to answer
    with now, or None to go on (e.g. `skyline.exits.confident_exit`)."""

    @property
    def value(self) -> str: ...

    def __call__(self, values: dict[str, Any]) -> Any: ...


@dataclass(frozen=True)
class _Served:
    """The model a request runs on, read once per request: a swap replaces the whole object."""

    runner: PlanRunner
    pieces: Sequence[nn.Module]
    version: int


class EdgeWorker:
    """Serves inference at the origin node (path[0]) of a plan.

    `cloud` is the next node's address (or a Transport); `wrap` optionally wraps the transport
    (e.g. an in-process link shaper). With no stages above the origin, no connection is made.
    `exits` are early-exit rules in the order the origin computes their values: the origin
    stage runs in pieces, each ending once a rule's value exists, and a rule that returns a
    result ends the request there (outcome "exit"); None goes on. `version` names the model
    served; `swap_model` replaces it between requests. With `cooldown_s`, a next node that
    did not answer is not tried again for that long (a circuit breaker): requests meanwhile
    fall back at once instead of each waiting out the timeouts."""

    def __init__(
        self,
        plan: Plan,
        model: nn.Module | ModelGraph | SplitModel,
        *,
        cloud: str | Transport | None = None,
        timeout_s: float = 5.0,
        retries: int = 2,
        slowdown: float = 1.0,
        codec: str | None = None,
        wrap: Any = None,
        exits: Sequence[ExitRule] = (),
        version: int = 0,
        curve: CurveClient | None = None,
        cooldown_s: float = 0.0,
    ) -> None:
        if cooldown_s < 0:
            raise PlanError(f"cooldown_s={cooldown_s} < 0", fix="use 0 (off) or a few seconds")
        self._options: dict[str, Any] = {"slowdown": slowdown, "codec": codec}
        self.cooldown_s = cooldown_s
        self._down_until = 0.0  # monotonic time before which the next node is not tried
        runner = PlanRunner(plan, model, **self._options)
        self.node = plan.path[0]
        remote = runner.needs_upstream(0)
        if remote and cloud is None:
            raise PlanError(
                f"the plan runs stages beyond {self.node!r} but no cloud address was given",
                fix="pass cloud= (CLI: --cloud) the next node's address",
            )
        self.hop = (
            HopClient(cloud, timeout_s=timeout_s, retries=retries, wrap=wrap, curve=curve)
            if remote and cloud is not None
            else None
        )
        self.records: list[RequestRecord] = []
        self.exits = list(exits)
        self._served = self._serve(runner, version)
        self._swap_lock = threading.Lock()
        self._ids = itertools.count(1)

    def _serve(self, runner: PlanRunner, version: int) -> _Served:
        origin = runner.stage_module(self.node)
        pieces = segments(origin, [r.value for r in self.exits]) if self.exits else [origin]
        return _Served(runner, pieces, version)

    @property
    def runner(self) -> PlanRunner:
        """The runner of the model served now."""
        return self._served.runner

    @property
    def model_version(self) -> int:
        return self._served.version

    def swap_model(self, model: nn.Module | ModelGraph | SplitModel, version: int) -> None:
        """Serve `model` (the plan's model with new weights) as `version` from the next request
        on. A request reads the served model once, so one already running finishes on the
        version it started with and no request waits or is lost. Versions only increase, so
        records order the swaps. Only a plan run wholly here can swap: stages on the next node
        would keep the old weights."""
        if self.hop is not None:
            raise PlanError(
                f"cannot swap the model of plan {self.runner.key}: it runs stages beyond "
                f"{self.node!r}, which would keep the old weights",
                fix="swap models on an edge-only plan, or restart the workers with new weights",
            )
        runner = PlanRunner(self.runner.plan, model, **self._options)  # the slow part: unlocked
        with self._swap_lock:
            current = self._served.version
            if version <= current:
                raise PlanError(
                    f"model version {version} is not newer than the served version {current}",
                    fix=f"swap to a version above {current}",
                )
            self._served = self._serve(runner, version)

    def handshake(self) -> dict[str, Any]:
        """Ask the next node who it is; refuse a worker with another model or other weights."""
        if self.hop is None:
            return {}
        reply = self.hop.call(Frame(FrameKind.PING, 0)).frame
        plan = self.runner.plan
        expected_node = self.runner.next_hop(0)
        if reply.meta.get("node") != expected_node:
            raise PlanError(
                f"the worker at {self.hop.peer} serves node {reply.meta.get('node')!r}, but this "
                f"plan's next hop is {expected_node!r}",
                fix=f"start that worker with --node {expected_node}",
            )
        served = reply.meta.get("plans", {}).get(plan.key)
        if served is None:
            raise PlanError(
                f"the worker at {self.hop.peer} does not serve plan {plan.key}",
                fix="start it with the same plan file",
            )
        expected = {"fingerprint": plan.model.fingerprint, "weights": self.runner.digest}
        for key, value in expected.items():
            if served.get(key) != value:
                raise PlanError(
                    f"the worker at {self.hop.peer} has model {key} {served.get(key)!r}, "
                    f"this edge has {value!r}",
                    fix="start both workers with the same plan, model and weights",
                )
        return dict(reply.meta)

    def infer(self, *args: Any, **kwargs: Any) -> Any:
        """Run one request through the plan; returns the model's outputs."""
        request_id = next(self._ids)
        t0 = time.perf_counter()
        times = StageTimes()
        served = self._served
        runner = served.runner
        record = RequestRecord(
            request_id,
            "error",
            0.0,
            plan=runner.key,
            started_s=time.monotonic(),
            model_version=served.version,
        )
        try:
            env = runner.split.inputs_env(*args, **kwargs)
            for piece, rule in itertools.zip_longest(served.pieces, self.exits):
                times.add(self.node, runner.timed(piece, env))
                early = rule(env) if rule is not None else None
                if early is not None:
                    record.outcome = "exit"
                    return early
            outcome: Outcome = "local"
            if self.hop is not None:
                outcome = self._remote(runner, request_id, env, times, record)
            outputs = runner.outputs(env)
            record.outcome = outcome
            return outputs
        except Exception as exc:
            record.error = record.error or f"{type(exc).__name__}: {exc}"
            raise
        finally:
            record.latency_ms = (time.perf_counter() - t0) * 1e3
            record.compute_ms = times.compute_ms
            self.records.append(record)

    def _remote(
        self,
        runner: PlanRunner,
        request_id: int,
        env: dict[str, Any],
        times: StageTimes,
        record: RequestRecord,
    ) -> Outcome:
        assert self.hop is not None
        if time.monotonic() < self._down_until:
            record.error = f"{self.hop.peer} did not answer; not retried for {self.cooldown_s:g} s"
            runner.run_beyond(0, env, times)
            return "fallback"
        up = runner.up[0]
        frame = Frame(FrameKind.REQUEST, request_id, {n: env[n] for n in up}, {"plan": runner.key})
        try:
            reply = self.hop.call(frame, up)
        except (TransportError, RemoteError, FrameError) as exc:
            record.error = str(exc)
            record.attempts = self.hop.retries + 1
            if isinstance(exc, TransportError):
                self._down_until = time.monotonic() + self.cooldown_s
            runner.run_beyond(0, env, times)
            return "fallback"
        env.update(reply.frame.tensors)
        for node, ms in reply.frame.meta.get("compute_ms", {}).items():
            times.add(node, float(ms))
        record.bytes_up, record.bytes_down, record.attempts = (
            reply.bytes_up,
            reply.bytes_down,
            reply.attempts,
        )
        if reply.frame.meta.get("outcome") == "fallback":
            record.error = str(reply.frame.meta.get("error"))
            return "fallback"
        return "remote"

    def close(self) -> None:
        if self.hop is not None:
            self.hop.close()

    def __enter__(self) -> EdgeWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
