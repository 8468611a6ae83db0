"""The healthcare scenario: its settings checks, local-only training without Ray, and its
--quick run end to end (CLI, report, bytes, epsilon and communication time against hand
computations, reruns reproduce every non-timing number)."""

import json
import math

import pytest
from bench_cli import run_quick, written_report
from opacus.accountants import RDPAccountant

from skyline.bench.healthcare import HealthSettings, HealthWorkload, fl_config, local_only
from skyline.bench.scenario import load_bench_scenario, parse_bench_scenario
from skyline.bench.suite import load_run, run_benchmark
from skyline.errors import ConfigError
from skyline.fl.task import client_data

MODEL_BYTES = (30 * 64 + 64 + 64 * 2 + 2) * 4  # the 30-64-2 MLP in float32: 8,456 bytes
HOSPITALS, CLINICS, ROUNDS, EDGE_ROUNDS = 4, 8, 3, 2  # the quick variant


def test_settings_name_the_fix():
    doc = load_bench_scenario("healthcare").model_dump()
    with pytest.raises(ConfigError, match="rpi4"):
        parse_bench_scenario({**doc, "workload": {"device": "cloud-server"}}).settings()
    with pytest.raises(ConfigError, match="wifi"):
        parse_bench_scenario({**doc, "workload": {"backhaul": "fibre"}}).settings()


def test_link_overrides_are_refused_not_ignored(tmp_path):
    doc = load_bench_scenario("healthcare").model_dump(exclude_none=True)
    doc["links"] = {"edge-cloud": {"rtt_ms": 80.0}}
    with pytest.raises(ConfigError, match=r"workload\.access"):
        run_benchmark(parse_bench_scenario(doc), tmp_path, quick=True)


def test_local_only_trains_each_hospital_alone_reproducibly():
    settings = HealthSettings(workload=HealthWorkload(rounds=1, edge_rounds=1))
    config = fl_config(settings, "local-only", 1)
    first = local_only(config)
    assert len(first) == HOSPITALS and all(0 <= a <= 1 for a in first)
    assert local_only(config) == first


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    return run_quick(tmp_path_factory.mktemp("healthcare"), "healthcare")


def test_quick_run_from_the_cli_writes_everything(quick_run):
    out, result = quick_run
    page = written_report(out, result)
    assert page.count("data:image/png;base64,") == 4  # 2 trade-offs, accuracy vs eps and bytes
    for source in ("measured", "predicted"):
        assert f'<b class="{source}">{source}</b>' in page
    assert "a stand-in for hospital records" in page  # the description and the method say so
    assert "epsilon" in result.output and "hier-dp-z2" in result.output
    assert json.loads((out / "environment.json").read_text())["quick"]


def _epsilon_by_hand(task, noise, epochs, delta):
    """Opacus's accountant over each clinic's DP-SGD: Poisson rate 1 / (batches per epoch),
    that many steps per epoch; the worst clinic's epsilon."""
    worst = 0.0
    for cid in range(task.clients):
        batches = math.ceil(len(client_data(task, cid)) / task.batch_size)
        accountant = RDPAccountant()
        accountant.history = [(noise, 1 / batches, batches * epochs)]
        worst = max(worst, accountant.get_epsilon(delta))
    return worst


def test_quick_run_numbers_match_hand_computations(quick_run):
    rows = load_run(quick_run[0]).rows
    value = {(r.strategy, r.key): r.value for r in rows}
    source = {(r.strategy, r.key): r.source for r in rows}
    # bytes: every model travels down and every update up, once per hop
    edge_cloud = ROUNDS * HOSPITALS * 2 * MODEL_BYTES
    device_edge = ROUNDS * EDGE_ROUNDS * CLINICS * 2 * MODEL_BYTES
    for strategy in ("hier-fedavg", "hier-dp-z2"):
        assert value[strategy, "bytes_edge_cloud"] == edge_cloud
        assert value[strategy, "bytes_device_edge"] == device_edge
        # per cloud round: WAN (100 Mbit/s, RTT 40 ms) down and up, and per hospital round
        # Wi-Fi down (50 Mbit/s) and up (18.88 Mbit/s), RTT 5 ms; each hop bits / rate + RTT/2
        bits = 8 * MODEL_BYTES
        wan = bits / 100e6 + 0.020
        wifi = bits / 50e6 + 0.0025 + bits / 18.88e6 + 0.0025
        expected = ROUNDS * (2 * wan + EDGE_ROUNDS * wifi)
        assert value[strategy, "comm_time_s"] == pytest.approx(expected, rel=1e-9)
        # rpi4 Wi-Fi radio: 283.17 nJ/bit sent, 137.01 nJ/bit received, per clinic round
        radio = CLINICS * ROUNDS * EDGE_ROUNDS * bits * (283.17e-9 + 137.01e-9)
        assert value[strategy, "energy_j"] == pytest.approx(radio, rel=1e-9)
    assert value["local-only", "bytes_edge_cloud"] == value["local-only", "bytes_device_edge"] == 0
    # epsilon: the accountant's bound for every clinic's DP-SGD, the worst clinic reported
    settings = load_bench_scenario("healthcare").quick_variant().settings()
    task = fl_config(settings, "hier-dp-z2", 0).task
    by_hand = _epsilon_by_hand(task, 2.0, ROUNDS * EDGE_ROUNDS, 1e-5)
    assert value["hier-dp-z2", "epsilon"] == pytest.approx(by_hand, rel=1e-9)
    assert ("hier-fedavg", "epsilon") not in value
    # provenance
    assert source["hier-fedavg", "accuracy"] == "measured"
    assert source["hier-fedavg", "bytes_edge_cloud"] == "measured"
    assert source["hier-dp-z2", "epsilon"] == "predicted"
    assert source["hier-fedavg", "comm_time_s"] == "predicted"
    # learning works, with and without DP
    assert value["hier-fedavg", "accuracy"] > 0.9
    assert value["hier-dp-z2", "accuracy"] > 0.8


def _reproducible(rows):
    return {(r.seed, r.strategy, r.key): r.value for r in rows if not r.timing}


def test_rerun_from_the_same_seed_reproduces_non_timing_numbers(quick_run, tmp_path):
    first = load_run(quick_run[0])
    again = run_benchmark("healthcare", tmp_path, quick=True)
    kept = _reproducible(first.rows)
    assert len(kept) == len(first.rows) >= 15 and kept == _reproducible(again.rows)
    assert first.series["0"] == again.series["0"]  # accuracy, epsilon, bytes after every round
