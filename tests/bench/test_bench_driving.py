"""The driving scenario: the route's radio and handovers, exits on the vehicle, and its --quick
run end to end (CLI, report, what each strategy does, reruns reproduce every non-timing number)."""

import json
import math

import numpy as np
import pytest
import torch
from bench_cli import run_quick, written_report

from skyline.bench.driving import DrivingWorkload, drive, exit_run
from skyline.bench.scenario import load_bench_scenario, parse_bench_scenario
from skyline.bench.suite import load_run, run_benchmark
from skyline.errors import ConfigError
from skyline.exits import fashion_exit_net

WORKLOAD = DrivingWorkload(
    route_m=1000, speed_mps=10, fps=1, rsu_spacing_m=500, ref_m=50, exponent=2, min_mbps=5
)


def test_route_rate_falls_with_distance_and_handover_cuts_the_link():
    route = drive(WORKLOAD, peak_mbps=100.0)
    assert len(route.t_s) == 100 and route.x_m[25] == 250.0
    # RSUs at 250 m and 750 m, 10 m off the road; the nearest serves
    assert route.rsu[49] == 0 and route.rsu[51] == 1
    assert route.up_mbps[25] == 100.0  # 10 m away: within ref_m
    assert route.up_mbps[15] == pytest.approx(100.0 * (50 / math.hypot(100, 10)) ** 2)
    assert route.up_mbps[0] == 5.0  # 250 m away: 4 Mbit/s by the law, floored at min_mbps
    # handover midway (500 m, t = 50 s), link down for 200 ms
    assert route.outages_s == ((50.0, 50.2),)
    assert route.ready_s(50.1) == 50.2 and route.ready_s(49.9) == 49.9
    assert not route.link_up(50) and route.link_up(51)
    assert route.known_mbps(51) == pytest.approx(1e-3)  # frame 50 met the outage
    assert route.known_mbps(52) == route.up_mbps[51]
    assert route.known_mbps(0) == route.up_mbps[0]


def test_a_drive_without_frames_is_refused_with_a_fix():
    with pytest.raises(ConfigError, match=r"workload\.route_m = 1\.0: the drive lasts.*Fix: "):
        parse_bench_scenario(
            {**load_bench_scenario("driving").model_dump(), "workload": {"route_m": 1.0}}
        )


def test_exit_run_stops_confident_crops_early():
    net = fashion_exit_net(seed=0).eval()
    x = torch.randn(8, 1, 28, 28)
    with torch.no_grad():
        final = net(x)[-1].argmax(1).numpy()
    host_s, predicted, exits = exit_run(net, x, (math.inf, math.inf))  # never exit early
    assert host_s > 0 and list(exits) == [2] * 8 and np.array_equal(predicted, final)
    _, predicted, exits = exit_run(net, x, (0.0, math.inf))  # everyone leaves at exit 0
    with torch.no_grad():
        first = net.forward_until(x, 0)[0].argmax(1).numpy()
    assert list(exits) == [0] * 8 and np.array_equal(predicted, first)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    return run_quick(tmp_path_factory.mktemp("driving"), "driving")


def test_quick_run_from_the_cli_writes_everything(quick_run):
    out, result = quick_run
    page = written_report(out, result)
    # latency CDF, 2 trade-offs, bandwidth and split along the route
    assert page.count("data:image/png;base64,") == 5
    for source in ("measured", "simulated", "predicted"):
        assert f'<b class="{source}">{source}</b>' in page
    assert "transfer times are simulated" in page  # the runner's method, in the report
    assert "adaptive-split" in result.output and "deadline_miss_rate" in result.output
    env = json.loads((out / "environment.json").read_text())
    assert env["quick"] and env["machine"]["torch_threads"] >= 1


def test_quick_run_tells_the_story(quick_run):
    run = load_run(quick_run[0])
    value = {(r.strategy, r.key): r.value for r in run.rows}
    source = {(r.strategy, r.key): r.source for r in run.rows}
    splits = ("vehicle-only", "static-split", "adaptive-split", "offload-min-latency")
    # the same model answers wherever it runs (raw tensors on the wire); exits trade a little
    assert value["vehicle-only", "top1_accuracy"] > 0.7
    assert {value[s, "top1_accuracy"] for s in splits} == {value["vehicle-only", "top1_accuracy"]}
    assert abs(value["early-exit", "top1_accuracy"] - value["vehicle-only", "top1_accuracy"]) < 0.05
    assert 0 < value["early-exit", "exit_rate"] <= 1
    # nothing leaves the vehicle unless a strategy offloads; adaptive offloads only near RSUs
    assert value["vehicle-only", "bytes_up"] == value["early-exit", "bytes_up"] == 0
    assert 0 < value["adaptive-split", "bytes_up"] < value["static-split", "bytes_up"]
    series = run.series["0"]
    shares = series["vehicle_share"]
    assert set(shares["adaptive-split"]) == {0.0, 1.0} and set(shares["vehicle-only"]) == {1.0}
    # static offloading waits out the handover outage (200 ms, twice the deadline) whatever the
    # compute time; adaptive re-planning runs on the vehicle there (the link is weak midway)
    outage = [i for i, mbps in enumerate(series["up_mbps"]) if mbps == 0.0]
    assert outage and max(series["latency_ms"]["static-split"]) > 2 * series["deadline_ms"]
    assert {shares["adaptive-split"][i] for i in outage} == {1.0}
    assert value["early-exit", "latency_p50_ms"] < value["vehicle-only", "latency_p50_ms"]
    assert source["vehicle-only", "latency_p95_ms"] == "predicted"
    assert source["early-exit", "top1_accuracy"] == "measured"
    assert source["static-split", "bytes_up"] == "simulated"


def _reproducible(rows):
    return {(r.seed, r.strategy, r.key): r.value for r in rows if not r.timing}


def test_rerun_from_the_same_seed_reproduces_non_timing_numbers(quick_run, tmp_path):
    first = load_run(quick_run[0])
    again = run_benchmark("driving", tmp_path, quick=True)
    kept = _reproducible(first.rows)
    assert len(kept) == 6 * 3 + 1 and kept == _reproducible(again.rows)  # + exit_rate
    series, series_again = first.series["0"], again.series["0"]
    for key in ("vehicle_share", "up_mbps", "thresholds"):
        assert series[key] == series_again[key]
