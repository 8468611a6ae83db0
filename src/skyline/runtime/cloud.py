"""`CloudWorker`: serves a plan's stage for one non-origin node to any number of clients."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from torch import nn

from skyline.errors import (
    ConfigError,
    FrameError,
    PlanError,
    RemoteError,
    SkylineError,
    TransportError,
)
from skyline.graph import ModelGraph
from skyline.plan import Plan
from skyline.runtime.compute import Batching, LocalStages, StageBackend, StageCall
from skyline.runtime.hop import HopClient
from skyline.runtime.metrics import WorkerMetrics
from skyline.runtime.raypool import RayOptions, RayStages  # Ray itself is imported lazily
from skyline.runtime.server import FrameServer
from skyline.runtime.stages import PlanRunner, StageTimes, runners_for
from skyline.runtime.transports import Parts, Transport
from skyline.runtime.transports.curve import CurveClient, CurveServer
from skyline.runtime.wire import (
    Frame,
    FrameKind,
    decode_frame,
    encode_frame,
    error_frame,
    frame_nbytes,
)


class CloudWorker(FrameServer):
    """Runs the stage of `node` for each request, forwards to `upstream` when the plan continues
    further up the path (falling back to running those stages itself if upstream is lost), and
    answers with the tensors the plan sends back down. Garbage gets an error reply; the worker
    keeps serving."""

    def __init__(
        self,
        plans: Plan | Sequence[Plan],
        model: nn.Module | ModelGraph,
        *,
        node: str | None = None,
        bind_address: str = "tcp://127.0.0.1:0",
        upstream: str | Transport | None = None,
        threads: int = 1,
        timeout_s: float = 5.0,
        retries: int = 2,
        slowdown: float = 1.0,
        codec: str | None = None,
        metrics_port: int | None = None,
        curve: CurveServer | None = None,
        upstream_curve: CurveClient | None = None,
        max_in_flight: int | None = None,
        ray: RayOptions | None = None,
        max_batch: int = 1,
        batch_wait_ms: float = 2.0,
        compute_timeout_s: float = 60.0,
        expiry_grace_s: float | None = 1.0,
    ) -> None:
        self.runners = runners_for(plans, model, slowdown=slowdown, codec=codec)
        first = next(iter(self.runners.values()))
        # default: the node the origin sends to; further nodes need their own worker
        self.node = node or first.next_hop(0) or first.path[-1]
        for runner in self.runners.values():
            position = runner.position(self.node)
            if position == 0:
                raise PlanError(
                    f"{self.node!r} is the plan's origin, which runs an EdgeWorker",
                    fix="serve a node further up the path",
                )
            if runner.needs_upstream(position) and upstream is None:
                raise PlanError(
                    f"the plan runs stages above {self.node!r}, but no upstream address was given",
                    fix="pass upstream= (CLI: --upstream) the next node's address",
                )
        self.stages = self._backend(plans, model, ray, threads)
        if max_batch > 1:
            self.stages = Batching(
                self.stages, self.runners, self.node, max_batch=max_batch, max_wait_ms=batch_wait_ms
            )
        self.compute_timeout_s = compute_timeout_s
        self.expiry_grace_s = expiry_grace_s
        self.hop = (
            HopClient(upstream, timeout_s=timeout_s, retries=retries, curve=upstream_curve)
            if upstream
            else None
        )
        super().__init__(
            bind_address,
            threads=threads,
            name=f"skyline-{self.node}",
            curve=curve,
            max_in_flight=max_in_flight,
        )
        self.metrics = WorkerMetrics(self.node) if metrics_port is not None else None
        self.metrics_port = (
            self.metrics.serve_http(metrics_port)
            if self.metrics and metrics_port is not None
            else None
        )

    def _backend(
        self,
        plans: Plan | Sequence[Plan],
        model: nn.Module | ModelGraph,
        ray: RayOptions | None,
        threads: int,
    ) -> StageBackend:
        if ray is None:
            return LocalStages(self.runners, threads)
        if not isinstance(model, nn.Module):
            raise ConfigError(
                "a Ray pool needs the model as an nn.Module (each replica captures it)",
                fix="pass the module, not its ModelGraph",
            )
        digests = {key: r.digest for key, r in self.runners.items()}
        plans = [plans] if isinstance(plans, Plan) else list(plans)
        return RayStages(plans, model, digests, ray)

    # -- request handling ------------------------------------------------------------------
    def handle(self, parts: Sequence[Any]) -> Parts:
        """Answer one request; never raises."""
        t0 = time.perf_counter()
        received = frame_nbytes(parts)
        try:
            frame = decode_frame(parts)
        except FrameError as exc:
            return self._error(0, f"bad frame: {exc}", "bad_frame", t0, received)
        if frame.kind is FrameKind.PING:
            pong = Frame(FrameKind.PONG, frame.request_id, meta=self.identity())
            return encode_frame(pong)
        if frame.kind is not FrameKind.REQUEST:
            return self._error(
                frame.request_id, f"unexpected {frame.kind.name} frame", "bad_kind", t0, received
            )
        try:
            reply, codecs, outcome = self._compute(frame)
            parts_out = encode_frame(reply, codecs)
        except SkylineError as exc:
            return self._error(frame.request_id, str(exc), type(exc).__name__, t0, received)
        except Exception as exc:  # a bug or a bad tensor: answer, keep serving
            return self._error(
                frame.request_id, f"{type(exc).__name__}: {exc}", "internal", t0, received
            )
        if self.metrics:
            self.metrics.observe(
                outcome, time.perf_counter() - t0, received, frame_nbytes(parts_out)
            )
        return parts_out

    def identity(self) -> dict[str, Any]:
        """What a client checks before trusting this worker with its plans."""
        return {
            "node": self.node,
            "compute": self.stages.describe(),
            "plans": {
                key: {"fingerprint": r.plan.model.fingerprint, "weights": r.digest}
                for key, r in self.runners.items()
            },
        }

    def _runner(self, frame: Frame) -> PlanRunner:
        key = frame.meta.get("plan")
        if key is None and len(self.runners) == 1:
            return next(iter(self.runners.values()))
        runner = self.runners.get(str(key))
        if runner is None:
            raise PlanError(
                f"this worker does not serve plan {key!r}",
                fix=f"start it with that plan; it serves {sorted(self.runners)}",
            )
        return runner

    def _compute(self, frame: Frame) -> tuple[Frame, dict[str, str], str]:
        expires = frame.meta.get("expires_unix")
        if (
            self.expiry_grace_s is not None
            and isinstance(expires, int | float)
            and time.time() > expires + self.expiry_grace_s
        ):  # the client gave up long ago: computing it would only delay everyone queued behind
            raise RemoteError("request expired before it was computed (the client gave up)")
        runner = self._runner(frame)
        position = runner.position(self.node)
        runner.check_received(self.node, frame.tensors)
        env: dict[str, Any] = dict(frame.tensors)
        times = StageTimes()
        if runner.has_stage(self.node):
            done = self.stages.submit(StageCall(runner.key, self.node, frame.tensors))
            try:
                result = done.result(timeout=self.compute_timeout_s)
            except FutureTimeout:
                raise RemoteError(
                    f"the stage on {self.node!r} took over {self.compute_timeout_s:g} s"
                ) from None
            env.update(result.outputs)
            times.add(self.node, result.compute_ms)
        outcome, error = "remote", None
        upstream_bytes = (0, 0)
        if runner.needs_upstream(position):
            assert self.hop is not None
            up = runner.up[position]
            request = Frame(
                FrameKind.REQUEST,
                frame.request_id,
                {n: env[n] for n in up},
                {"plan": runner.key},
            )
            try:
                reply = self.hop.call(request, up)
                env.update(reply.frame.tensors)
                for node, ms in reply.frame.meta.get("compute_ms", {}).items():
                    times.add(node, float(ms))
                upstream_bytes = (reply.bytes_up, reply.bytes_down)
            except (TransportError, RemoteError, FrameError) as exc:
                runner.run_beyond(position, env, times)
                outcome, error = "fallback", str(exc)
        down = runner.down.get(position - 1, {})
        missing = [n for n in down if n not in env]
        if missing:
            raise PlanError(f"values {missing} to send down were never computed")
        meta = {
            "compute_ms": times.compute_ms,
            "outcome": outcome,
            "error": error,
            "upstream_bytes": upstream_bytes,
        }
        return (
            Frame(FrameKind.RESPONSE, frame.request_id, {n: env[n] for n in down}, meta),
            down,
            outcome,
        )

    def _error(self, request_id: int, message: str, kind: str, t0: float, received: int) -> Parts:
        parts = encode_frame(error_frame(request_id, message))
        if self.metrics:
            self.metrics.error(kind)
            self.metrics.observe("error", time.perf_counter() - t0, received, frame_nbytes(parts))
        return parts

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        super().close()
        self.stages.close()
        if self.hop:
            self.hop.close()
        if self.metrics:
            self.metrics.close()
