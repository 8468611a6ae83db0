"""Scenario files, their errors, the runner plug-in contract, run folders and the HTML report,
exercised with a tiny toy runner so no model is trained."""

import csv
import json
from typing import ClassVar

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict, Field

from skyline.bench.html_report import write_html_report
from skyline.bench.runner import RUNNERS, ScenarioRunner, SeedContext
from skyline.bench.scenario import load_bench_scenario, parse_bench_scenario
from skyline.bench.suite import load_run, run_benchmark
from skyline.errors import ConfigError, RegistryError


class ToyWorkload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requests: int = Field(20, ge=1, description="requests per strategy", examples=[20])


class ToySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    models: dict[str, str] = {}
    workload: ToyWorkload = ToyWorkload()


class ToyRunner(ScenarioRunner):
    """Latency from a seeded generator (predicted), an F1 that depends on the strategy."""

    name = "test-toy"
    strategies: ClassVar = ("fast", "slow", "unused")
    phases: ClassVar = ("late",)
    settings_model = ToySettings

    def run_seed(self, ctx: SeedContext) -> None:
        n = ctx.settings.workload.requests  # type: ignore[attr-defined]
        rng = np.random.default_rng(ctx.seed)
        ctx.series["latency_ms"] = {}
        ctx.series["latency_source"] = {}
        for strategy in ctx.scenario.strategies:
            scale = 10.0 if strategy == "fast" else 50.0
            lat = rng.exponential(scale, n)
            ctx.add(strategy, "latency_p95_ms", float(np.percentile(lat, 95)), "predicted")
            ctx.add(strategy, "f1", 0.9 if strategy == "fast" else 0.5, "measured", phase="late")
            ctx.series["latency_ms"][strategy] = lat.tolist()
            ctx.series["latency_source"][strategy] = "predicted"


RUNNERS.add(ToyRunner)

DOC = {
    "name": "toy",
    "kind": "test-toy",
    "seeds": 2,
    "topology": "edge-cloud",
    "strategies": ["slow", "fast"],
    "metrics": ["latency_p95_ms", "f1@late"],
    "pareto": [["latency_p95_ms", "f1@late"]],
    "workload": {"requests": 50},
    "quick": {"seeds": 1, "workload": {"requests": 5}},
}


def parse(**changes):
    return parse_bench_scenario({**DOC, **changes}, where="toy.toml: ")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"kind": "nope"}, r"kind = 'nope': unknown scenario kind 'nope'.*industrial"),
        ({"kind": "skyline.bench.metrics:Metric"}, r"kind = .*not a ScenarioRunner subclass"),
        ({"kind": "tests_toy:ToyRunner"}, r"kind = .*cannot import module 'tests_toy'"),
        ({"strategies": ["fast", "warp"]}, r"strategies\[1\] = 'warp'.*use some of: fast, slow"),
        ({"metrics": ["latency_ms"]}, r"metrics\[0\] = 'latency_ms': unknown metric.*f1"),
        ({"metrics": ["f1@early"]}, r"metrics\[0\] = 'f1@early': test-toy has no phase.*late"),
        ({"pareto": [["f1", "joules"]]}, r"pareto\[0\]\[1\] = 'joules': unknown metric"),
        ({"seeds": 0}, r"seeds = 0: .*greater than or equal to 1. Fix: set seeds"),
        ({"strategies": []}, r"strategies = \[\]: .*Fix: set strategies \(strategies to compare"),
        ({"speed": 3}, r"speed = 3: unknown key. Fix: remove it"),
        ({"workload": {"requests": 0}}, r"workload.requests = 0: .*requests per strategy.*= 20"),
        ({"workload": {"request": 3}}, r"workload.request = 3: unknown key"),
    ],
)
def test_bad_scenarios_name_field_value_and_fix(changes, expected):
    with pytest.raises(ConfigError, match=expected):
        parse(**changes)


def test_bad_link_override_and_unknown_file(tmp_path):
    with pytest.raises(ConfigError, match=r"links.edge-cloud.up_mbps = -1"):
        parse(links={"edge-cloud": {"up_mbps": -1}})
    with pytest.raises(ConfigError, match="neither a packaged scenario"):
        load_bench_scenario(str(tmp_path / "missing.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text('kind = "test-toy"\nstrategies = [\n')
    with pytest.raises(ConfigError, match="TOML syntax error"):
        load_bench_scenario(bad)


def test_file_resolves_trace_csv_and_topology_beside_it(tmp_path):
    (tmp_path / "up.csv").write_text("time_s,up_mbps,down_mbps\n0,10,20\n5,1,2\n")
    (tmp_path / "topo.toml").write_text(
        '[[node]]\nname = "edge"\ntier = "edge"\nspeed = 1\n'
        '[[node]]\nname = "cloud"\ntier = "cloud"\nspeed = 4\n'
        '[[link]]\na = "edge"\nb = "cloud"\npreset = "wan"\n'
    )
    (tmp_path / "s.toml").write_text(
        'kind = "test-toy"\ntopology = "topo.toml"\nstrategies = ["fast"]\nmetrics = ["f1"]\n'
        '[links.edge-cloud]\ntrace = "up.csv"\nrtt_ms = 7\n'
    )
    sc = load_bench_scenario(tmp_path / "s.toml")
    assert sc.name == "s"
    link = sc.build_topology().link("edge", "cloud")
    assert link.rtt_ms == 7 and link.mbps("edge", 6.0) == 1
    (tmp_path / "s.toml").write_text(
        'kind = "test-toy"\nstrategies = ["fast"]\nmetrics = ["f1"]\n'
        '[links.edge-cloud]\ntrace = "gone.csv"\n'
    )
    with pytest.raises(ConfigError, match=r"links.edge-cloud.trace = 'gone.csv'.*not found"):
        load_bench_scenario(tmp_path / "s.toml")


def test_quick_variant_merges_over_workload():
    sc = parse(workload={"requests": 50}).quick_variant()
    assert sc.seeds == 1 and sc.workload == {"requests": 5} and sc.quick == {}


def test_packaged_industrial_loads_and_has_a_quick_version():
    sc = load_bench_scenario("industrial")
    quick = sc.quick_variant()
    assert sc.kind == "industrial" and quick.seeds == 1
    assert quick.workload["duration_s"] < sc.workload["duration_s"]
    assert sc.build_topology().link("edge", "cloud").trace is not None


def test_plugin_contract_is_checked():
    class Nameless(ToyRunner):
        name = ""

    with pytest.raises(RegistryError, match="no `name`"):
        RUNNERS.add(Nameless)
    with pytest.raises(RegistryError, match="already registered"):
        RUNNERS.register("test-toy", Nameless)


def test_run_folder_csv_jsonl_and_report(tmp_path):
    seen = []
    run = run_benchmark(parse(), tmp_path, progress=lambda f, label: seen.append(f))
    assert seen[-1] == pytest.approx(1.0) and run.environment["seeds"] == [0, 1]
    assert run.environment["machine"]["logical_cpus"] >= 1
    assert len(run.environment["load_average_after_1_5_15_min"]) == 3
    with (tmp_path / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * 2 * 2  # seeds x strategies x metrics
    assert {r["source"] for r in rows} == {"predicted", "measured"}
    first = json.loads((tmp_path / "results.jsonl").read_text().splitlines()[0])
    assert first["unit"] == "ms" and first["lower_is_better"] is True
    assert load_run(tmp_path).rows == run.rows
    page = write_html_report(tmp_path).read_text()
    assert page.count("data:image/png;base64,") == 2  # latency CDF, trade-off
    assert "Pareto-optimal: fast." in page  # fast: lower latency and higher F1
    # ranked by the first metric (p95 latency, lower is better): fast before slow
    board = page[page.index("Leaderboard") : page.index("Where the numbers")]
    assert board.index("<td>fast</td>") < board.index("<td>slow</td>")
    assert '<b class="predicted">predicted</b>' in page and "latency_p95_ms" in page


def test_rerun_from_same_seed_reproduces(tmp_path):
    first = run_benchmark(parse(), tmp_path / "a", quick=True)
    again = run_benchmark(parse(), tmp_path / "b", quick=True)
    assert first.rows == again.rows and first.series == again.series
    assert first.environment["quick"] and len(first.rows) == 4


def test_report_refuses_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(ConfigError, match=r"not a benchmark run folder.*results\.jsonl"):
        write_html_report(tmp_path)
