"""LinuxLink: a real emulated link between two namespaces (root), and its clean-up."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

import pytest

from skyline.emulation import LinuxLink, TraceReplayer, cleanup_stale, link_available
from skyline.emulation import linux as linux_mod
from skyline.emulation.probe import predicted_request_s, request_times
from skyline.errors import ConfigError, EmulationError
from skyline.topology import BandwidthTrace, Link

OK, WHY = link_available()


def root_only(test):
    """Marked `root` (CI runs as root) and skipped, with the reason, where it cannot run."""
    return pytest.mark.root(pytest.mark.skipif(not OK, reason=WHY)(test))


def namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def median_error(link: LinuxLink, nbytes: int, repeats: int = 3) -> float:
    """Relative error of the median request time against bytes * 8 / rate + RTT."""
    times = request_times(link, [nbytes], repeats=repeats, warmup_bytes=200_000)[nbytes]
    measured = statistics.median(times)
    return measured / predicted_request_s(nbytes, link.up_mbps, link.rtt_ms) - 1


def test_unavailable_says_why(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    ok, why = link_available()
    assert not ok and "root" in why
    with pytest.raises(EmulationError, match="root"), LinuxLink(10, 10):
        pass


def test_settings_are_checked():
    with pytest.raises(ConfigError):
        LinuxLink(0, 10)
    with pytest.raises(ConfigError):
        LinuxLink(10, 10, loss=1.5)
    with pytest.raises(ConfigError, match="name"):
        LinuxLink(10, 10, name="Edge One")
    with pytest.raises(EmulationError, match="not set up"):
        LinuxLink(10, 10).stats()


@root_only
def test_tcp_and_processes_work_across_the_link():
    link = Link(a="edge", b="cloud", up_mbps=50, down_mbps=50, rtt_ms=4)
    with LinuxLink.from_link(link) as emulated:
        assert (emulated.up_mbps, emulated.rtt_ms) == (50, 4)
        assert emulated.tcp_cc  # a loss-based algorithm (cubic or reno)
        # A server process on side b (started like the runtime's cloud worker) echoes a line.
        server = subprocess.Popen(
            [
                *emulated.exec_prefix("b"), sys.executable, "-I", "-c",
                "import socket\n"
                f"s = socket.create_server(('{emulated.addr_b}', 7001))\n"
                "print('up', flush=True)\n"
                "c, _ = s.accept()\n"
                "c.sendall(c.recv(100)[::-1])\n",
            ],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert server.stdout is not None and server.stdout.readline() == "up\n"
            with emulated.socket("a") as client:
                client.settimeout(10)
                start = time.perf_counter()
                client.connect((emulated.addr_b, 7001))
                assert time.perf_counter() - start >= 0.004  # the handshake crossed the link
                client.sendall(b"skyline")
                assert client.recv(100) == b"enilyks"
        finally:
            server.wait(10)
        stats = emulated.stats()
        assert stats["up"]["packets"] >= 3 and stats["down"]["packets"] >= 3
        assert stats["up"]["dropped"] == stats["up"]["qdisc_dropped"] == 0


@root_only
def test_transfer_takes_bytes_over_rate_plus_rtt():
    with LinuxLink(20, 20, rtt_ms=20) as link:
        # 1 MB at 20 Mbit/s + 20 ms = 0.42 s; measured here within 1 %, 10 % allows for load.
        assert abs(median_error(link, 1_000_000)) < 0.10


@root_only
def test_set_rate_changes_throughput_live():
    with LinuxLink(10, 10, rtt_ms=10) as link:
        assert abs(median_error(link, 500_000)) < 0.10
        link.set_rate(40, 5)
        assert (link.up_mbps, link.down_mbps) == (40, 5)
        assert abs(median_error(link, 500_000)) < 0.10


@root_only
def test_trace_replay_drives_the_link():
    trace = BandwidthTrace(times_s=[0, 1], up_mbps=[5, 30], down_mbps=[5, 10])
    with LinuxLink(1, 1) as link, TraceReplayer(trace, link, speedup=20) as replay:
        deadline = time.monotonic() + 5
        while len(replay.applied) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (link.up_mbps, link.down_mbps) == (30, 10)
        shown = subprocess.run(
            ["tc", "-n", link.ns_a, "qdisc", "show"], capture_output=True, text=True
        ).stdout
        assert "rate 31" in shown  # 30 Mbit/s goodput is 31.1 Mbit/s on the wire


@root_only
def test_loss_drops_that_fraction_of_udp_packets():
    sent = 3000
    with LinuxLink(50, 50, rtt_ms=2, loss=0.2, seed=11) as link:
        receiver = link.socket("b", socket.SOCK_DGRAM)
        sender = link.socket("a", socket.SOCK_DGRAM)
        receiver.bind((link.addr_b, 7002))
        receiver.settimeout(0.5)
        received = []

        def receive() -> None:
            try:
                while True:
                    received.append(receiver.recv(2048))
            except TimeoutError:
                pass

        thread = threading.Thread(target=receive)
        thread.start()
        for i in range(sent):
            sender.sendto(b"x" * 200, (link.addr_b, 7002))
            if i % 50 == 49:
                time.sleep(0.005)  # ~2 Mbit/s: no queue anywhere overflows
        thread.join()
        receiver.close()
        sender.close()
        up = link.stats()["up"]
    assert 1 - len(received) / sent == pytest.approx(0.2, abs=0.03)
    assert up["dropped"] == sent - len(received)  # every loss is the emulated one
    assert up["qdisc_dropped"] == 0


@root_only
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_teardown_leaves_nothing_even_when_the_body_raises(error):
    with pytest.raises(error), LinuxLink(10, 10, name="raiser") as link:
        assert link.ns_a in namespaces()
        relay = link._res.relay
        assert relay is not None
        raise error()
    assert link.ns_a not in namespaces() and link.ns_b not in namespaces()
    assert relay.poll() is not None  # the delay line has exited


@root_only
def test_failed_setup_cleans_up(monkeypatch):
    def broken_tbf(mbps: float, queue_s: float) -> list[str]:
        return ["tbf", "rate", "nonsense"]

    monkeypatch.setattr(linux_mod, "_tbf", broken_tbf)
    link = LinuxLink(10, 10)
    with pytest.raises(EmulationError, match=r"tc -n .* tbf rate nonsense"), link:
        pass
    assert link.ns_a not in namespaces()


@root_only
def test_a_failing_delay_line_is_reported_with_its_error(monkeypatch, tmp_path):
    script = tmp_path / "broken.py"
    script.write_text("raise SystemExit('no TUN for me')\n")
    monkeypatch.setattr(linux_mod, "_DELAYLINE", script)
    link = LinuxLink(10, 10)
    with pytest.raises(EmulationError, match="no TUN for me"), link:
        pass
    assert link.ns_a not in namespaces()


@root_only
def test_cleanup_stale_removes_what_a_killed_process_left():
    crash = (
        "import os, signal\n"
        "from skyline.emulation import LinuxLink\n"
        "link = LinuxLink(10, 10).__enter__()\n"
        "print(link.ns_a, link.ns_b, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", crash], capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr
    left = done.stdout.split()
    assert all(ns in namespaces() for ns in left)
    with LinuxLink(10, 10) as alive:  # a live process's link is not stale
        assert cleanup_stale() >= 2
        assert alive.ns_a in namespaces()
    assert not any(ns in namespaces() for ns in left)
