"""The `Engine` plug-in interface: one template (`run`) drives windows; engines move tasks.

Both engines share everything but queueing: the same World, the same seeded arrival and
mobility streams (so the same tasks), the same Recorder. Every `mobility.update_s` the run
moves devices, recomputes attachments and hands the window's arrivals to the engine.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from skyline._registry import Registry
from skyline.errors import RegistryError
from skyline.sched import Policy
from skyline.sim.metrics import Recorder
from skyline.sim.mobility import Positions
from skyline.sim.workload import Arrivals, ArrivalStream
from skyline.sim.world import Routes, WaitFn, World

Progress = Callable[[float], None]
"""Called with the simulated time reached, s."""

# independent random streams of one replication
WORKLOAD, MOBILITY, POLICY = 0, 1, 2


def stream(seed: int, replication: int, purpose: int) -> np.random.Generator:
    return np.random.default_rng([seed, replication, purpose])


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector (reference counting still frees memory); for loops
    that allocate many objects and no reference cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass(frozen=True)
class RunStats:
    busy_s: np.ndarray
    """Service time each resource gave, s."""
    horizon_s: float
    """max(duration, last completion), s."""
    events: int


class Engine(ABC):
    """Moves tasks through the World's queues. Subclasses implement `window` and `drain`."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    def __init__(self, world: World, policy: Policy, recorder: Recorder, *, tick_s: float) -> None:
        self.world = world
        self.policy = policy
        self.recorder = recorder
        self.tick_s = tick_s

    def run(self, replication: int, progress: Progress | None = None) -> RunStats:
        sc = self.world.scenario
        seed = sc.seed
        self.policy.reset(int(stream(seed, replication, POLICY).integers(2**63)))
        positions = Positions(sc, stream(seed, replication, MOBILITY))
        arrivals = ArrivalStream(sc, stream(seed, replication, WORKLOAD))
        step = sc.mobility.update_s
        t = 0.0
        while t < sc.duration_s:
            end = min(t + step, sc.duration_s)
            self.world.at(t)
            positions.advance(t)
            self.window(t, end, arrivals.window(t, end), positions.attachment())
            if progress is not None:
                progress(end)
            t = end
        return self.drain()

    def decide(
        self, now_s: float, batch: Arrivals, edge: np.ndarray, wait: WaitFn | None = None
    ) -> tuple[np.ndarray, Routes]:
        """Targets for a batch (the policy, checked) and their routes; radio energy charged."""
        obs = self.world.observe(now_s, batch.device, batch.task_type, edge, wait)
        target = self.policy.place(obs)
        self.recorder.decided(batch.device, batch.task_type, target)
        routes = self.world.routes(batch.device, batch.task_type, target, edge, batch.work)
        return target, routes

    @abstractmethod
    def window(self, t0: float, t1: float, arrivals: Arrivals, attach: np.ndarray) -> None:
        """Take the window's arrivals (sorted) and simulate up to t1; `attach`: edge per device."""

    @abstractmethod
    def drain(self) -> RunStats:
        """Finish every task in flight (no more arrivals)."""


ENGINES: Registry[type[Engine]] = Registry("engine")


def register(cls: type[Engine]) -> type[Engine]:
    """Class decorator: validate and register an engine under `cls.name`."""
    if not (inspect.isclass(cls) and issubclass(cls, Engine)) or inspect.isabstract(cls):
        raise RegistryError(
            f"{cls!r} is not a complete Engine", fix="subclass Engine; implement window, drain"
        )
    ENGINES.register(cls.name, cls)
    return cls
