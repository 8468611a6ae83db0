"""`RayStages`: a cloud worker's stage computed by a pool of Ray actors.

The worker's ZeroMQ ingress stays the only network hop an edge sees; each request becomes one
Ray actor call (its tensors travel through Ray's object store), sent to the replica with the
fewest calls outstanding. Actors are restarted by Ray when they die and their calls retried,
so a killed replica delays requests instead of failing them."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from skyline._ray import ensure_ray
from skyline.errors import ConfigError, RemoteError
from skyline.plan import Plan
from skyline.runtime.compute import StageBackend, StageCall, StageResult
from skyline.runtime.stages import runners_for


@dataclass(frozen=True)
class RayOptions:
    """How a cloud worker scales out: `replicas` actors of `cpus` each, on a private local
    cluster or the one at `address`; `pipeline` calls in flight per replica keep it busy while
    the next request's tensors travel."""

    replicas: int = 1
    address: str | None = None
    cpus: float = 1.0
    pipeline: int = 2
    max_restarts: int = 3

    def __post_init__(self) -> None:
        if self.replicas < 1 or self.cpus <= 0 or self.pipeline < 1:
            raise ConfigError(
                f"Ray pool of {self.replicas} replicas x {self.cpus} CPUs, pipeline "
                f"{self.pipeline}",
                fix="use replicas >= 1, cpus > 0 and pipeline >= 1",
            )


class StageActor:
    """One replica: the plans' runners over its own copy of the weights, one torch thread."""

    def __init__(self, plans: list[Plan], model: nn.Module) -> None:
        torch.set_num_threads(1)
        self.runners = runners_for(plans, model)

    def digests(self) -> dict[str, str]:
        return {key: r.digest for key, r in self.runners.items()}

    def pid(self) -> int:
        return os.getpid()

    def compute(self, key: str, node: str, tensors: dict[str, Any]) -> tuple[dict[str, Any], float]:
        outputs, ms = self.runners[key].compute(node, from_arrays(tensors))
        return to_arrays(outputs), ms


def to_arrays(tensors: dict[str, Any]) -> dict[str, Any]:
    """Tensors as numpy arrays where numpy has the dtype: Ray serializes arrays without a copy
    (measured 1.3x faster per call than torch tensors for 400 KB)."""
    return {
        name: t.numpy() if isinstance(t, torch.Tensor) and t.dtype != torch.bfloat16 else t
        for name, t in tensors.items()
    }


def from_arrays(values: dict[str, Any]) -> dict[str, Any]:
    """Inverse of `to_arrays` (read-only arrays Ray hands out are copied, not aliased)."""
    return {
        name: torch.from_numpy(v if v.flags.writeable else v.copy())
        if isinstance(v, np.ndarray)
        else v
        for name, v in values.items()
    }


class RayStages(StageBackend):
    """Stage calls on `options.replicas` Ray actors holding `model` under `plans`; the replicas
    must hold the same weights as the ingress (`digests`), or start fails."""

    def __init__(
        self,
        plans: Sequence[Plan],
        model: nn.Module,
        digests: dict[str, str],
        options: RayOptions,
    ) -> None:
        ray = ensure_ray(options.address)
        self._ray = ray
        self.options = options
        self.capacity = options.replicas * options.pipeline
        actor_cls = ray.remote(
            num_cpus=options.cpus,
            max_restarts=options.max_restarts,
            max_task_retries=options.max_restarts,
        )(StageActor)
        self._model = ray.put(model)  # kept referenced: a restarted replica reads it again
        self.actors = [actor_cls.remote(list(plans), self._model) for _ in range(options.replicas)]
        try:
            held = ray.get([a.digests.remote() for a in self.actors])
        except ray.exceptions.RayError as exc:
            self.close()
            raise ConfigError(
                f"the Ray replicas could not load the model: {str(exc).splitlines()[0]}",
                fix="define the model's class in an importable module (installed or on "
                "PYTHONPATH), not in a script or test file",
            ) from None
        if any(h != digests for h in held):
            self.close()
            raise ConfigError(
                "a Ray replica holds other weights than the ingress",
                fix="give the worker a model that pickles with its weights",
            )
        self._outstanding = [0] * options.replicas
        self._lock = threading.Lock()

    def submit(self, call: StageCall) -> Future[StageResult]:
        with self._lock:
            i = min(range(len(self.actors)), key=self._outstanding.__getitem__)
            self._outstanding[i] += 1
        ref = self.actors[i].compute.remote(call.key, call.node, to_arrays(call.tensors))
        result: Future[StageResult] = Future()

        def done(f: Future[Any]) -> None:
            with self._lock:
                self._outstanding[i] -= 1
            try:
                outputs, ms = f.result()
            except Exception as exc:  # Ray's errors become ours, naming the replica
                result.set_exception(RemoteError(f"Ray replica {i} failed: {exc}"))
                return
            result.set_result(StageResult(from_arrays(outputs), ms, where=f"ray:{i}"))

        ref.future().add_done_callback(done)
        return result

    def pids(self) -> list[int]:
        """Process ids of the replicas (fault-injection tests kill them)."""
        return list(self._ray.get([a.pid.remote() for a in self.actors]))

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "ray",
            "replicas": self.options.replicas,
            "cpus_per_replica": self.options.cpus,
            "capacity": self.capacity,
        }

    def close(self) -> None:
        for actor in self.actors:
            self._ray.kill(actor, no_restart=True)
        self.actors = []
