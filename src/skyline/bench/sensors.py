"""Synthetic machinery vibration streams with injected faults and an operating-point drift.

A stand-in for real plant data, generated from a seed so every run is reproducible offline. Each
machine vibrates at its shaft frequency with two harmonics plus sensor noise; faults are
contiguous events of one kind:

- `impulse`: a bearing-like defect, periodic impacts at 3.2x the shaft frequency, each a
  decaying ringing of a structural resonance (what envelope analysis looks for);
- `spike`: sparse large spikes (loose connector, electrical interference);
- `drift`: the sensor offset ramps away from zero (a degrading sensor or mount).

At `drift_at_s` the operating point changes for every machine (shaft frequency times
`drift_factor`, different harmonic mix): healthy signals then look unlike the training data,
which is what makes a detector trained before the change lose accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FAULT_KINDS = ("impulse", "spike", "drift")
_IMPACT_RATIO = 3.2  # bearing outer-race defect frequency / shaft frequency (typical 3-5)
_RESONANCE = 0.3  # structural resonance, as a fraction of the sample rate
_RING_S = 0.003  # decay time of one impact's ringing


@dataclass(frozen=True)
class FaultEvent:
    machine: int
    kind: str
    onset_s: float
    end_s: float


@dataclass(frozen=True)
class SensorStream:
    """Windows in arrival order (time, then machine) with ground truth.

    `arrival_s` is when a window is complete (its end); `label` is 1 when at least half of the
    window lies inside a fault event.
    """

    windows: np.ndarray  # (n, window) float32
    label: np.ndarray  # (n,) int64
    machine: np.ndarray  # (n,) int64
    arrival_s: np.ndarray  # (n,) float64
    events: tuple[FaultEvent, ...]
    duration_s: float


@dataclass(frozen=True)
class StreamSpec:
    """How to generate a stream; units in the names."""

    machines: int = 4
    duration_s: float = 240.0
    sample_hz: float = 2000.0
    window: int = 256
    shaft_hz: float = 30.0
    noise: float = 0.3
    fault_every_s: float = 6.0
    fault_min_s: float = 0.6
    fault_max_s: float = 2.0
    drift_at_s: float | None = None
    drift_factor: float = 1.7


def _events(spec: StreamSpec, machine: int, rng: np.random.Generator) -> list[FaultEvent]:
    """Faults separated by exponential healthy gaps (at least one fault length apart)."""
    out: list[FaultEvent] = []
    t = float(rng.exponential(spec.fault_every_s))
    while True:
        length = float(rng.uniform(spec.fault_min_s, spec.fault_max_s))
        if t + length >= spec.duration_s:
            return out
        out.append(FaultEvent(machine, FAULT_KINDS[rng.integers(len(FAULT_KINDS))], t, t + length))
        t += length + spec.fault_min_s + float(rng.exponential(spec.fault_every_s))


def _healthy(spec: StreamSpec, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    shaft = spec.shaft_hz * rng.uniform(0.9, 1.1)
    drifted = t >= (np.inf if spec.drift_at_s is None else spec.drift_at_s)
    freq = np.where(drifted, shaft * spec.drift_factor, shaft)
    phase = 2 * np.pi * np.cumsum(freq) / spec.sample_hz
    before = rng.uniform([0.8, 0.2, 0.05], [1.2, 0.4, 0.15])
    after = rng.uniform([0.5, 0.4, 0.2], [0.8, 0.7, 0.4])  # new load: stronger harmonics
    amp = np.where(drifted[:, None], after, before)
    offsets = rng.uniform(0, 2 * np.pi, 3)
    signal = sum(amp[:, k] * np.sin((k + 1) * phase + offsets[k]) for k in range(3))
    return np.asarray(signal + rng.normal(0, spec.noise, t.size))


def _inject(spec: StreamSpec, x: np.ndarray, event: FaultEvent, rng: np.random.Generator) -> None:
    fs = spec.sample_hz
    lo, hi = int(event.onset_s * fs), int(event.end_s * fs)
    n = hi - lo
    if event.kind == "impulse":
        period = int(fs / (spec.shaft_hz * _IMPACT_RATIO))
        ring_t = np.arange(int(5 * _RING_S * fs)) / fs
        ring = np.exp(-ring_t / _RING_S) * np.sin(2 * np.pi * _RESONANCE * fs * ring_t)
        impacts = np.zeros(n)
        impacts[:: max(period, 1)] = rng.uniform(1.0, 2.0)
        x[lo:hi] += np.convolve(impacts, ring)[:n]
    elif event.kind == "spike":
        count = max(1, int(n / fs * 25))
        at = rng.integers(lo, hi, count)
        x[at] += rng.choice([-1.0, 1.0], count) * rng.uniform(2.5, 4.0, count)
    else:
        x[lo:hi] += rng.choice([-1.0, 1.0]) * np.linspace(0.3, 1.5, n)


def machinery_stream(spec: StreamSpec, seed: int) -> SensorStream:
    """Every machine's signal, cut into non-overlapping windows, interleaved by arrival time."""
    rng = np.random.default_rng(seed)
    n_samples = int(spec.duration_s * spec.sample_hz)
    t = np.arange(n_samples) / spec.sample_hz
    n_win = n_samples // spec.window
    signals, truths, events = [], [], []
    for m in range(spec.machines):
        x = _healthy(spec, t, rng)
        truth = np.zeros(n_samples, dtype=bool)
        for event in _events(spec, m, rng):
            _inject(spec, x, event, rng)
            truth[int(event.onset_s * spec.sample_hz) : int(event.end_s * spec.sample_hz)] = True
            events.append(event)
        signals.append(x[: n_win * spec.window].reshape(n_win, spec.window))
        truths.append(truth[: n_win * spec.window].reshape(n_win, spec.window).mean(1) >= 0.5)
    # (window index, machine) order: all machines' j-th windows arrive together
    windows = np.stack(signals, axis=1).reshape(-1, spec.window).astype(np.float32)
    label = np.stack(truths, axis=1).reshape(-1).astype(np.int64)
    machine = np.tile(np.arange(spec.machines), n_win)
    arrival = np.repeat((np.arange(n_win) + 1) * spec.window / spec.sample_hz, spec.machines)
    return SensorStream(windows, label, machine, arrival, tuple(events), spec.duration_s)
