"""Replications and sweeps on Ray give exactly the in-process results; records stay in-process.

One private local Ray cluster (2 CPUs) serves the whole module; it starts in a few seconds.
Joining a bad address is not tested: Ray's client takes 30 s to give up.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from skyline._ray import ensure_ray
from skyline.cli import app
from skyline.errors import ConfigError, PlanError
from skyline.sched import Policy
from skyline.sched.observation import Observation
from skyline.sim import SimResult, SweepPoint, load_scenario, parse_scenario, simulate, sweep

pytest.importorskip("ray")

SHORT = load_scenario("small").model_copy(update={"duration_s": 20.0})


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray = ensure_ray(num_cpus=2)
    yield
    ray.shutdown()  # later modules (Flower's simulation) start Ray their own way


def measured(result: SimResult) -> dict[str, Any]:
    """Everything a result holds but the CPU time, which no two runs share."""
    return {k: v for k, v in result.to_dict().items() if k != "cpu_s"}


def assert_same(here: SimResult, there: SimResult) -> None:
    assert measured(there) == measured(here)
    np.testing.assert_array_equal(there.histogram.counts, here.histogram.counts)


@pytest.mark.parametrize("engine", ["exact", "fast"])
def test_replications_on_ray_equal_in_process(cluster: None, engine: str) -> None:
    here = simulate(SHORT, "greedy-min-latency", engine, replications=3)
    seen: list[float] = []
    there = simulate(
        SHORT, "greedy-min-latency", engine, replications=3, ray=True, progress=seen.append
    )
    assert_same(here, there)
    assert [r["tasks"] for r in there.runs] == [r["tasks"] for r in here.runs]  # in order
    assert len({r["tasks"] for r in here.runs}) > 1  # ... which is visible: they differ
    assert seen == pytest.approx([1 / 3, 2 / 3, 1.0])  # one report per finished replication
    assert there.cpu_s > 0


def test_records_with_ray_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    with pytest.raises(ConfigError, match=r"records .*not on Ray.*leave out ray"):
        simulate(SHORT, "all-local", replications=1, records=path, ray=True)
    assert not path.exists()


def test_a_workers_error_arrives_as_itself(cluster: None) -> None:
    class Refuses(Policy):  # defined here, so Ray ships the class itself to the worker
        name = "refuses"

        def decide(self, obs: Observation) -> np.ndarray:
            raise PlanError("refusing on purpose", fix="pick another policy")

    with pytest.raises(PlanError, match=r"^refusing on purpose\. Fix: pick another policy$"):
        simulate(SHORT, Refuses(), replications=2, ray=True)


def test_sweep_on_ray_equals_in_process(cluster: None) -> None:
    grid: dict[str, Any] = {
        "policies": ["all-local", "greedy-min-latency"],
        "rate_scale": [0.5, 2.0],
        "device_scale": [1.0, 0.5],
        "replications": 2,
    }
    seen: list[float] = []
    here = sweep(SHORT, **grid, progress=seen.append)
    there = sweep(SHORT, **grid, ray=True)
    assert list(there) == list(here)
    assert list(here)[:2] == [
        SweepPoint(0.5, 1.0, "exact", "all-local"),
        SweepPoint(0.5, 1.0, "exact", "greedy-min-latency"),
    ]
    for point, result in here.items():
        assert_same(result, there[point])
    assert seen == sorted(seen) and seen[-1] == 1.0
    # the knobs do what they say: more load, more tasks; half the phones, half the tasks
    tasks = {(p.rate_scale, p.device_scale): r["tasks"] for p, r in here.items()}
    assert tasks[2.0, 1.0] > 3 * tasks[0.5, 1.0]
    assert tasks[2.0, 0.5] == pytest.approx(tasks[2.0, 1.0] / 2, rel=0.3)
    assert len(here[SweepPoint(2.0, 0.5, "exact", "all-local")].runs[0]["placement"]) == 3


def test_sweep_refuses_what_it_cannot_scale() -> None:
    traced = SHORT.model_dump()
    traced["workload"] = {"kind": "trace", "times_s": [1.0, 2.0], "devices": [0, 19]}
    sc = parse_scenario(traced)
    with pytest.raises(ConfigError, match="trace workload"):
        sweep(sc, ["all-local"], rate_scale=[2.0])
    with pytest.raises(ConfigError, match=r"device_scale 0\.5: .*device 19 but group"):
        sweep(sc, ["all-local"], device_scale=[0.5])
    with pytest.raises(ConfigError, match="sweep over no engines"):
        sweep(SHORT, ["all-local"], engines=[])


def test_cli_simulate_on_ray(cluster: None, tmp_path: Path) -> None:
    runner = CliRunner(env={"COLUMNS": "250"})
    out = tmp_path / "sim.json"
    args = ["simulate", "small", "-p", "all-edge", "--replications", "2", "--json", str(out)]
    result = runner.invoke(app, [*args, "--ray"])
    assert result.exit_code == 0, result.output
    assert "Simulated: small, exact engine, 2 replication(s)" in result.stdout
    expected = simulate("small", "all-edge", replications=2)
    assert json.loads(out.read_text())["all-edge"]["runs"] == json.loads(json.dumps(expected.runs))
    refused = runner.invoke(app, [*args, "--ray", "--records", str(tmp_path / "t.jsonl")])
    assert refused.exit_code == 2 and refused.stderr.startswith("error: per-task records")


def test_importing_the_simulator_does_not_import_ray() -> None:
    code = "import sys, skyline.sim; assert 'ray' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
