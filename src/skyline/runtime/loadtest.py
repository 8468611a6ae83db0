"""Load and fault tests on loopback: N edge clients against a real `skyline serve cloud` process,
with faults injected on a schedule and the outcome of every request recorded.

Edge clients are threads of this process, each an `EdgeWorker` with its own ZeroMQ socket: 64
client processes would each import torch (about 300 MB apiece) and swamp a 2-core machine, while
threads still give the cloud 64 separate connections. The cloud is a subprocess so that it can be
SIGKILLed and restarted with the same command and port, and its memory sampled on its own.

A request ends "remote", "fallback" (the edge finished it locally), "error" (the edge raised, or
answered other than the model would) or "lost" (still unanswered when the run ended: a hang).
Errors and fallback reasons are *explained* when they match `KNOWN_ERRORS`, the clear errors
the runtime gives on purpose.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import zmq

from skyline import models
from skyline.errors import ConfigError, TransportError
from skyline.graph import profile
from skyline.plan import Plan, SplitModel, load_plans, planners, split
from skyline.runtime.edge import EdgeWorker
from skyline.runtime.hop import HopClient
from skyline.runtime.stages import PlanRunner
from skyline.runtime.wire import Frame, FrameKind, decode_frame, encode_frame
from skyline.topology import load_topology

KNOWN_ERRORS: tuple[str, ...] = (
    r"unreachable after \d+ attempts",  # HopClient: the cloud is down, partitioned or too slow
    r"too many requests in flight",  # the cloud's per-client limit
    r"took over [\d.]+ s",  # the cloud's compute timeout
    r"Ray replica \d+ failed",  # a replica died more often than Ray restarts it
    r"request expired before it was computed",  # the cloud skipped work its client gave up on
    r"did not answer; not retried",  # the edge's circuit breaker during a cooldown
)
_KNOWN = re.compile("|".join(KNOWN_ERRORS))

FLAT_MB_PER_MIN = 1.0
"""Memory counts as flat below this RSS slope: under 10 MB over a 10-minute soak, and at the
~300 requests/s of a 64-client soak a leak of 60 bytes per request (a 50th of one small_cnn
input) already exceeds it. Allocator warm-up is excluded by fitting after `warmup_s`."""


def explained(error: str | None) -> bool:
    """Is `error` one of the clear errors the runtime raises on purpose?"""
    return error is not None and _KNOWN.search(error) is not None


# -- plans and the cloud process -------------------------------------------------------------


def write_plan(path: str | Path, model: str = "small_cnn", planner: str = "cloud-only") -> Plan:
    """The plan `skyline plan MODEL -p PLANNER --json PATH` writes (one profiling run)."""
    spec = models.spec(model)
    graph = profile(spec.build(), spec.example_inputs(), name=spec.name, repeats=1)
    plan = planners.create(planner).plan(graph, load_topology("device-edge-cloud"))
    Path(path).write_text(plan.to_json(), encoding="utf-8")
    return plan


def free_address() -> str:
    """A loopback tcp:// address with a port free now (the cloud binds it, and rebinds it
    after a restart)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, read from /proc (psutil is not a dependency)."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # exited meanwhile
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])  # the name may hold spaces and ')'
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (Ray's GCS, raylet and actors for a --ray cloud)."""
    tree, found, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(tree.get(p, []))
    return found


def rss_mb(pid: int) -> float:
    """Resident memory of one process (VmRSS), MB; 0 for a process that is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped, is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class CloudProcess:
    """`skyline serve cloud --plan PLAN --bind ADDRESS *args` as a subprocess in its own
    session, so `kill()` takes Ray's helper processes down with it, and `start()` after a kill
    is the restart: the same command on the same port."""

    def __init__(
        self,
        plan: str | Path,
        address: str | None = None,
        args: Sequence[str] = (),
        *,
        log: str | Path | None = None,
        start_timeout_s: float = 90.0,
    ) -> None:
        self.address = address or free_address()
        self.command = [
            sys.executable, "-m", "skyline", "serve", "cloud",
            "--plan", str(plan), "--bind", self.address, *args,
        ]  # fmt: skip
        self.log = Path(log) if log else None
        self.start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self) -> CloudProcess:
        """Start the cloud and wait until it answers a PING."""
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                self.command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            if self.log:
                out.close()  # type: ignore[union-attr]
        self.starts += 1
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        assert self.proc is not None
        hop = HopClient(self.address, timeout_s=1.0, retries=0)
        deadline = time.monotonic() + self.start_timeout_s
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise TransportError(
                        f"the cloud exited with code {self.proc.returncode} before answering"
                        + (f" (log: {self.log})" if self.log else ""),
                    )
                try:
                    hop.call(Frame(FrameKind.PING, 0))
                    return
                except TransportError:
                    continue
        finally:
            hop.close()
        self.kill()
        raise TransportError(f"the cloud did not answer within {self.start_timeout_s:g} s")

    def pids(self) -> list[int]:
        """The cloud process and its descendants."""
        return descendants(self.pid) if self.pid is not None else []

    def actor_pids(self) -> list[int]:
        """Processes of the Ray replicas (`ray::StageActor` is their process title)."""
        return [p for p in self.pids() if _cmdline(p).startswith("ray::StageActor")]

    def rss_mb(self) -> dict[str, float]:
        """Resident memory now, MB: the serving process, its Ray replicas, and the whole tree."""
        pids = self.pids()
        if not pids:  # down (killed): no sample rather than a zero that bends the fit
            return {}
        actors = {p for p in pids if _cmdline(p).startswith("ray::StageActor")}
        sample = {"cloud": rss_mb(pids[0]), "tree": sum(map(rss_mb, pids))}
        if actors:
            sample["actors"] = sum(map(rss_mb, actors))
        return sample

    def kill(self) -> None:
        """SIGKILL the cloud's whole process tree, as a machine or container dying would."""
        if self.proc is None:
            return
        pids = self.pids()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in pids:  # anything that left the session (Ray may start its own)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait()
        # killed orphans linger a moment: wait them out so a restart finds ports and memory free
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self, timeout_s: float = 20.0) -> None:
        """Ctrl-C (the CLI closes the worker and Ray on it); kill what is left after `timeout_s`."""
        if self.pid is None:
            return
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout_s)
        self.kill()

    def __enter__(self) -> CloudProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- link partition ----------------------------------------------------------------------------


class LinkProxy:
    """A TCP relay that edges connect to instead of the cloud. `partition()` makes it a black
    hole: bytes are held, nothing is delivered and no connection is closed, so an edge sees only
    silence, as behind a cut cable. `heal()` delivers again (like TCP after retransmission)."""

    def __init__(self, target: str) -> None:
        host, _, port = target.removeprefix("tcp://").rpartition(":")
        self.target = (host, int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"tcp://127.0.0.1:{self._listener.getsockname()[1]}"
        self._open = threading.Event()
        self._open.set()
        self._closed = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="skyline-proxy", daemon=True).start()

    def partition(self) -> None:
        self._open.clear()

    def heal(self) -> None:
        self._open.set()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(self.target)
            except OSError:  # closed, or the cloud is down: the edge's connection just ends
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(1 << 16):
                self._open.wait()  # partitioned: hold the bytes; the kernel buffers fill up
                if self._closed:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed = True
        self._open.set()
        self._listener.close()
        with self._lock:
            for s in self._sockets:
                s.close()
            self._sockets.clear()

    def __enter__(self) -> LinkProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- corrupted frames --------------------------------------------------------------------------


def real_request(plan: Plan, model: torch.nn.Module | SplitModel) -> list[bytes]:
    """The parts of a valid REQUEST an edge sends for `plan`, on random inputs."""
    runner = PlanRunner(plan, model)
    env = runner.split.inputs_env(*_inputs(plan))
    up = runner.up[0]
    frame = Frame(FrameKind.REQUEST, 1, {n: env[n] for n in up}, {"plan": runner.key})
    return [bytes(p) for p in encode_frame(frame, up)]


def corrupt(rng: random.Random, parts: Sequence[bytes]) -> list[bytes]:
    """A broken message: random bytes, or `parts` truncated, bit-flipped or with a part lost."""
    parts = list(parts)
    kind = rng.choice(["random", "truncate", "flip", "drop", "extra"])
    if kind == "random":
        return [rng.randbytes(rng.randint(1, 4096)) for _ in range(rng.randint(1, 3))]
    i = rng.randrange(len(parts))
    if kind == "truncate":
        parts[i] = parts[i][: rng.randrange(len(parts[i]))]
    elif kind == "flip":
        b = bytearray(parts[i])
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        parts[i] = bytes(b)
    elif kind == "drop" and len(parts) > 1:
        del parts[i]
    else:
        parts.append(rng.randbytes(rng.randint(1, 64)))
    return parts


@dataclass
class GarbageReport:
    """What a client sending broken messages got back: one reply per message is the rule."""

    sent: int = 0
    errors: int = 0  # ERROR frames: the cloud refused the message and said why
    answered: int = 0  # RESPONSE frames: the damage left a valid request (e.g. a flipped pixel)
    unanswered: int = 0


def send_garbage(
    address: str, valid: Sequence[bytes], *, count: int, seed: int = 0, timeout_s: float = 5.0
) -> GarbageReport:
    """Send `count` corrupted versions of `valid` one at a time on a raw DEALER socket and
    classify the replies."""
    rng = random.Random(seed)
    report = GarbageReport()
    sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(address)
    try:
        for _ in range(count):
            sock.send_multipart(corrupt(rng, valid))
            report.sent += 1
            if not sock.poll(int(timeout_s * 1000)):
                report.unanswered += 1
                continue
            reply = decode_frame(sock.recv_multipart())
            if reply.kind is FrameKind.ERROR:
                report.errors += 1
            else:
                report.answered += 1
    finally:
        sock.close()
    return report


# -- the load ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadRecord:
    """One request: which client, when it started (s from the run's start), how it ended."""

    client: int
    start_s: float
    latency_ms: float
    outcome: str  # remote | fallback | error | lost
    error: str | None = None


@dataclass(frozen=True)
class Fault:
    """`action` run `at_s` seconds into the load, recorded under `name`."""

    at_s: float
    name: str
    action: Callable[[], Any]


@dataclass
class LoadResult:
    records: list[LoadRecord]
    rss: list[tuple[float, dict[str, float]]]  # (s from start, MB per process group)
    events: list[tuple[float, str]]  # faults as they were applied (s from start)
    duration_s: float
    clients: int
    notes: dict[str, Any] = field(default_factory=dict)

    def outcomes(self) -> dict[str, int]:
        return dict(Counter(r.outcome for r in self.records))

    def unexplained(self) -> list[LoadRecord]:
        """Requests that hung, or ended otherwise than remote for no clear reason."""
        return [r for r in self.records if r.outcome != "remote" and not explained(r.error)]

    def event_time(self, name: str) -> float:
        """When fault `name` completed (s from start)."""
        times = [t for t, n in self.events if n == name]
        if not times:
            raise ConfigError(f"no fault named {name!r} ran", fix=f"one of {self.events}")
        return times[-1]

    def recovery_s(self, after_s: float) -> float | None:
        """Seconds after `after_s` until every client had a remote request started after it
        (None: some client never got back to the cloud)."""
        firsts = []
        for client in range(self.clients):
            starts = [
                r.start_s
                for r in self.records
                if r.client == client and r.outcome == "remote" and r.start_s >= after_s
            ]
            if not starts:
                return None
            firsts.append(min(starts) - after_s)
        return max(firsts, default=0.0)

    def memory_slope(self, key: str = "tree", warmup_s: float | None = None) -> float:
        """RSS slope of `key`, MB per minute: least-squares line through the samples after
        `warmup_s` (default: the first fifth of the run, while allocators and caches grow)."""
        skip = self.duration_s / 5 if warmup_s is None else warmup_s
        points = [(t, s[key]) for t, s in self.rss if t >= skip and key in s]
        if len(points) < 3:
            return float("nan")
        t, mb = np.array(points).T
        return float(np.polyfit(t / 60, mb, 1)[0])

    def memory_growth_mb(self, key: str = "tree", warmup_s: float | None = None) -> float:
        """Largest RSS after warm-up minus RSS at warm-up, MB."""
        skip = self.duration_s / 5 if warmup_s is None else warmup_s
        after = [s[key] for t, s in self.rss if t >= skip and key in s]
        return max(after) - after[0] if after else float("nan")

    def throughput(self, bin_s: float = 1.0) -> dict[str, list[float]]:
        """Requests finished per second in bins of `bin_s`, per outcome."""
        bins = max(int(np.ceil(self.duration_s / bin_s)), 1)
        series = {o: [0.0] * bins for o in sorted(self.outcomes())}
        for r in self.records:
            i = min(int((r.start_s + r.latency_ms / 1e3) / bin_s), bins - 1)
            series[r.outcome][i] += 1 / bin_s
        return series

    def summary(self) -> dict[str, Any]:
        """Counts, latency percentiles, memory: what a soak report and its JSON show."""
        lat = np.array([r.latency_ms for r in self.records if r.outcome != "lost"])
        pct = (
            {f"p{q}_ms": float(np.percentile(lat, q)) for q in (50, 95, 99)} | {"max_ms": lat.max()}
            if lat.size
            else {}
        )
        unexplained = self.unexplained()
        slope = self.memory_slope()
        return {
            "clients": self.clients,
            "duration_s": self.duration_s,
            "requests": len(self.records),
            "requests_per_s": len(self.records) / self.duration_s,
            "outcomes": self.outcomes(),
            "lost": sum(r.outcome == "lost" for r in self.records),
            "unexplained_errors": len(unexplained),
            "unexplained_examples": sorted({str(r.error) for r in unexplained})[:5],
            "error_reasons": dict(Counter(_reason(r.error) for r in self.records if r.error)),
            "latency": {k: float(v) for k, v in pct.items()},
            "memory_slope_mb_per_min": slope,
            "memory_growth_mb": self.memory_growth_mb(),
            "memory_flat": bool(slope < FLAT_MB_PER_MIN),
            "flat_threshold_mb_per_min": FLAT_MB_PER_MIN,
            "events": self.events,
            **self.notes,
        }


def _reason(error: str | None) -> str:
    """The known pattern an error matches, or its first 80 characters."""
    match = _KNOWN.search(error or "")
    return match.group(0) if match else str(error)[:80]


def _inputs(plan: Plan) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [
        torch.randn(t.shape, generator=g).to(getattr(torch, t.dtype)) for t in plan.model.inputs
    ]


def _mismatch(got: Any, expected: Any) -> str | None:
    """Why `got` is not the model's answer `expected` (a tensor or a sequence of them), or None.
    A tolerance, not equality: a batching cloud may differ in the last bits."""
    gots = [got] if isinstance(got, torch.Tensor) else list(got)
    wants = [expected] if isinstance(expected, torch.Tensor) else list(expected)
    if len(gots) != len(wants):
        return f"{len(gots)} outputs instead of {len(wants)}"
    for i, (g, w) in enumerate(zip(gots, wants, strict=True)):
        if g.shape != w.shape or not torch.allclose(g, w, rtol=1e-4, atol=1e-5):
            return f"output {i} differs from the model's"
    return None


class _Client:
    """One edge in a thread: requests back to back (or at `rate_hz`) until told to stop. An
    answer is checked against the model's own: a wrong answer is an error, not a success."""

    def __init__(
        self, index: int, edge: EdgeWorker, inputs: list[torch.Tensor], expected: Any
    ) -> None:
        self.index = index
        self.edge = edge
        self.inputs = inputs
        self.expected = expected
        self.records: list[LoadRecord] = []
        self.in_flight: float | None = None  # start of the request under way

    def run(self, t0: float, stop: threading.Event, rate_hz: float) -> None:
        try:
            self._loop(t0, stop, rate_hz)
        finally:
            self.edge.close()  # in this thread: the edge's socket belongs to it

    def _loop(self, t0: float, stop: threading.Event, rate_hz: float) -> None:
        next_at = time.monotonic()
        while not stop.is_set():
            start = time.monotonic()
            self.in_flight = start - t0
            try:
                wrong = _mismatch(self.edge.infer(*self.inputs), self.expected)
                record = self.edge.records[-1]
                outcome, error = record.outcome, record.error
                if wrong:
                    outcome, error = "error", f"wrong answer: {wrong}"
            except Exception as exc:
                outcome, error = "error", f"{type(exc).__name__}: {exc}"
            self.edge.records.clear()  # the harness keeps its own, smaller, records
            latency_ms = (time.monotonic() - start) * 1e3
            self.records.append(LoadRecord(self.index, start - t0, latency_ms, outcome, error))
            self.in_flight = None
            if rate_hz > 0:
                next_at = max(next_at + 1 / rate_hz, time.monotonic() - 1)
                stop.wait(next_at - time.monotonic())


@dataclass
class LoadConfig:
    """`clients` edges for `duration_s`, each at `rate_hz` requests/s (0: back to back), waiting
    `timeout_s` per attempt with `retries`; RSS sampled every `sample_s`."""

    clients: int = 4
    duration_s: float = 10.0
    rate_hz: float = 0.0
    timeout_s: float = 1.0
    retries: int = 1
    sample_s: float = 0.5

    def __post_init__(self) -> None:
        if self.clients < 1 or self.duration_s <= 0 or self.rate_hz < 0:
            raise ConfigError(
                f"{self.clients} clients for {self.duration_s} s at {self.rate_hz} Hz",
                fix="use clients >= 1, duration_s > 0 and rate_hz >= 0",
            )
        if self.timeout_s <= 0 or self.retries < 0 or self.sample_s <= 0:
            raise ConfigError(
                f"timeout_s {self.timeout_s}, retries {self.retries}, sample_s {self.sample_s}",
                fix="use timeout_s > 0, retries >= 0 and sample_s > 0",
            )

    @property
    def request_bound_s(self) -> float:
        """The longest a request may take before it counts as lost: every attempt timing out,
        plus a generous allowance for the local fallback on a loaded machine."""
        return (self.retries + 1) * self.timeout_s + 10.0


def run_load(
    plan: str | Path | Plan,
    cloud: str,
    config: LoadConfig,
    *,
    faults: Sequence[Fault] = (),
    memory: Callable[[], dict[str, float]] | None = None,
) -> LoadResult:
    """Drive `config.clients` edges against the cloud at `cloud` (or a proxy in front of it)
    and apply `faults` on schedule; `memory` (e.g. `CloudProcess.rss_mb`) is sampled
    throughout. Requests still unanswered `config.request_bound_s` after the end are lost."""
    the_plan = plan if isinstance(plan, Plan) else _one_plan(plan)
    pieces = split(models.load(the_plan.model.name), the_plan)  # shared: read-only at inference
    inputs = _inputs(the_plan)
    with torch.no_grad():
        expected = pieces(*inputs)
    edges = [
        EdgeWorker(
            the_plan, pieces, cloud=cloud, timeout_s=config.timeout_s, retries=config.retries
        )
        for _ in range(config.clients)
    ]
    clients = [_Client(i, edge, inputs, expected) for i, edge in enumerate(edges)]
    stop, done = threading.Event(), threading.Event()
    rss: list[tuple[float, dict[str, float]]] = []
    events: list[tuple[float, str]] = []
    t0 = time.monotonic()

    def sample() -> None:
        while not done.is_set():
            if memory is not None:
                rss.append((time.monotonic() - t0, memory()))
            done.wait(config.sample_s)

    def inject() -> None:
        for fault in sorted(faults, key=lambda f: f.at_s):
            if stop.wait(fault.at_s - (time.monotonic() - t0)):
                return
            fault.action()
            events.append((time.monotonic() - t0, fault.name))

    threads = [
        threading.Thread(target=c.run, args=(t0, stop, config.rate_hz), daemon=True)
        for c in clients
    ]
    helpers = [threading.Thread(target=f, daemon=True) for f in (sample, inject)]
    for t in threads + helpers:
        t.start()
    stop.wait(config.duration_s)
    stop.set()
    deadline = time.monotonic() + config.request_bound_s
    for t in threads + helpers[1:]:
        t.join(max(deadline - time.monotonic(), 0))
    done.set()
    helpers[0].join()
    duration = time.monotonic() - t0
    records = [r for c in clients for r in c.records]
    for c in clients:  # still waiting: a hang, the one thing that must never happen
        if c.in_flight is not None:
            records.append(LoadRecord(c.index, c.in_flight, float("nan"), "lost", None))
    records.sort(key=lambda r: r.start_s)
    return LoadResult(records, rss, events, min(duration, config.duration_s), config.clients)


def _one_plan(path: str | Path) -> Plan:
    plans = load_plans(path)
    if len(plans) != 1:
        raise ConfigError(f"{path} holds {len(plans)} plans; a load test runs one", fix="pass one")
    return plans[0]


def check(result: LoadResult) -> list[str]:
    """What is wrong with a load run under faults: lost requests and unexplained errors (empty
    when every request ended remote, in a fallback for a clear reason, or in a clear error)."""
    problems = []
    lost = [r for r in result.records if r.outcome == "lost"]
    if lost:
        problems.append(f"{len(lost)} requests lost (clients {sorted({r.client for r in lost})})")
    odd = [r for r in result.unexplained() if r.outcome != "lost"]
    if odd:
        problems.append(f"{len(odd)} unexplained errors, e.g. {odd[0].error!r}")
    return problems
