"""Incremental learning across the edge-cloud link: the edge detects drift and uploads its
hardest samples, the cloud fine-tunes the current model on them and sends back a new model
version, and the edge swaps to it between requests.

```
 edge: EdgeWorker + DriftMonitor + HardExamples       cloud: AdaptationServer(IncrementalTrainer)
 alarm: keep the least confident of the next `pool`
 label them (oracle) ──REQUEST op=adapt {images, labels}──▶ fine-tune on them + replay set
 swap_model(new, version)  ◀──RESPONSE {state dict; version, digest}──
```

Labels: uploaded samples need labels to train on. In deployment a person (or a larger model)
labels them; `IncrementalEdge` takes that as an `oracle` callable, and benchmarks pass the
true labels of the uploaded samples. The replay set (clean data the model was trained on) is
mixed into every fine-tune so the model does not forget the clean distribution.
"""

from __future__ import annotations

import copy
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from skyline.errors import ConfigError, FrameError, SkylineError
from skyline.optimize.distill import distill
from skyline.optimize.drift import DriftMonitor, HardExamples, confidences, image_features
from skyline.runtime.edge import EdgeWorker
from skyline.runtime.server import FrameServer, answer, connect, meta_int
from skyline.runtime.stages import weights_digest
from skyline.runtime.transports import Parts, Transport
from skyline.runtime.wire import Frame, FrameKind

SERVICE = "skyline.incremental/v1"


@dataclass(frozen=True)
class ModelVersion:
    """Weights as they cross the link: the state dict's tensors, a version number that only
    grows, and the `weights_digest` the receiver checks after loading them."""

    version: int
    digest: str
    state: dict[str, Tensor]

    @classmethod
    def of(cls, model: nn.Module, version: int) -> ModelVersion:
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return cls(version, weights_digest(model), state)

    def load_into(self, model: nn.Module) -> nn.Module:
        """Load the weights into `model` (same architecture) and check the digest."""
        model.load_state_dict(self.state)
        got = weights_digest(model)
        if got != self.digest:
            raise FrameError(
                f"model version {self.version}: weights digest {got} after loading, "
                f"the sender's is {self.digest}"
            )
        return model

    def to_frame(self, request_id: int) -> Frame:
        meta = {"version": self.version, "digest": self.digest}
        return Frame(FrameKind.RESPONSE, request_id, dict(self.state), meta)

    @classmethod
    def from_frame(cls, frame: Frame) -> ModelVersion:
        digest = frame.meta.get("digest")
        if not isinstance(digest, str):
            raise FrameError(f"meta 'digest' must be a string, got {digest!r}")
        return cls(meta_int(frame.meta, "version"), digest, dict(frame.tensors))


class Adapter(Protocol):
    """Turns labelled hard examples into a new model version (in process or across the link)."""

    def adapt(self, images: Tensor, labels: Tensor) -> ModelVersion: ...


class IncrementalTrainer:
    """The cloud's side: fine-tunes the current model on labelled hard examples mixed with the
    `replay` set (clean data it was trained on), `epochs` passes with Adam at `lr`; each call
    is a new version. Calls are serialized: versions form one line. It trains its own copy of
    `model`, so an edge in the same process keeps serving the one it holds."""

    def __init__(
        self,
        model: nn.Module,
        replay: TensorDataset,
        *,
        epochs: int = 5,
        lr: float = 1e-3,
        batch_size: int = 128,
        seed: int = 0,
    ) -> None:
        self.model = copy.deepcopy(model)
        self.replay = replay
        self.epochs, self.lr, self.batch_size, self.seed = epochs, lr, batch_size, seed
        self.current = ModelVersion.of(model, 0)
        self.seconds: list[float] = []  # wall time of each fine-tune
        self._lock = threading.Lock()

    def adapt(self, images: Tensor, labels: Tensor) -> ModelVersion:
        replay_x, replay_y = self.replay.tensors
        if images.shape[1:] != replay_x.shape[1:] or labels.shape != (len(images),):
            raise ConfigError(
                f"hard examples of shape {list(images.shape)} with labels of shape "
                f"{list(labels.shape)}; the replay images are {list(replay_x.shape[1:])}",
                fix="send N images shaped like the model's inputs and N labels",
            )
        data = TensorDataset(
            torch.cat([images.float(), replay_x]), torch.cat([labels.long(), replay_y])
        )
        with self._lock:
            t0 = time.perf_counter()
            version = self.current.version + 1
            distill(
                self.model,
                data,
                None,
                epochs=self.epochs,
                lr=self.lr,
                batch_size=self.batch_size,
                seed=self.seed + version,
            )
            self.current = ModelVersion.of(self.model, version)
            self.seconds.append(time.perf_counter() - t0)
            return self.current


class AdaptationServer(FrameServer):
    """Serves an `IncrementalTrainer` on the runtime's frames: REQUEST meta `op` "adapt" with
    tensors `images`, `labels` is answered with the new version (`ModelVersion.to_frame`);
    PING gets the service, current version and weights digest. Garbage gets an ERROR frame."""

    def __init__(
        self, trainer: IncrementalTrainer, *, bind_address: str = "tcp://127.0.0.1:0"
    ) -> None:
        self.trainer = trainer
        super().__init__(bind_address, name="skyline-incremental")

    def handle(self, parts: Sequence[Any]) -> Parts:
        current = self.trainer.current
        identity = {"service": SERVICE, "version": current.version, "weights": current.digest}
        return answer(parts, identity, {"adapt": self._adapt})

    def _adapt(self, frame: Frame) -> Frame:
        missing = [name for name in ("images", "labels") if name not in frame.tensors]
        if missing:
            raise FrameError(f"an adapt request needs tensors {missing}")
        version = self.trainer.adapt(frame.tensors["images"], frame.tensors["labels"])
        return version.to_frame(frame.request_id)


class RemoteAdapter:
    """An `AdaptationServer` across the link. A fine-tune takes seconds to minutes, hence the
    long `timeout_s`; a timed-out request is not retried (it would train a second version)."""

    def __init__(self, peer: str | Transport, *, timeout_s: float = 600.0, wrap: Any = None):
        self.hop, self.identity = connect(
            peer,
            SERVICE,
            timeout_s=timeout_s,
            retries=0,
            wrap=wrap,
            weights=None,
            serve_hint="point the edge at an AdaptationServer",
        )
        self._ids = itertools.count(1)

    def adapt(self, images: Tensor, labels: Tensor) -> ModelVersion:
        frame = Frame(
            FrameKind.REQUEST,
            next(self._ids),
            {"images": images.float().contiguous(), "labels": labels.long().contiguous()},
            {"op": "adapt"},
        )
        return ModelVersion.from_frame(self.hop.call(frame).frame)

    def close(self) -> None:
        self.hop.close()


class IncrementalEdge:
    """An edge-only `EdgeWorker` that adapts to drift while it serves.

    Every request (one sample) feeds the monitor with its input features and top-1
    probability. Once it fires, the next `pool` samples are offered to a buffer keeping the
    `capacity` least confident; then, on a background thread, `oracle` labels them (keys as
    given to `infer`), `adapter` returns a new version, and the worker swaps to it: requests
    keep flowing on the old version meanwhile. `served` is the model being served; `events`
    logs alarm, upload and swap (or error) with the number of requests served so far; a
    failed adaptation leaves the old model serving."""

    def __init__(
        self,
        worker: EdgeWorker,
        model: nn.Module,
        monitor: DriftMonitor,
        adapter: Adapter,
        oracle: Callable[[list[int]], Tensor],
        *,
        pool: int = 3000,
        capacity: int = 1500,
        features: Callable[[Tensor], Any] = image_features,
        temperature: float = 1.0,
    ) -> None:
        if pool < capacity:
            raise ConfigError(
                f"pool={pool} < capacity={capacity}", fix="offer at least as many samples as kept"
            )
        self.worker, self.model, self.monitor = worker, model, monitor
        self.served = model
        self.adapter, self.oracle = adapter, oracle
        self.pool, self.temperature, self.features = pool, temperature, features
        self.hard: HardExamples[tuple[int, Tensor]] = HardExamples(capacity)
        self.events: list[dict[str, Any]] = []
        self.requests = 0
        self._thread: threading.Thread | None = None

    def infer(self, x: Tensor, key: int) -> Tensor:
        """Logits for one sample `x` (1 x ...); `key` identifies it to the oracle. Call it from
        one thread: the monitor's window is a sequence."""
        logits = self.worker.infer(x)
        self.requests += 1
        confidence = float(confidences(logits, self.temperature)[0])
        alarm = self.monitor.observe(self.features(x)[0], confidence)
        if alarm is not None:
            self._event("alarm", statistic=alarm.statistic, value=alarm.value)
        if self.monitor.alarm is not None and self._thread is None:
            self.hard.offer((key, x), confidence)
            if self.hard.offered >= self.pool:
                self._thread = threading.Thread(
                    target=self._adapt, args=(self.hard.items(),), daemon=True
                )
                self._thread.start()
        return logits

    def _adapt(self, samples: Sequence[tuple[int, Tensor]]) -> None:
        keys = [key for key, _ in samples]
        self._event("upload", samples=len(keys))
        try:
            version = self.adapter.adapt(torch.cat([x for _, x in samples]), self.oracle(keys))
            model = version.load_into(copy.deepcopy(self.model))
            self.worker.swap_model(model, version.version)
            self.served = model
            self._event("swap", version=version.version, digest=version.digest)
        except SkylineError as exc:
            self._event("error", error=str(exc))

    def _event(self, kind: str, **details: Any) -> None:
        self.events.append(
            {"event": kind, "requests": self.requests, "time_s": time.monotonic(), **details}
        )

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait for a running adaptation; True if none is left running."""
        if self._thread is not None:
            self._thread.join(timeout_s)
            return not self._thread.is_alive()
        return True
