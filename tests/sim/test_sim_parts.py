"""The simulator's parts: arrivals, mobility, observations vs routes, streamed metrics."""

from __future__ import annotations

import gc
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sim_docs import doc

from skyline.errors import ConfigError
from skyline.sched import Observation, Policy
from skyline.sim import load_scenario, parse_scenario, simulate
from skyline.sim.engines.base import paused_gc
from skyline.sim.metrics import LatencyHistogram
from skyline.sim.mobility import NO_EDGE, Positions
from skyline.sim.workload import ArrivalStream
from skyline.sim.world import World


def stream(workload: dict[str, object], count: int = 200, seed: int = 0) -> ArrivalStream:
    device = {"name": "d", "count": count, "gflops": 10.0, "edge": "e"}
    sc = parse_scenario(doc(duration_s=1000.0, device=[device], workload=workload))
    return ArrivalStream(sc, np.random.default_rng(seed))


def test_poisson_counts_and_order() -> None:
    arrivals = stream({"kind": "poisson", "rate_hz": 0.5}).window(0.0, 100.0)
    # 200 devices x 0.5/s x 100 s = 10000 expected, sd 100
    assert abs(len(arrivals) - 10_000) < 400
    assert np.all(np.diff(arrivals.time_s) >= 0)
    assert arrivals.time_s.min() >= 0 and arrivals.time_s.max() < 100
    assert set(np.unique(arrivals.device)) == set(range(200))
    assert np.all(arrivals.work == 1.0)


def test_bursty_mean_rate_and_burstiness() -> None:
    spec = {"kind": "bursty", "on_rate_hz": 4.0, "mean_on_s": 2.0, "mean_off_s": 8.0}
    source = stream(spec)
    counts = [len(source.window(t, t + 10.0)) for t in np.arange(0.0, 1000.0, 10.0)]
    # mean rate 4 x 2 / 10 = 0.8/s per device: 200 devices x 10 s = 1600 per window
    assert np.mean(counts) == pytest.approx(1600, rel=0.05)
    per_device = np.bincount(source.window(1000.0, 1000.0).device, minlength=200)
    assert per_device.sum() == 0  # windows past the duration are empty
    one = stream(spec, count=1, seed=2)
    seconds = [len(one.window(t, t + 1.0)) for t in np.arange(0.0, 1000.0)]
    # on/off: far more variable than Poisson (index of dispersion 1)
    assert np.var(seconds) / np.mean(seconds) > 3


def test_trace_is_replayed_exactly() -> None:
    times = [0.5, 0.5, 2.25, 9.0]
    source = stream({"kind": "trace", "times_s": times, "devices": [3, 1, 0, 2]}, count=4)
    first = source.window(0.0, 2.25)
    assert first.time_s.tolist() == [0.5, 0.5] and first.device.tolist() == [3, 1]
    assert source.window(2.25, 10.0).device.tolist() == [0, 2]


def test_task_mix_and_exponential_work() -> None:
    tasks = [
        {"name": "a", "weight": 3, "flops": 1e9},
        {"name": "b", "weight": 1, "flops": 1e9, "service": "exp"},
    ]
    sc = parse_scenario(
        doc(duration_s=400.0, task=tasks, workload={"kind": "poisson", "rate_hz": 50.0})
    )
    arrivals = ArrivalStream(sc, np.random.default_rng(1)).window(0.0, 400.0)
    share_b = np.mean(arrivals.task_type == 1)
    assert share_b == pytest.approx(0.25, abs=0.01)
    assert np.all(arrivals.work[arrivals.task_type == 0] == 1.0)
    assert arrivals.work[arrivals.task_type == 1].mean() == pytest.approx(1.0, rel=0.03)


def test_random_waypoint_moves_inside_the_area_and_reattaches() -> None:
    sc = load_scenario("campus")
    pos = Positions(sc, np.random.default_rng(0))
    phones = slice(0, 200)
    start = pos.xy[phones].copy()
    seen = []
    for t in range(1, 121):
        pos.advance(float(t))
        assert np.all((pos.xy >= 0) & (pos.xy <= 600))
        seen.append(pos.attachment())
    moved = np.hypot(*(pos.xy[phones] - start).T)
    assert np.median(moved) > 10
    attach = np.array(seen)
    assert np.all(attach[:, 200:] == 0)  # cameras are pinned to the library
    assert (attach[:, phones] == NO_EDGE).any()  # some phones walk out of coverage
    assert (np.diff(attach[:, phones], axis=0) != 0).any()  # and between cells


def test_attachment_is_the_nearest_edge_in_coverage() -> None:
    edges = [
        {"name": n, "access": "wifi", "x_m": x, "y_m": 0.0, "radius_m": 100.0}
        for n, x in (("a", 0.0), ("b", 150.0))
    ]
    devices = [
        {"name": f"d{i}", "gflops": 10.0, "x_m": x, "y_m": 0.0}
        for i, x in enumerate([10.0, 80.0, 260.0, 400.0])
    ]
    sc = parse_scenario(doc(device=devices, edge=edges, cloud=None))
    attach = Positions(sc, np.random.default_rng(0)).attachment()
    assert attach.tolist() == [0, 1, NO_EDGE, NO_EDGE]


class Everywhere(Policy):
    """Each task to the column its index names (wrapping), to exercise every route."""

    name = "everywhere"
    uses_state = False

    def decide(self, obs: Observation) -> np.ndarray:
        width = obs.reachable.shape[1]
        wanted = np.arange(obs.n) % width
        return np.where(obs.reachable[np.arange(obs.n), wanted], wanted, 0)


@pytest.mark.parametrize("shared", [False, True])
def test_observation_predicts_the_idle_latency_of_every_route(shared: bool) -> None:
    """With no queueing, the Observation's latency for the chosen target is what happens."""
    base = doc()
    e, f = {**base["edge"][0], "shared_access": shared}, {**base["edge"][0], "name": "f"}
    devices = [
        {**base["device"][0], "count": 2},
        {"name": "roam", "count": 2, "gflops": 5.0, "x_m": 5000.0, "y_m": 0.0, "cloud_link": "4g"},
    ]
    sc = parse_scenario(doc(device=devices, edge=[e, f]))
    world = World(sc)
    device = np.repeat(np.arange(4), 4)
    task_type = np.zeros(16, dtype=np.int64)
    edge = np.array([0] * 8 + [-1] * 8)
    obs = world.observe(0.0, device, task_type, edge)
    target = Everywhere().place(obs)
    routes = world.routes(device, task_type, target, edge, np.ones(16))
    simulated = (routes.svc + routes.delay).sum(axis=1)
    predicted = obs.latency_s[np.arange(16), target]
    assert simulated == pytest.approx(predicted)
    assert sorted(set(target[:8].tolist())) == [0, 1, 2, 3]
    assert set(target[8:].tolist()) == {0, 3}  # out of coverage: local or the 4g cloud link
    assert routes.length[:8].tolist() == [1, 3, 7, 5] * 2
    assert obs.lanes[0].tolist() == [1, 1, 1, 4]  # device, e, f (1 core each), cloud 4


def test_histogram_quantiles_and_cdf() -> None:
    hist = LatencyHistogram()
    values = np.random.default_rng(0).exponential(0.1, size=100_000)
    hist.add(values)
    hist.add(np.array([0.0]))
    for q in (0.5, 0.95, 0.99):
        assert hist.quantile(q) == pytest.approx(np.quantile(values, q), rel=0.012)
    latency, fraction = hist.cdf()
    assert np.all(np.diff(latency) > 0) and np.all(np.diff(fraction) > 0)
    assert fraction[-1] == pytest.approx(1.0) and latency[0] == 0.0
    other = LatencyHistogram()
    other.add(np.array([1e9]))
    hist.merge(other)
    assert hist.total == 100_002 and hist.quantile(1.0) > 1e5
    assert np.isnan(LatencyHistogram().quantile(0.5))


def test_records_file_has_one_line_per_measured_task(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    document = doc(warmup_s=2.0, workload={"kind": "trace", "times_s": [1.0, 3.0, 4.0]})
    result = simulate(parse_scenario(document), "all-edge", "fast", records=path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == result["tasks"] == 2
    assert rows[0] == {
        "replication": 0,
        "device": "d-0",
        "task": "t",
        "target": "e",
        "arrival_s": 3.0,
        "latency_ms": pytest.approx(131.0),
        "missed": False,
    }


def test_records_path_must_be_writable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot write task records"):
        simulate(parse_scenario(doc()), "all-local", "exact", records=tmp_path / "no" / "x.jsonl")


def test_result_json_and_progress() -> None:
    seen: list[float] = []
    result = simulate("small", "round-robin", "exact", replications=2, progress=seen.append)
    data = result.to_dict()
    assert data["replications"] == 2 and len(data["runs"]) == 2
    assert data["summary"]["tasks"] == np.mean([r["tasks"] for r in data["runs"]])
    assert data["latency_cdf"]["fraction"][-1] == pytest.approx(1.0)
    assert seen == sorted(seen) and seen[-1] == 1.0 and seen[0] < 0.5
    json.dumps(data)


def two_cells(**mobility: object) -> dict[str, object]:
    """Cells a (x 0) and b (x 1000), radius 300; one unpinned device, arrivals at 1 s and 7 s."""
    edges = [
        {"name": n, "access": "wifi", "x_m": x, "y_m": 0.0, "radius_m": 300.0}
        for n, x in (("a", 0.0), ("b", 1000.0))
    ]
    device = {"name": "d", "gflops": 10.0, "x_m": 0.0, "y_m": 0.0}
    return doc(
        device=[device],
        edge=edges,
        cloud=None,
        workload={"kind": "trace", "times_s": [1.0, 7.0]},
        mobility={"kind": "trace", **mobility},
    )


def test_position_trace_moves_devices_between_cells(tmp_path: Path) -> None:
    trace = {
        "times_s": [0.0, 5.0],
        "devices": ["d-0", "d-0"],
        "x_m": [10.0, 990.0],
        "y_m": [0.0, 0.0],
    }
    sc = parse_scenario(two_cells(trace=trace))
    pos = Positions(sc, np.random.default_rng(0))
    seen = []
    for t in (0.0, 4.0, 5.0, 6.0):
        pos.advance(t)
        seen.append(int(pos.attachment()[0]))
    assert seen == [0, 0, 1, 1]
    records = tmp_path / "tasks.jsonl"
    for engine in ("exact", "fast"):
        simulate(sc, "all-edge", engine, records=records)
        targets = [json.loads(line)["target"] for line in records.read_text().splitlines()]
        assert sorted(targets) == ["a", "b"], engine  # the 1 s task in a, the 7 s one in b


def test_position_trace_errors_and_csv(tmp_path: Path) -> None:
    bad = {"times_s": [0.0], "devices": ["d-7"], "x_m": [0.0], "y_m": [0.0]}
    with pytest.raises(ConfigError, match=r"mobility\.trace\.devices\[0\] = 'd-7'.*not exist"):
        parse_scenario(two_cells(trace=bad))
    with pytest.raises(ConfigError, match=r"mobility\.trace = 'trace': a position trace goes"):
        parse_scenario(two_cells())
    uneven = {"times_s": [0.0, 1.0], "devices": ["d-0"], "x_m": [0.0], "y_m": [0.0]}
    with pytest.raises(ConfigError, match="devices has 1 entries but times_s has 2"):
        parse_scenario(two_cells(trace=uneven))
    (tmp_path / "pos.csv").write_text("time_s,device,x_m,y_m\n0,cam-1,5,6\n", encoding="utf-8")
    scenario = """
        duration_s = 5
        [[device]]
        name = "cam"
        count = 2
        [[edge]]
        name = "e"
        access = "wifi"
        [[task]]
        name = "t"
        flops = 1e9
        [workload]
        kind = "poisson"
        rate_hz = 1
        [mobility]
        kind = "trace"
        file = "pos.csv"
    """
    (tmp_path / "s.toml").write_text(textwrap.dedent(scenario), encoding="utf-8")
    trace = load_scenario(tmp_path / "s.toml").mobility.trace
    assert trace is not None and (trace.devices, trace.x_m, trace.y_m) == (["cam-1"], [5.0], [6.0])


def test_paused_gc_restores_the_collector() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # left as it was
    finally:
        gc.enable()
