"""Both engines on hand-computed cases, queueing theory, and each other.

Link numbers (see conftest.BASE): access up 1e6 B/s, down 1e7 B/s, 5 ms each way; backhaul
1e7 B/s both ways, 10 ms each way. Input 100 kB (100 ms up the access link, 10 ms on the
backhaul), output 10 kB (1 ms down each). Compute: device 300 ms, edge 20 ms, cloud 10 ms.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sim_docs import doc

from skyline.errors import PlanError, UnknownNameError
from skyline.sched import Observation, Policy, policies
from skyline.sim import load_scenario, parse_scenario, simulate

ENGINES = ["exact", "fast"]


class Column(Policy):
    """Sends every task to one target column (for routes no built-in policy picks)."""

    name = "column"
    uses_state = False

    def __init__(self, column: int) -> None:
        super().__init__()
        self.column = column

    def decide(self, obs: Observation) -> np.ndarray:
        return np.full(obs.n, self.column, dtype=np.int64)


def latencies_ms(
    document: dict[str, Any], policy: Policy | str, engine: str, tmp_path: Path
) -> list[float]:
    """Per-task latency (ms) in arrival order, from the JSONL records."""
    path = tmp_path / f"{engine}.jsonl"
    simulate(parse_scenario(document), policy, engine, records=path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [r["latency_ms"] for r in sorted(rows, key=lambda r: r["arrival_s"])]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("policy", "expected_ms"),
    [
        ("all-local", 300.0),
        ("all-edge", 100 + 5 + 20 + 1 + 5),
        ("all-cloud", 100 + 5 + 10 + 10 + 10 + 1 + 10 + 1 + 5),
    ],
)
def test_one_task(engine: str, policy: str, expected_ms: float, tmp_path: Path) -> None:
    assert latencies_ms(doc(), policy, engine, tmp_path) == pytest.approx([expected_ms])


@pytest.mark.parametrize("engine", ENGINES)
def test_other_edge_is_two_backhaul_hops_away(engine: str, tmp_path: Path) -> None:
    base = doc()
    other = {**base["edge"][0], "name": "f"}
    document = doc(edge=[base["edge"][0], other])
    # up: access 100 + 5, backhaul e up 10 + 10, backhaul f down 10 + 10; f computes 20;
    # back: backhaul f up 1 + 10, backhaul e down 1 + 10, access down 1 + 5
    expected = 105 + 20 + 20 + 20 + 11 + 11 + 6
    assert latencies_ms(document, Column(2), engine, tmp_path) == pytest.approx([expected])


@pytest.mark.parametrize("engine", ENGINES)
def test_direct_cloud_link_without_edges(engine: str, tmp_path: Path) -> None:
    device = {**doc()["device"][0], "cloud_link": {"up_mbps": 8, "down_mbps": 80, "rtt_ms": 50}}
    del device["edge"]
    document = doc(device=[device], edge=[])
    # 100 up + 25, cloud 10, 1 down + 25
    assert latencies_ms(document, "all-cloud", engine, tmp_path) == pytest.approx([161.0])
    assert latencies_ms(document, "all-edge", engine, tmp_path) == pytest.approx([300.0])


def two_tasks(*, cores: int, shared: bool, edge_ms: float) -> dict[str, Any]:
    base = doc()
    device = {**base["device"][0], "count": 2}
    edge = {**base["edge"][0], "cores": cores, "shared_access": shared}
    task = {**base["task"][0], "compute_ms": {"device": 300.0, "edge": edge_ms, "cloud": 10.0}}
    workload = {"kind": "trace", "times_s": [1.0, 1.01], "devices": [0, 1]}
    return doc(device=[device], edge=[edge], task=[task], workload=workload)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("cores", "shared", "edge_ms", "expected_ms"),
    [
        # own radios; B reaches the 1-core edge at 1.115 and waits for A until 1.305:
        # 1.305 + 0.2 + 0.001 + 0.005 - 1.01 = 0.501 s
        (1, False, 200.0, [311.0, 501.0]),
        # two cores: no wait
        (2, False, 200.0, [311.0, 311.0]),
        # one shared cell: B's upload waits for A's until 1.1, ends 1.2, edge 1.205-1.225,
        # down 1.226, +5 ms = 1.231 -> 221 ms
        (2, True, 20.0, [131.0, 221.0]),
    ],
)
def test_two_queued_tasks(
    engine: str,
    cores: int,
    shared: bool,
    edge_ms: float,
    expected_ms: list[float],
    tmp_path: Path,
) -> None:
    document = two_tasks(cores=cores, shared=shared, edge_ms=edge_ms)
    assert latencies_ms(document, "all-edge", engine, tmp_path) == pytest.approx(expected_ms)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("cores", "mean_ms", "max_ms"), [(1, 300.5, 600.0), (3, 100.5, 200.0)])
def test_burst_of_simultaneous_tasks_is_served_in_order(
    engine: str, cores: int, mean_ms: float, max_ms: float
) -> None:
    """600 tasks at one instant on a device (1 ms each): more than the exact engine lets into
    its heap at once, and one pass's stages at one queue for the fast engine (a k-lane queue
    that stays busy): the i-th (0-based) ends after (i // cores + 1) ms."""
    base = doc()
    device = {**base["device"][0], "cores": cores}
    task = {**base["task"][0], "compute_ms": {"device": 1.0, "edge": 20.0, "cloud": 10.0}}
    document = doc(device=[device], task=[task], workload={"kind": "trace", "times_s": [1.0] * 600})
    result = simulate(parse_scenario(document), "all-local", engine)
    assert result["tasks"] == 600
    assert result["mean_latency_ms"] == pytest.approx(mean_ms)
    assert result["max_latency_ms"] == pytest.approx(max_ms)


def test_decisions_see_queues_exactly_or_per_tick(tmp_path: Path) -> None:
    """Device 150 ms; edge 131 ms when idle. Task B (1 ms after A, same device) meets A's
    upload: 99 ms of queueing, so the exact engine, deciding at B's arrival, keeps B local
    (150 < 230). The fast engine decides the whole tick at its start, before A is queued, and
    sends both to the edge, where B waits: 1.1 + 0.1 + 0.005 + 0.02 + 0.001 + 0.005 - 1.001."""
    base = doc()
    task = {**base["task"][0], "compute_ms": {"device": 150.0, "edge": 20.0, "cloud": 10.0}}
    document = doc(task=[task], workload={"kind": "trace", "times_s": [1.0, 1.001]})
    assert latencies_ms(document, "greedy-min-latency", "exact", tmp_path) == pytest.approx(
        [131.0, 150.0]
    )
    assert latencies_ms(document, "greedy-min-latency", "fast", tmp_path) == pytest.approx(
        [131.0, 230.0]
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_energy_utilization_deadline_warmup(engine: str) -> None:
    document = doc(warmup_s=2.0, workload={"kind": "trace", "times_s": [1.0, 3.0]})
    local = simulate(parse_scenario(document), "all-local", engine)
    edge = simulate(parse_scenario(document), "all-edge", engine)
    # energy over the 10 s horizon: idle 1 W, +2 W for each 0.3 s local task (both count)
    assert local["device_energy_j_mean"] == pytest.approx(10 + 2 * 2 * 0.3)
    # radio: 8e5 bits x 1e-7 J + 8e4 bits x 1e-8 J per offloaded task
    assert edge["device_energy_j_mean"] == pytest.approx(10 + 2 * (0.08 + 0.0008))
    assert local["tasks"] == 1 and edge["tasks"] == 1  # the 1.0 s arrival is warm-up
    assert local["deadline_miss_rate"] == 1.0 and edge["deadline_miss_rate"] == 0.0
    assert edge.runs[0]["utilization"] == pytest.approx({"e": 0.04 / 10, "cloud": 0.0})
    assert local.runs[0]["device_utilization_mean"] == pytest.approx(0.6 / 10)
    assert edge.runs[0]["placement"] == {"local": 0.0, "e": 1.0, "cloud": 0.0}
    assert edge["bytes_up"] == 100_000
    assert edge["mean_accuracy"] == 1.0


def queue_doc(**over: Any) -> dict[str, Any]:
    """`count` devices, each an independent queue: all-local, Poisson arrivals."""
    device = {"name": "d", "count": 500, "gflops": 10.0, "cores": 1, "edge": "e"}
    task = {"name": "t", "compute_ms": {"device": 100.0, "edge": 100.0}, "service": "exp"}
    document = doc(
        duration_s=40.0,
        warmup_s=2.0,
        seed=3,
        device=[device],
        task=[task],
        cloud=None,
        edge=[{"name": "e", "cores": 2, "gflops": 1000.0, "access": "wired"}],
        workload={"kind": "poisson", "rate_hz": 5.0},
    )
    document.update(over)
    return document


@pytest.mark.parametrize("engine", ENGINES)
def test_mm1_mean_response(engine: str) -> None:
    """Each device is an M/M/1 queue, lambda 5/s, mu 10/s: mean response 1 / (mu - lambda)."""
    result = simulate(parse_scenario(queue_doc()), "all-local", engine)
    assert result["tasks"] > 90_000
    assert result["mean_latency_ms"] == pytest.approx(200.0, rel=0.04)
    assert result.runs[0]["device_utilization_mean"] == pytest.approx(0.5, rel=0.03)


def test_mm2_mean_response_exact() -> None:
    """All devices share one 2-core edge (tasks carry no bytes; the wired link's 0.2 ms RTT is
    taken off): M/M/2, lambda 12, mu 10.
    Erlang C: a = 1.2, C = 0.45, W = C / (2 mu - lambda) + 1 / mu = 0.05625 + 0.1 s."""
    document = queue_doc(
        duration_s=6000.0,
        device=[{"name": "d", "count": 12, "gflops": 10.0, "edge": "e"}],
        workload={"kind": "poisson", "rate_hz": 1.0},
    )
    result = simulate(parse_scenario(document), "all-edge", "exact")
    assert result["tasks"] > 70_000
    assert result["mean_latency_ms"] - 0.2 == pytest.approx(156.25, rel=0.04)
    assert result.runs[0]["utilization"]["e"] == pytest.approx(0.6, rel=0.03)


def test_same_seed_same_run_and_replications_differ() -> None:
    sc = parse_scenario(queue_doc(duration_s=5.0, replications=2))
    a, b = simulate(sc, "random", "exact"), simulate(sc, "random", "exact")
    assert a.runs == b.runs
    assert a.runs[0]["mean_latency_ms"] != a.runs[1]["mean_latency_ms"]
    assert a.spread()["mean_latency_ms"] > 0


SHARED = {
    "small": {},
    "campus": {},
    # a busy shared cell and a 1-core edge, mixed task sizes
    "contended": doc(
        duration_s=60.0,
        device=[{"name": "d", "count": 30, "gflops": 10.0, "edge": "e"}],
        edge=[
            {
                "name": "e",
                "cores": 1,
                "gflops": 1000.0,
                "shared_access": True,
                "access": {"up_mbps": 40.0, "down_mbps": 80.0, "rtt_ms": 10.0},
                "backhaul": "wan",
            }
        ],
        task=[
            {
                "name": "t",
                "compute_ms": {"device": 300.0, "edge": 15.0, "cloud": 10.0},
                "input_bytes": 40_000,
                "output_bytes": 5_000,
                "deadline_ms": 40.0,
            }
        ],
        workload={"kind": "poisson", "rate_hz": 0.8},
    ),
}


@pytest.mark.parametrize("name", SHARED)
@pytest.mark.parametrize(
    "policy", ["all-edge", "all-cloud", "random", "greedy-min-latency", "deadline-aware"]
)
def test_engines_agree(name: str, policy: str) -> None:
    """Mean latency and deadline-miss rate within 5 % (miss rates: or 0.005 absolute)."""
    sc = parse_scenario(SHARED[name]) if SHARED[name] else load_scenario(name)
    sc = sc.model_copy(update={"duration_s": min(sc.duration_s, 60.0)})
    exact = simulate(sc, policy, "exact", replications=1)
    fast = simulate(sc, policy, "fast", replications=1)
    assert exact["tasks"] == fast["tasks"] > 400
    assert fast["mean_latency_ms"] == pytest.approx(exact["mean_latency_ms"], rel=0.05)
    assert fast["deadline_miss_rate"] == pytest.approx(
        exact["deadline_miss_rate"], rel=0.05, abs=0.005
    )


@pytest.mark.parametrize("policy", ["all-edge", "random", "round-robin"])
@pytest.mark.parametrize("name", ["contended", "small"])
def test_fast_engine_is_exact_without_state(name: str, policy: str) -> None:
    """The fast engine serves every queue in FIFO order on the lane that frees first whatever
    the tick, so with decisions that read no state it reproduces the exact engine task for
    task (a 1-core edge and a shared cell; a 2-core edge with fixed and exponential work)."""
    sc = parse_scenario(SHARED[name]) if SHARED[name] else load_scenario(name)
    exact = simulate(sc, policy, "exact", replications=1)
    fast = simulate(sc, policy, "fast", replications=1, tick_s=0.25)
    for key in ("mean_latency_ms", "max_latency_ms", "deadline_miss_rate", "device_energy_j_mean"):
        assert fast[key] == pytest.approx(exact[key], rel=1e-9), key
    assert (fast.histogram.counts == exact.histogram.counts).all()


def test_contended_scenario_queues() -> None:
    """The agreement above is not between two idle systems: the cell is busy."""
    sc = parse_scenario(SHARED["contended"])
    result = simulate(sc, "all-edge", "exact", replications=1)
    # 24 tasks/s: the uplink (8 ms a task) is 19 % busy, the edge (15 ms) 36 %, so tasks queue
    # beyond the idle 8 + 5 + 15 + 0.5 + 5 ms, and some miss the 40 ms deadline
    assert result["mean_latency_ms"] > 1.1 * 33.5
    assert result.runs[0]["utilization"]["e"] == pytest.approx(0.36, rel=0.1)
    assert 0.05 < result["deadline_miss_rate"] < 0.5


def test_bad_policy_and_engine() -> None:
    with pytest.raises(PlanError, match="policy 'column' sent task 0"):
        simulate(parse_scenario(doc(cloud=None)), Column(5), "exact")
    with pytest.raises(UnknownNameError, match=r"unknown engine 'warp'.*exact, fast"):
        simulate(parse_scenario(doc()), "all-local", "warp")


def test_milp_places_batches_better_than_greedy() -> None:
    """20 devices share a 1-core edge (50 ms a task; 120 ms at home). Deciding a 200 ms tick's
    batch at once, greedy sends it all to the edge, where it queues; the batch optimum keeps
    some tasks home. One task at a time (exact engine) the two are the same rule."""
    document = doc(
        duration_s=20.0,
        device=[{"name": "d", "count": 20, "gflops": 10.0, "edge": "e"}],
        edge=[{"name": "e", "cores": 1, "gflops": 1000.0, "access": "wired"}],
        cloud=None,
        task=[
            {
                "name": "t",
                "compute_ms": {"device": 120.0, "edge": 50.0},
                "input_bytes": 1000,
                "output_bytes": 100,
                "deadline_ms": 200.0,
            }
        ],
        workload={"kind": "poisson", "rate_hz": 1.0},
    )
    sc = parse_scenario(document)
    greedy = simulate(sc, "greedy-min-latency", "fast", tick_s=0.2)
    milp = simulate(sc, "milp", "fast", tick_s=0.2)
    assert milp["mean_latency_ms"] < 0.95 * greedy["mean_latency_ms"]
    assert milp["deadline_miss_rate"] < greedy["deadline_miss_rate"]
    short = sc.model_copy(update={"duration_s": 4.0})
    one_by_one = [simulate(short, p, "exact").runs for p in ("greedy-min-latency", "milp")]
    assert one_by_one[0] == one_by_one[1]


@pytest.mark.parametrize("engine", ENGINES)
def test_devices_alone_every_policy_runs_locally(engine: str) -> None:
    """No edge, no cloud: every policy (fixed tiers fall back) keeps tasks home; 2-core CPUs."""
    document = doc(
        device=[{"name": "d", "count": 3, "gflops": 10.0, "cores": 2}],
        edge=[],
        cloud=None,
        workload={"kind": "poisson", "rate_hz": 2.0},
    )
    sc = parse_scenario(document)
    means = set()
    for name in policies.names():
        result = simulate(sc, name, engine)
        assert result.runs[0]["placement"] == {"local": 1.0}, name
        means.add(round(result["mean_latency_ms"], 9))
    assert len(means) == 1 and 300.0 <= means.pop() < 400.0


@pytest.mark.parametrize("engine", ENGINES)
def test_bandwidth_trace_on_the_access_link(engine: str, tmp_path: Path) -> None:
    """The uplink drops from 8 to 0.8 Mbit/s at 5 s: 100 kB take 100 ms, then 1000 ms."""
    base = doc()
    access = {
        **base["edge"][0]["access"],
        "trace": {"times_s": [0, 5], "up_mbps": [8.0, 0.8], "down_mbps": [80.0, 80.0]},
    }
    document = doc(
        edge=[{**base["edge"][0], "access": access}],
        workload={"kind": "trace", "times_s": [1.0, 7.0]},
    )
    got = latencies_ms(document, "all-edge", engine, tmp_path)
    assert got == pytest.approx([131.0, 1031.0])
