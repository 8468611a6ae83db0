"""`skyline simulate`: table, JSON, plots and records end to end; errors as one red line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from skyline.cli import app

runner = CliRunner(env={"COLUMNS": "250"})


def run(*args: str) -> Result:
    return runner.invoke(app, ["simulate", *args])


def fails(*args: str) -> str:
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and "Traceback" not in result.output
    return result.stderr


def test_compare_policies_with_json_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "plots"
    result = run(
        "small",
        "-p",
        "all-local",
        "-p",
        "greedy-min-latency",
        "--replications",
        "1",
        "--json",
        str(tmp_path / "sim.json"),
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert "Simulated: small, exact engine, 1 replication(s)" in result.stdout
    assert "all-local" in result.stdout and "greedy-min-latency" in result.stdout
    assert "100 / 0 / 0" in result.stdout  # all-local runs everything on the device
    data = json.loads((tmp_path / "sim.json").read_text())
    assert list(data) == ["all-local", "greedy-min-latency"]
    local, greedy = data["all-local"]["summary"], data["greedy-min-latency"]["summary"]
    assert local["tasks"] == greedy["tasks"] > 100
    assert greedy["mean_latency_ms"] < local["mean_latency_ms"]
    assert data["all-local"]["tier_shares"] == {"device": 1.0, "edge": 0.0, "cloud": 0.0}
    pngs = sorted(p.name for p in out.iterdir())
    assert pngs == [
        f"simulate-small-exact-{kind}.png"
        for kind in ("deadline-misses", "energy", "latency-cdf", "utilization")
    ]


def test_fast_engine_scenario_file_and_records(tmp_path: Path) -> None:
    scenario = Path(__file__).parents[2] / "src/skyline/sim/scenarios/small.toml"
    records = tmp_path / "tasks.jsonl"
    result = run(
        str(scenario), "-e", "fast", "-p", "all-edge", "--tick-ms", "10", "--records", str(records)
    )
    assert result.exit_code == 0, result.output
    assert "fast engine, 2 replication(s)" in result.stdout
    rows = [json.loads(line) for line in records.read_text().splitlines()]
    assert {r["replication"] for r in rows} == {0, 1}
    assert {r["target"] for r in rows} == {"edge-1"}


def test_a_failing_policy_is_reported_and_the_others_run() -> None:
    # 1 s ticks hold more tasks than the milp policy takes in one batch (40)
    result = run("campus", "-e", "fast", "--tick-ms", "1000", "-p", "all-edge", "-p", "milp")
    assert result.exit_code == 0, result.output
    assert "all-edge" in result.stdout
    assert "milp: no result: policy 'milp' solves batches of at most 40 tasks" in result.stdout
    assert "milp" in fails("campus", "-e", "fast", "--tick-ms", "1000", "-p", "milp")


def test_errors() -> None:
    assert "unknown policy 'fastest'" in fails("small", "-p", "fastest")
    assert "unknown engine 'warp'" in fails("small", "-e", "warp")
    assert "neither a packaged scenario" in fails("nowhere.toml")
    assert "--tick-ms -1 is not positive" in fails("small", "--tick-ms", "-1")
    assert "--records takes one policy" in fails("small", "--records", "x.jsonl")
