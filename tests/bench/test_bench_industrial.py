"""The industrial scenario: seeded sensor streams, and its --quick run end to end (CLI, report,
retraining beats the static model after drift, reruns reproduce every non-timing number)."""

import json
import math

import numpy as np
import pytest
from bench_cli import run_quick, written_report

from skyline.bench.sensors import FAULT_KINDS, StreamSpec, machinery_stream
from skyline.bench.suite import load_run, run_benchmark

SPEC = StreamSpec(machines=2, duration_s=20.0, drift_at_s=10.0)


def test_stream_is_seeded_and_labels_follow_the_faults():
    a, b = machinery_stream(SPEC, 3), machinery_stream(SPEC, 3)
    assert np.array_equal(a.windows, b.windows) and a.events == b.events
    assert not np.array_equal(a.windows, machinery_stream(SPEC, 4).windows)
    n_win = int(20.0 * 2000) // 256
    assert a.windows.shape == (2 * n_win, 256) and a.windows.dtype == np.float32
    assert list(a.machine[:4]) == [0, 1, 0, 1]
    assert a.arrival_s[0] == a.arrival_s[1] == pytest.approx(0.128)
    assert {e.kind for e in a.events} <= set(FAULT_KINDS) and a.events
    # label 1 exactly when at least half of the window's samples lie inside a fault
    for i in range(len(a.label)):
        lo = (i // 2) * 256
        covered = sum(
            max(0, min(lo + 256, int(e.end_s * 2000)) - max(lo, int(e.onset_s * 2000)))
            for e in a.events
            if e.machine == a.machine[i]
        )
        assert a.label[i] == (covered >= 128), i
    assert 0 < a.label.mean() < 0.5


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    return run_quick(tmp_path_factory.mktemp("industrial"), "industrial")


def test_quick_run_from_the_cli_writes_everything(quick_run):
    out, result = quick_run
    page = written_report(out, result)
    assert page.count("data:image/png;base64,") == 4  # latency CDF, 2 trade-offs, accuracy
    for source in ("measured", "simulated", "predicted"):
        assert f'<b class="{source}">{source}</b>' in page
    assert "The stream clock is simulated" in page  # the runner's method, in the report
    assert "f1@after-retrain" in result.output and "edge-cloud-retrain" in result.output
    env = json.loads((out / "environment.json").read_text())
    assert env["quick"] and env["torch"] and env["machine"]["torch_threads"] >= 1


def test_quick_run_tells_the_story(quick_run):
    rows = load_run(quick_run[0]).rows
    value = {(r.strategy, r.key): r.value for r in rows}
    source = {(r.strategy, r.key): r.source for r in rows}
    # drift hurts the static model; cloud retraining recovers
    assert value["edge-static", "f1@before-drift"] > 0.7
    assert value["edge-static", "f1@after-retrain"] < value["edge-static", "f1@before-drift"]
    assert (
        value["edge-cloud-retrain", "f1@after-retrain"]
        > value["edge-static", "f1@after-retrain"] + 0.2
    )
    assert value["edge-cloud-retrain", "model_swaps"] >= 1
    assert value["edge-cloud-retrain", "bytes_down"] > 0
    # bytes: nothing up from the static edge, a sample from the retraining edge, all of it
    # from cloud-only
    assert value["edge-static", "bytes_up"] == 0
    assert 0 < value["edge-cloud-retrain", "bytes_up"] < value["cloud-only", "bytes_up"]
    # edge latency is measured; cloud-only latency is predicted by the link model
    assert source["edge-static", "latency_p95_ms"] == "measured"
    assert source["cloud-only", "latency_p95_ms"] == "predicted"
    assert value["cloud-only", "latency_p50_ms"] > 40  # WAN RTT alone is 40 ms
    assert value["cloud-only", "deadline_miss_rate"] > 0  # while the uplink sags
    assert value["edge-static", "deadline_miss_rate"] < 0.01


def _reproducible(rows):
    return {
        (r.seed, r.strategy, r.key): r.value
        for r in rows
        if not r.timing and not (isinstance(r.value, float) and math.isnan(r.value))
    }


def test_rerun_from_the_same_seed_reproduces_non_timing_numbers(quick_run, tmp_path):
    first = load_run(quick_run[0])
    again = run_benchmark("industrial", tmp_path, quick=True)
    kept = _reproducible(first.rows)
    assert len(kept) > 50 and kept == _reproducible(again.rows)
    nan_keys = {(r.strategy, r.key) for r in first.rows if math.isnan(r.value)}
    assert nan_keys == {(r.strategy, r.key) for r in again.rows if math.isnan(r.value)}
    series, series_again = first.series["0"], again.series["0"]
    assert series["accuracy"] == series_again["accuracy"]
    assert series["swaps_s"] == series_again["swaps_s"]
