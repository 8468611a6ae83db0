"""Where a cloud worker computes its stage: `LocalStages` (threads of this process) or
`RayStages` (a pool of Ray actors, `skyline.runtime.raypool`), optionally behind `Batching`,
which merges concurrent requests of one plan into one call.

A backend only computes; the worker keeps the socket, the frame checks and the plan logic, so
scaling out never puts another HTTP or RPC layer between an edge and its ingress."""

from __future__ import annotations

import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import torch

from skyline.errors import ConfigError
from skyline.runtime.stages import PlanRunner


@dataclass
class StageCall:
    """Compute `node`'s stage of plan `key` on `tensors` (the values the plan sends it)."""

    key: str
    node: str
    tensors: dict[str, torch.Tensor]


@dataclass
class StageResult:
    """The values the stage sends on, its compute time and how many requests shared it."""

    outputs: dict[str, torch.Tensor]
    compute_ms: float
    batch: int = 1
    where: str = "local"


class StageBackend(ABC):
    """Computes stage calls; at most `capacity` at once are worth submitting (the rest would
    only queue inside the backend, where they can no longer be batched)."""

    capacity: int = 1

    @abstractmethod
    def submit(self, call: StageCall) -> Future[StageResult]: ...

    def describe(self) -> dict[str, Any]:
        """What a client sees of this backend (in the worker's PING reply)."""
        return {"backend": type(self).__name__, "capacity": self.capacity}

    @abstractmethod
    def close(self) -> None:
        """Release threads, actors or clusters the backend holds."""


class LocalStages(StageBackend):
    """Computes on `workers` threads of this process."""

    def __init__(self, runners: Mapping[str, PlanRunner], workers: int = 1) -> None:
        self.runners = runners
        self.capacity = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="skyline-stage")

    def submit(self, call: StageCall) -> Future[StageResult]:
        return self._pool.submit(self._run, call)

    def _run(self, call: StageCall) -> StageResult:
        outputs, ms = self.runners[call.key].compute(call.node, call.tensors)
        return StageResult(outputs, ms)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class _Pending:
    call: StageCall
    future: Future[StageResult] = field(default_factory=Future)


class Batching(StageBackend):
    """Dynamic batching in front of `inner`: when the backend has a free slot, the requests
    waiting for the same plan and node (up to `max_batch`) go as one call concatenated along
    dim 0, and each gets its rows back. While other calls are in flight a batch waits at most
    `max_wait_ms` for more requests; an idle backend gets a lone request at once, so batching
    never slows a lightly loaded worker.

    Only plans whose stage is checked batch-safe at start (outputs keep one row per request and
    match the unbatched ones) are merged; others go one by one. A batched float result may
    differ from the unbatched one in the last bits (other kernel blocking)."""

    def __init__(
        self,
        inner: StageBackend,
        runners: Mapping[str, PlanRunner],
        node: str,
        *,
        max_batch: int = 8,
        max_wait_ms: float = 2.0,
    ) -> None:
        if max_batch < 1 or max_wait_ms < 0:
            raise ConfigError(
                f"max_batch {max_batch} / max_wait_ms {max_wait_ms} out of range",
                fix="use max_batch >= 1 and max_wait_ms >= 0",
            )
        self.inner = inner
        self.capacity = inner.capacity
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1e3
        self.batchable = {key for key, r in runners.items() if batch_safe(inner, r, node)}
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._slots = threading.Semaphore(inner.capacity)
        self._busy = 0  # calls in flight in `inner`
        self._busy_lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="skyline-batcher", daemon=True)
        self._thread.start()

    def submit(self, call: StageCall) -> Future[StageResult]:
        pending = _Pending(call)
        self._queue.put(pending)
        return pending.future

    def describe(self) -> dict[str, Any]:
        return {
            **self.inner.describe(),
            "max_batch": self.max_batch,
            "max_wait_ms": self.max_wait_s * 1e3,
            "batchable_plans": sorted(self.batchable),
        }

    def _loop(self) -> None:
        held: list[_Pending | None] = []  # taken from the queue but not yet in a batch
        while True:
            first = held.pop(0) if held else self._queue.get()
            if first is None:
                return
            self._slots.acquire()  # wait for a free slot: meanwhile requests pile up
            batch = [first]
            if first.call.key in self.batchable:
                deadline = time.monotonic() + (self.max_wait_s if self._busy else 0.0)
                while len(batch) < self.max_batch:
                    try:
                        item = self._queue.get(timeout=max(deadline - time.monotonic(), 0))
                    except queue.Empty:
                        break
                    if item is None:
                        held.append(item)
                        break
                    same = (item.call.key, item.call.node) == (first.call.key, first.call.node)
                    (batch if same else held).append(item)
            self._dispatch(batch)

    def _dispatch(self, batch: list[_Pending]) -> None:
        self._count_busy(+1)
        try:
            merged = merge([p.call for p in batch])
            future = self.inner.submit(merged)
        except Exception as exc:  # a merge or submit failure fails these requests only
            self._count_busy(-1)
            for p in batch:
                p.future.set_exception(exc)
            return

        def done(f: Future[StageResult]) -> None:
            self._count_busy(-1)
            try:
                parts = unmerge(f.result(), len(batch))
            except Exception as exc:
                for p in batch:
                    p.future.set_exception(exc)
                return
            for p, part in zip(batch, parts, strict=True):
                p.future.set_result(part)

        future.add_done_callback(done)

    def _count_busy(self, change: int) -> None:
        with self._busy_lock:
            self._busy += change
        if change < 0:
            self._slots.release()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)
        self.inner.close()


def merge(calls: list[StageCall]) -> StageCall:
    """One call for several of the same plan and node: tensors stacked along dim 0."""
    if len(calls) == 1:
        return calls[0]
    first = calls[0]
    tensors = {name: torch.cat([c.tensors[name] for c in calls]) for name in first.tensors}
    return StageCall(first.key, first.node, tensors)


def unmerge(result: StageResult, n: int) -> list[StageResult]:
    """Each request's rows of a merged result (the compute time is shared by all)."""
    if n == 1:
        return [result]
    chunks = {name: t.chunk(n) for name, t in result.outputs.items()}
    if any(len(c) != n for c in chunks.values()):
        raise ConfigError("a batched stage did not return one row per request")
    return [
        StageResult(
            {k: c[i].clone() for k, c in chunks.items()}, result.compute_ms, n, result.where
        )
        for i in range(n)
    ]


def batch_safe(backend: StageBackend, runner: PlanRunner, node: str) -> bool:
    """Does `node`'s stage of `runner` give each request its own rows when two are stacked?
    Checked once on random inputs of the declared shapes (plans without them: no)."""
    declared = runner.declared_inputs(node)
    if not declared or any(not shape or shape[0] != 1 for shape, _ in declared.values()):
        return False
    gen = torch.Generator().manual_seed(0)
    pair = []
    for _ in range(2):
        tensors = {}
        for name, (shape, dtype) in declared.items():
            assert shape is not None
            kind = getattr(torch, dtype or "float32")
            tensors[name] = (
                torch.randn(shape, generator=gen).to(kind)
                if kind.is_floating_point
                else torch.zeros(shape, dtype=kind)
            )
        pair.append(StageCall(runner.key, node, tensors))
    try:
        alone = [backend.submit(c).result().outputs for c in pair]
        together = unmerge(backend.submit(merge(pair)).result(), 2)
    except Exception:
        return False
    return all(
        set(a) == set(t.outputs) and all(_close(a[k], t.outputs[k]) for k in a)
        for a, t in zip(alone, together, strict=True)
    )


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.is_floating_point():
        return torch.allclose(a, b, rtol=1e-4, atol=1e-5)
    return torch.equal(a, b)
