"""Gymnasium environment `skyline/Offload-v0`: place the simulator's tasks one at a time.

An episode is one replication of a scenario, run by a real simulator engine (exact or fast).
The engine's policy is a hand-off: each time the engine asks for a decision it passes the
Observation to the env and waits, on its own thread, for the targets, so the agent sees
exactly what the heuristics see, with the queues as they are at that moment. The env walks
each Observation task by task (`BatchCursor`): the fast engine decides a tick's arrivals as one
batch, the exact engine one task at a time.

- observation: `BatchCursor.features()` of the current task (float32 in [0, CLIP]);
- action: a target column (0 = the device, then edges, then the cloud); an unreachable one
  runs the task on its device instead;
- reward: `-(latency_s + miss_penalty_s * missed)`: the task's predicted latency at its
  decision (queueing now plus the batch's earlier tasks, the `milp` batch model) and a penalty
  when that latency passes its deadline. With `miss_penalty_s = 0` an episode's return is minus
  the sum of the `milp` latency objective over its batches;
- episode: ends (terminated) when the replication has no more tasks; `info["summary"]` then
  holds the simulator's metrics of the run (realized latencies, misses).

`reset(seed=s)` draws the replication from `s`, so a seed fixes the whole episode; with
`options={"replication": k}` the episode is replication k, the same tasks `simulate()` runs.
Registered on import: `gymnasium.make("skyline/Offload-v0", scenario="small")`, or without
importing first, `gymnasium.make("skyline.sched.env:skyline/Offload-v0")`.
"""

from __future__ import annotations

import queue
import threading
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from skyline.errors import ConfigError
from skyline.sched._rl import missing
from skyline.sched.features import CLIP, BatchCursor, feature_size
from skyline.sched.observation import Observation
from skyline.sched.policies.base import Policy
from skyline.sim.engines import ENGINES
from skyline.sim.loader import load_scenario
from skyline.sim.metrics import Recorder
from skyline.sim.spec import Scenario
from skyline.sim.world import World

try:
    import gymnasium as gym
    from gymnasium import spaces
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise missing("gymnasium", "the offloading env skyline/Offload-v0") from exc

ENV_ID = "skyline/Offload-v0"


_FromEngine = Observation | dict[str, Any] | BaseException
"""A batch to place, the run's summary at its end, or the error that ended it."""


class _Stopped(Exception):
    """Raised inside the engine's thread when the env abandons the episode."""


class _Handoff(Policy):
    """The engine's policy inside the env: hands each Observation over, waits for targets."""

    name = "gym-agent"

    def __init__(self) -> None:
        super().__init__()
        self.observations: queue.Queue[_FromEngine] = queue.Queue(1)
        self.answers: queue.Queue[np.ndarray | None] = queue.Queue(1)

    def decide(self, obs: Observation) -> np.ndarray:
        if obs.n == 0:
            return np.zeros(0, dtype=np.int64)
        self.observations.put(obs)
        targets = self.answers.get()
        if targets is None:
            raise _Stopped
        return targets


class OffloadEnv(gym.Env[np.ndarray, np.int64]):
    """One replication of a scenario as an episode of per-task placements (see module doc)."""

    def __init__(
        self,
        scenario: Scenario | str | Path = "small",
        *,
        engine: str = "exact",
        tick_s: float | None = None,
        miss_penalty_s: float = 0.5,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None:
            raise ConfigError(
                f"render_mode {render_mode!r}: the offloading env draws nothing",
                fix="leave render_mode unset; plot a simulate() result instead",
            )
        sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        self.tick_s = sc.tick_s if tick_s is None else tick_s
        if miss_penalty_s < 0 or not self.tick_s > 0:
            raise ConfigError(
                f"miss_penalty_s {miss_penalty_s} / tick_s {self.tick_s} out of range",
                fix="use miss_penalty_s >= 0 and tick_s > 0 (s)",
            )
        self.scenario = sc
        self.world = World(sc)
        self.engine_cls = ENGINES.get(engine)
        self.miss_penalty_s = miss_penalty_s
        n_targets = len(self.world.targets)
        self.action_space = spaces.Discrete(n_targets)
        self.observation_space = spaces.Box(
            0.0, CLIP, shape=(feature_size(n_targets),), dtype=np.float32
        )
        self._handoff: _Handoff | None = None
        self._thread: threading.Thread | None = None
        self._cursor: BatchCursor | None = None

    # -- the engine's thread -----------------------------------------------------------------
    def _start(self, replication: int) -> None:
        handoff = _Handoff()
        recorder = Recorder(self.world, self.scenario.warmup_s, replication=replication)
        engine = self.engine_cls(self.world, handoff, recorder, tick_s=self.tick_s)

        def run() -> None:
            try:
                stats = engine.run(replication)
            except _Stopped:
                return
            except BaseException as exc:  # surfaced by the env's next step
                handoff.observations.put(exc)
                return
            handoff.observations.put(recorder.summary(stats.busy_s, stats.horizon_s, stats.events))

        self._handoff = handoff
        self._thread = threading.Thread(target=run, name="skyline-offload-env", daemon=True)
        self._thread.start()
        # an env dropped mid-episode still ends its thread (which holds no reference to it)
        self._release = weakref.finalize(self, handoff.answers.put, None)

    def _stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._release()
            self._thread.join()
        self._thread = self._handoff = self._cursor = None

    def _next_batch(self) -> dict[str, Any] | None:
        """Wait for the engine's next Observation; the run's summary when it has ended."""
        assert self._handoff is not None
        item = self._handoff.observations.get()
        if isinstance(item, BaseException):
            self._stop()
            raise item
        if isinstance(item, dict):
            self._thread = self._handoff = self._cursor = None  # the run has finished
            return item
        self._cursor = BatchCursor(item)
        return None

    # -- gymnasium API ------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._stop()
        replication = (options or {}).get("replication")
        if replication is None:
            replication = int(self.np_random.integers(2**31))
        self._start(int(replication))
        if self._next_batch() is not None:
            raise ConfigError(
                f"scenario {self.scenario.name!r} has no task to place in replication "
                f"{replication}",
                fix="give it a workload that produces tasks",
            )
        assert self._cursor is not None
        return self._cursor.features(), {"replication": int(replication)}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        cursor = self._cursor
        if cursor is None:
            raise ConfigError("step() called with no episode running", fix="call reset() first")
        i = cursor.i
        latency = cursor.place(int(action))
        missed = latency > float(cursor.obs.deadline_s[i])
        reward = -(latency + self.miss_penalty_s * missed)
        info: dict[str, Any] = {
            "target": int(cursor.targets[i]),
            "latency_s": latency,
            "missed": bool(missed),
        }
        if not cursor.done:
            return cursor.features(), reward, False, False, info
        assert self._handoff is not None
        self._handoff.answers.put(cursor.targets)
        summary = self._next_batch()
        if summary is None:
            assert self._cursor is not None
            return self._cursor.features(), reward, False, False, info
        info["summary"] = summary
        end = np.zeros(feature_size(len(self.world.targets)), dtype=np.float32)
        return end, reward, True, False, info

    def close(self) -> None:
        self._stop()
        super().close()


gym.register(id=ENV_ID, entry_point="skyline.sched.env:OffloadEnv")
