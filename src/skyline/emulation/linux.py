"""`LinuxLink`: two network namespaces joined by a real link with rate, delay and loss (root).

Processes started with `exec_prefix("a")` (the edge side) and `exec_prefix("b")` (the cloud
side) talk over ordinary sockets to `addr_b` / `addr_a`, and every packet crosses the emulated
link. netem is not used (this machine kind lacks it); the link is built from parts that work on
any kernel with namespaces and TUN:

* each namespace holds a TUN device whose file descriptor is passed to a delay-line process
  (`delayline.py`) that holds each packet for the one-way delay (RTT / 2), drops it with
  probability `loss` and writes it into the other namespace;
* the rate is the kernel's tbf qdisc on each TUN's egress, so a sender sees real backpressure
  (TCP is paced by the qdisc rather than losing packets in a user-space queue).

Rates are goodput: tbf counts IP bytes, so the wire rate is raised by the TCP/IPv4 header share
(52 of every 1500 bytes, with timestamps) and a bulk TCP transfer of n bytes takes n * 8 / rate.
Inside both namespaces TCP uses a loss-based congestion control (see `_TCP_CC`) and
`tcp_slow_start_after_idle` is off: a request/response connection keeps its congestion window
between requests, as the runtime's long-lived ZeroMQ connection does on a busy link, so a
request costs bytes / rate + RTT and not a fresh slow start each time
(benchmarks/link_accuracy.py measures this).

Namespaces are named `sky-<pid>-<label>-a|b`, so `cleanup_stale()` can tell which belong to dead
processes. The TUN devices are not persistent: they vanish with the delay line, which exits as
soon as its control pipe closes, whether its owner closed it or died.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from fcntl import ioctl
from pathlib import Path
from select import select
from typing import Any, TypeVar

from skyline.emulation._guard import Guarded
from skyline.errors import ConfigError, EmulationError
from skyline.topology.spec import Link

T = TypeVar("T")

_PREFIX = "sky"  # of namespace names; cleanup_stale() matches it
_DEV = "sky0"  # the TUN's name in every namespace; the namespaces keep instances apart
_MTU = 1500
# Loss-based congestion control in the namespaces, cubic where the kernel lets a namespace pick
# it, else reno (always allowed). BBR, this host's default, leaves ~2 % of the link unused and
# its ProbeRTT phase (every 10 s) was measured here to double a 400 KB transfer's time.
_TCP_CC = ("cubic", "reno")
_TCP_IPV4_HEADERS = 52  # IPv4 (20) + TCP (20) + timestamps option (12)
_MIN_QUEUE_S = 0.1  # tbf queue: max(100 ms, one RTT) at the rate, like a router buffer of 1 BDP
_BURST_S = 0.0005  # tbf burst: 0.5 ms at the rate, at least 2 packets
_RELAY_TIMEOUT_S = 10.0
_CLONE_NEWNET = 0x40000000
_TUNSETIFF = 0x400454CA
_IFF_TUN = 0x0001
_IFF_NO_PI = 0x1000
_DELAYLINE = Path(__file__).with_name("delayline.py")
_ids = itertools.count()


def available() -> tuple[bool, str]:
    """(True, "") when LinuxLink can run here, else (False, why and what to do)."""
    if os.geteuid() != 0:
        return False, "LinuxLink needs root (network namespaces, TUN devices, tc)"
    if not os.path.exists("/dev/net/tun"):
        return False, "no /dev/net/tun (load the tun module, or give the container the device)"
    missing = [tool for tool in ("ip", "tc") if shutil.which(tool) is None]
    if missing:
        return False, f"{' and '.join(missing)} not found (install iproute2)"
    return True, ""


def _run(cmd: list[str], stdin: str | None = None) -> str:
    """Run an iproute2 command; on failure raise an EmulationError naming it and its stderr."""
    try:
        done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise EmulationError(f"cannot run {' '.join(cmd)}: {exc}", fix="install iproute2") from exc
    if done.returncode != 0:
        raise EmulationError(
            f"command failed ({done.returncode}): {' '.join(cmd)}: {done.stderr.strip()}",
            fix="run as root on a kernel with network namespaces, TUN and tbf",
        )
    return done.stdout


def _in_netns(ns: str, fn: Callable[[], T]) -> T:
    """Call fn in a short-lived thread that has joined namespace `ns`.

    setns(CLONE_NEWNET) changes only the calling thread, and the thread ends with it, so the
    caller's namespace is never touched. Sockets and TUN devices opened by fn stay in `ns`.
    """
    result: list[T] = []
    error: list[BaseException] = []

    def enter_and_call() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns into {ns}: {os.strerror(err)}")
            finally:
                os.close(fd)
            result.append(fn())
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=enter_and_call, name=f"netns-{ns}")
    thread.start()
    thread.join()
    if error:
        raise EmulationError(
            f"cannot work inside network namespace {ns}: {error[0]}",
            fix="run as root; check that the namespace still exists (ip netns list)",
        ) from error[0]
    return result[0]


def _prepare_namespace() -> tuple[int, str]:
    """Inside a fresh namespace: set its TCP/IPv6 sysctls, open its TUN; return (fd, TCP CC)."""
    proc_sys = Path("/proc/sys/net")
    (proc_sys / "ipv4/tcp_slow_start_after_idle").write_text("0")
    # No IPv6 on the TUN: router solicitations would cross the link and be counted.
    disable_ipv6 = proc_sys / "ipv6/conf/default/disable_ipv6"
    if disable_ipv6.exists():  # IPv6 may be compiled out
        disable_ipv6.write_text("1")
    congestion = proc_sys / "ipv4/tcp_congestion_control"
    for cc in _TCP_CC:
        try:
            congestion.write_text(cc)
            break
        except OSError:  # EPERM: not in tcp_allowed_congestion_control; ENOENT: not built
            continue
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    try:
        ioctl(fd, _TUNSETIFF, struct.pack("16sH", _DEV.encode(), _IFF_TUN | _IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd, congestion.read_text().strip()


def _tbf(mbps: float, queue_s: float) -> list[str]:
    """tbf arguments for a TCP goodput of `mbps` (see the module docstring)."""
    wire_bytes_s = mbps * 1e6 / 8 * _MTU / (_MTU - _TCP_IPV4_HEADERS)
    burst = max(2 * _MTU, round(wire_bytes_s * _BURST_S))
    limit = max(10 * _MTU, round(wire_bytes_s * queue_s))
    rate = f"{round(wire_bytes_s * 8)}bit"
    return ["tbf", "rate", rate, "burst", str(burst), "limit", str(limit)]


@dataclass
class _Resources:
    """What a LinuxLink holds; kept apart from it so a finalizer can free it without the link."""

    namespaces: list[str] = field(default_factory=list)
    relay: subprocess.Popen[bytes] | None = None


def _teardown(res: _Resources) -> None:
    """Stop the delay line and delete the namespaces; try everything, then report failures."""
    if res.relay is not None:
        try:
            res.relay.communicate(timeout=5)  # closes stdin: the relay's signal to exit
        except subprocess.TimeoutExpired:
            res.relay.kill()
            res.relay.communicate()
        res.relay = None
    failures = []
    for ns in res.namespaces:
        try:
            _run(["ip", "netns", "del", ns])
        except EmulationError as exc:
            failures.append(str(exc))
    res.namespaces.clear()
    if failures:
        raise EmulationError(
            "LinuxLink teardown left namespaces behind: " + "; ".join(failures),
            fix="run skyline.emulation.cleanup_stale() or `ip netns del` them",
        )


def _check_link(up_mbps: float, down_mbps: float, rtt_ms: float, loss: float) -> None:
    if not (up_mbps > 0 and down_mbps > 0):
        raise ConfigError(
            f"rates {up_mbps}/{down_mbps} Mbit/s must be positive", fix="pass rates > 0"
        )
    if rtt_ms < 0 or not 0 <= loss < 1:
        raise ConfigError(
            f"rtt {rtt_ms} ms / loss {loss} out of range", fix="pass rtt_ms >= 0, 0 <= loss < 1"
        )


class LinuxLink(Guarded):
    """Side a (the edge) and side b (the cloud) in two namespaces, joined by an emulated link.

    `up_mbps` is a -> b, `down_mbps` b -> a; each direction gets RTT / 2 of delay and `loss`.
    Use as a context manager: it is set up on entry and always torn down on exit, even when the
    body raises or is interrupted; a finalizer also tears down at interpreter exit.
    """

    def __init__(
        self,
        up_mbps: float,
        down_mbps: float,
        rtt_ms: float = 0.0,
        loss: float = 0.0,
        *,
        name: str | None = None,
        seed: int | None = None,
    ) -> None:
        _check_link(up_mbps, down_mbps, rtt_ms, loss)
        number = next(_ids)
        label = str(number) if name is None else name
        if not re.fullmatch(r"[a-z0-9]{1,16}", label):
            raise ConfigError(
                f"LinuxLink name {label!r} is not 1-16 lowercase letters/digits",
                fix="pass a short name such as 'edge1'",
            )
        self.up_mbps, self.down_mbps, self.rtt_ms, self.loss = up_mbps, down_mbps, rtt_ms, loss
        self.seed = seed
        base = f"{_PREFIX}-{os.getpid()}-{label}"
        self.ns_a, self.ns_b = f"{base}-a", f"{base}-b"
        subnet = f"10.77.{number % 256}"
        self.addr_a, self.addr_b = f"{subnet}.1", f"{subnet}.2"
        self.tcp_cc = ""  # the namespaces' TCP congestion control, known once set up
        self._res = _Resources()
        self._control = threading.Lock()

    @classmethod
    def from_link(cls, link: Link, **kw: Any) -> LinuxLink:
        """Side a is `link.a` (the edge side), b is `link.b`; a trace needs a `TraceReplayer`."""
        return cls(link.up_mbps, link.down_mbps, link.rtt_ms, link.loss, **kw)

    def __enter__(self) -> LinuxLink:
        ok, why = available()
        if not ok:
            raise EmulationError(
                f"cannot set up a LinuxLink: {why}",
                fix="use the in-process Shaper instead, or run as root",
            )
        if self.active:
            raise EmulationError("this LinuxLink is already set up", fix="enter it only once")
        self._guarded_setup(_teardown, (self._res,), self._setup)
        return self

    def _setup(self) -> None:
        queue_s = max(_MIN_QUEUE_S, self.rtt_ms / 1e3)
        sides = (
            (self.ns_a, self.addr_a, self.addr_b, self.up_mbps),
            (self.ns_b, self.addr_b, self.addr_a, self.down_mbps),
        )
        fds: list[int] = []
        try:
            for ns, local, peer, mbps in sides:
                _run(["ip", "netns", "add", ns])
                self._res.namespaces.append(ns)
                fd, self.tcp_cc = _in_netns(ns, _prepare_namespace)
                fds.append(fd)
                script = f"link set lo up\naddr add {local} peer {peer} dev {_DEV}\n"
                _run(["ip", "-n", ns, "-batch", "-"], stdin=script + f"link set {_DEV} up\n")
                _run(["tc", "-n", ns, "qdisc", "add", "dev", _DEV, "root", *_tbf(mbps, queue_s)])
            cmd = [sys.executable, "-I", str(_DELAYLINE), *map(str, fds)]
            cmd += ["--delay-ms", str(self.rtt_ms / 2), "--loss", str(self.loss)]
            if self.seed is not None:
                cmd += ["--seed", str(self.seed)]
            self._res.relay = subprocess.Popen(
                cmd, pass_fds=fds, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )  # fmt: skip
        finally:
            for fd in fds:  # the relay holds them now; the devices live as long as it does
                os.close(fd)
        if self._read_relay() != "ready":
            raise EmulationError("the delay line did not start", fix="see the error above")

    def _read_relay(self) -> str:
        """One line from the delay line, or an EmulationError with its stderr if it died."""
        relay = self._res.relay
        assert relay is not None and relay.stdout is not None
        if select([relay.stdout], [], [], _RELAY_TIMEOUT_S)[0]:
            line = relay.stdout.readline().decode().strip()
            if line:
                return line
        if relay.poll() is None:
            relay.kill()
        _, stderr = relay.communicate()
        raise EmulationError(
            f"delay line {_DELAYLINE} (pid {relay.pid}) failed: {stderr.decode().strip()}",
            fix="check that the Python running Skyline can run as root",
        )

    def _require_up(self) -> None:
        if self._res.relay is None:
            raise EmulationError("the LinuxLink is not set up", fix="use it inside `with link:`")

    def exec_prefix(self, side: str) -> list[str]:
        """Command prefix that runs a program on `side` ("a" or "b")."""
        return ["ip", "netns", "exec", self._namespace(side)]

    def socket(self, side: str, kind: int = socket.SOCK_STREAM) -> socket.socket:
        """An IPv4 socket that lives on `side`, for in-process clients and servers."""
        self._require_up()
        return _in_netns(self._namespace(side), lambda: socket.socket(socket.AF_INET, kind))

    def _namespace(self, side: str) -> str:
        if side not in ("a", "b"):
            raise ConfigError(f"side {side!r} unknown", fix="pass 'a' (edge) or 'b' (cloud)")
        return self.ns_a if side == "a" else self.ns_b

    def set_rate(self, up_mbps: float, down_mbps: float) -> None:
        """Change both rates live (tbf change: queued packets stay queued)."""
        _check_link(up_mbps, down_mbps, self.rtt_ms, self.loss)
        self._require_up()
        queue_s = max(_MIN_QUEUE_S, self.rtt_ms / 1e3)
        for ns, mbps in ((self.ns_a, up_mbps), (self.ns_b, down_mbps)):
            _run(["tc", "-n", ns, "qdisc", "change", "dev", _DEV, "root", *_tbf(mbps, queue_s)])
        self.up_mbps, self.down_mbps = up_mbps, down_mbps

    def stats(self) -> dict[str, dict[str, int]]:
        """Per direction ("up" a -> b, "down" b -> a): packets and bytes relayed, packets
        dropped as emulated loss, packets the tbf queue dropped (overflow)."""
        self._require_up()
        relay = self._res.relay
        assert relay is not None and relay.stdin is not None
        with self._control:
            with contextlib.suppress(BrokenPipeError):  # a dead relay: _read_relay says why
                relay.stdin.write(b"stats\n")
                relay.stdin.flush()
            counts: dict[str, dict[str, int]] = json.loads(self._read_relay())
        for direction, ns in (("up", self.ns_a), ("down", self.ns_b)):
            qdisc = json.loads(_run(["tc", "-n", ns, "-s", "-j", "qdisc", "show", "dev", _DEV]))
            counts[direction]["qdisc_dropped"] = sum(q.get("drops", 0) for q in qdisc)
        return counts


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def cleanup_stale(prefix: str = _PREFIX) -> int:
    """Delete namespaces left by LinuxLinks of processes that no longer run; returns how many.

    Only namespaces of dead owners are touched, so links of other live runs keep working. TUN
    devices need no cleanup: they vanish with the namespace or with their delay line.
    """
    ok, why = available()
    if not ok:
        raise EmulationError(f"cannot clean up namespaces: {why}", fix="run as root")
    pattern = re.compile(rf"{re.escape(prefix)}-(\d+)-[a-z0-9]+-[ab]")
    deleted = 0
    for line in _run(["ip", "netns", "list"]).splitlines():
        name = line.split(" ", 1)[0]
        match = pattern.fullmatch(name)
        if match and not _alive(int(match.group(1))):
            _run(["ip", "netns", "del", name])
            deleted += 1
    return deleted
