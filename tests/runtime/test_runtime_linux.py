"""End to end as root: a cloud process and an edge process in two network namespaces joined by an
emulated link (tbf rate, TUN delay line). Skipped with the reason where that is impossible."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skyline import models
from skyline.emulation import LinuxLink, link_available
from skyline.graph import profile
from skyline.plan import Problem
from skyline.topology import Link, Node, Tier, Topology

OK, WHY = link_available()
pytestmark = [pytest.mark.root, pytest.mark.skipif(not OK, reason=WHY or "linux emulation")]
PROBE = str(Path(__file__).with_name("edge_probe.py"))


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory):
    """small_cnn cut in the middle: conv features cross the link, the classifier runs above."""
    spec = models.spec("small_cnn")
    graph = profile(spec.build(), spec.example_inputs(), name="small_cnn", repeats=1)
    topo = Topology(
        nodes=[
            Node(name="edge", tier=Tier.EDGE, speed=1.0),
            Node(name="cloud", tier=Tier.CLOUD, speed=1.0),
        ],
        links=[Link(a="edge", b="cloud", up_mbps=20, down_mbps=20, rtt_ms=10)],
    )
    problem = Problem(graph, topo)
    labels = (np.arange(graph.num_ops) >= graph.num_ops // 2).astype(np.int64)
    path = tmp_path_factory.mktemp("plan") / "plan.json"
    problem.to_plan(labels, "half").save(path)
    return path


def start_cloud(net, plan_file):
    address = f"tcp://{net.addr_b}:5555"
    proc = subprocess.Popen(
        [
            *net.exec_prefix("b"),
            sys.executable,
            "-m",
            "skyline",
            "serve",
            "cloud",
            "--plan",
            str(plan_file),
            "--bind",
            address,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return proc, address


def probe(net, plan_file, address, *extra, stdin=None):
    return subprocess.Popen(
        [
            *net.exec_prefix("a"),
            sys.executable,
            PROBE,
            "--plan",
            str(plan_file),
            "--cloud",
            address,
            *extra,
        ],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_probe(net, plan_file, address, *extra):
    proc = probe(net, plan_file, address, *extra)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize(("codec", "bound"), [("raw", 0.0), ("fp16", 1e-2), ("int8", 0.1)])
def test_split_over_emulated_link_equals_model(plan_file, codec, bound):
    # raw is exact; fp16 keeps 11 significant bits and int8 256 levels of the cut features, and
    # the classifier after the cut moves the logits by at most the stated bound.
    with LinuxLink(up_mbps=20, down_mbps=20, rtt_ms=10) as net:
        cloud, address = start_cloud(net, plan_file)
        try:
            result = run_probe(net, plan_file, address, "--codec", codec)
        finally:
            cloud.kill()
            cloud.wait()
    assert all(r["outcome"] == "remote" for r in result["records"])
    assert max(result["max_abs_error"]) <= bound
    # the link is really slow: 10 ms RTT at least
    assert min(r["latency_ms"] for r in result["records"]) >= 10.0


def test_lossy_link_is_still_correct(plan_file):
    with LinuxLink(up_mbps=20, down_mbps=20, rtt_ms=10, loss=0.02, seed=1) as net:
        cloud, address = start_cloud(net, plan_file)
        try:
            result = run_probe(net, plan_file, address, "--requests", "5")
        finally:
            cloud.kill()
            cloud.wait()
    assert max(result["max_abs_error"]) == 0.0
    assert [r["outcome"] for r in result["records"]] == ["remote"] * 5


def test_cloud_killed_mid_run_loses_no_request(plan_file):
    with LinuxLink(up_mbps=20, down_mbps=20, rtt_ms=10) as net:
        cloud, address = start_cloud(net, plan_file)
        edge = probe(
            net, plan_file, address, "--requests", "6", "--pause-after", "3", stdin=subprocess.PIPE
        )
        try:
            assert edge.stdout.readline().strip() == "pause"
            cloud.kill()
            cloud.wait()
            out, err = edge.communicate("go\n", timeout=180)
        finally:
            cloud.kill()
            edge.kill()
    assert edge.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    outcomes = [r["outcome"] for r in result["records"]]
    assert outcomes == ["remote"] * 3 + ["fallback"] * 3
    assert max(result["max_abs_error"]) == 0.0
