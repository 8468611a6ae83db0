"""Scenario files: the packaged examples load, and every mistake names field, value and fix."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from sim_docs import doc

from skyline.errors import ConfigError
from skyline.graph import random_dag
from skyline.sim import Scenario, load_scenario, parse_scenario, scenario_names
from skyline.topology import Tier


def error(document: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_scenario(document)
    return str(info.value)


def test_packaged_scenarios_load() -> None:
    assert {"small", "campus"} <= set(scenario_names())
    for name in scenario_names():
        scenario = load_scenario(name)
        assert scenario.name == name and scenario.n_devices > 0


def test_presets_and_overrides_build_nodes_and_links() -> None:
    sc = parse_scenario(
        doc(
            device=[{"name": "cam", "count": 3, "preset": "rpi4", "power": {"idle_w": 2.0}}],
            edge=[{"name": "e", "access": {"preset": "wifi", "rtt_ms": 8}, "backhaul": "wan"}],
        )
    )
    cam = sc.devices[0].node()
    assert (cam.tier, cam.gflops, cam.power.idle_w, cam.power.active_w) == (
        Tier.DEVICE,
        8.0,
        2.0,
        6.4,
    )
    access = sc.edges[0].access
    assert access is not None and access.link("a", "b").up_mbps == 18.88
    assert access.link("a", "b").rtt_ms == 8
    assert sc.edges[0].node().tier == Tier.EDGE and sc.edges[0].cores == 4
    assert sc.n_devices == 3


def test_compute_time_per_node() -> None:
    sc = parse_scenario(doc(task=[{"name": "t", "flops": 2e9, "compute_ms": {"cloud": 7.0}}]))
    task = sc.tasks[0]
    assert task.compute_s(sc.devices[0].node()) == pytest.approx(0.2)  # 2 GFLOP / 10 GFLOP/s
    assert task.compute_s(sc.edges[0].node()) == pytest.approx(0.002)
    assert task.compute_s(sc.cloud.node()) == pytest.approx(0.007)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"device": [{"name": "d", "preset": "pi5", "edge": "e"}]},
            r"device\[0\]\.preset = 'pi5': unknown node preset 'pi5'\. Fix: use one of: host, "
            r"rpi4",
        ),
        (
            {"edge": [{"name": "e", "access": "wify"}]},
            r"edge\[0\]\.access\.preset = 'wify': unknown link preset 'wify'\. Fix: use one of: "
            r"3g, 4g",
        ),
        (
            {"workload": {"kind": "poisson", "rate_hz": -1}},
            r"workload\.rate_hz = -1: must be greater than or equal to 0\. Fix: set rate_hz to a "
            r"valid value \(tasks per second per device\), e\.g\. rate_hz = 0\.5",
        ),
        (
            {"device": [{"name": "d", "count": -3, "edge": "e"}]},
            r"device\[0\]\.count = -3: must be greater than or equal to 1",
        ),
        (
            {"edge": [{"name": "e", "access": {"preset": "wifi", "up_mbps": -5}}]},
            r"edge\[0\]\.access\.up_mbps = -5: must be greater than 0",
        ),
        (
            {"edge": [{"name": "e", "access": {"up_mbps": 10}}]},
            r"edge\[0\]\.access = \{'up_mbps': 10\}: link: down_mbps is required\. Fix: give "
            r"down_mbps, or a preset that sets it",
        ),
        (
            {"edge": [{"name": "e"}]},
            r"edge\[0\]\.access = None: edge 'e' has no access link, so devices would reach it "
            r"over a zero-hop route\. Fix: set access",
        ),
        (
            {"edge": [{"name": "e", "access": "wifi"}]},
            r"cloud\.name = 'cloud': cloud 'cloud' is unreachable: no edge has a backhaul.*Fix: "
            r"give an edge backhaul",
        ),
        (
            {
                "device": [{"name": "d"}],
                "edge": [{"name": "e", "access": "wifi", "x_m": 5000, "radius_m": 100}],
                "cloud": None,
            },
            r"edge\[0\]\.name = 'e': edge 'e' is unreachable: no device is ever in its coverage",
        ),
        (
            {"device": [{"name": "d", "edge": "f"}]},
            r"device\[0\]\.edge = 'f': device group 'd' is pinned to unknown edge 'f'\. Fix: use "
            r"one of: e",
        ),
        (
            {"workload": {"kind": "zipf"}},
            r"workload = \{'kind': 'zipf'\}: .*'poisson', 'bursty', 'trace'",
        ),
        (
            {"workload": {"kind": "trace", "times_s": [1.0, 0.5]}},
            r"workload\.times_s\[1\] = 0\.5: arrival times go back from 1\.0 to 0\.5",
        ),
        (
            {"workload": {"kind": "trace", "times_s": [1.0], "devices": [4]}},
            r"workload\.devices = 4: trace names device 4 but group 'd' has 1",
        ),
        (
            {"warmup_s": 10.0},
            r"warmup_s = 10\.0: warmup_s 10\.0 leaves nothing of duration_s 10\.0",
        ),
        (
            {"task": [{"name": "t", "host_ms": 5.0}]},
            r"task\[0\]\.compute_ms = \{\}: task 't' has no compute time on 'd' \(gflops given "
            r"there\)\. Fix: give compute_ms\.device",
        ),
        (
            {"task": [{"name": "t", "flops": 1e9}, {"name": "t", "flops": 2e9}]},
            r"task\[1\]\.name = 't': task name 't' is used twice",
        ),
        (
            {"device": [{"name": "e", "edge": "e"}]},
            r"edge\[0\]\.name = 'e': name 'e' is used twice",
        ),
        (
            {"mobility": {"kind": "random_waypoint", "speed_mps": [2, 1]}},
            r"mobility\.speed_mps = \[2\.0, 1\.0\]: speed_mps range \[2\.0, 1\.0\] has min "
            r"above max",
        ),
        ({"colour": "red"}, r"colour = 'red': unknown key 'colour' in the scenario"),
        (
            {"cloud": {"cores": 2, "colour": "red"}},
            r"cloud\.colour = 'red': unknown key 'colour' in cloud",
        ),
        ({"duration_s": None}, r"duration_s = None: must be a valid number"),
    ],
)
def test_bad_scenarios_say_what_and_how_to_fix(changes: dict[str, Any], expected: str) -> None:
    message = error(doc(**changes))
    assert re.search(expected, message), message
    assert "Fix:" in message


def test_missing_key_and_several_problems() -> None:
    document = doc()
    del document["workload"]
    assert re.search(r"^workload: Field required\. Fix: add workload \(", error(document))
    many = error(doc(duration_s=-1, replications=0))
    assert "2 problems" in many and "duration_s = -1" in many and "replications = 0" in many


def write(tmp_path: Path, text: str, name: str = "lab.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


LAB = """
    duration_s = 5

    [[device]]
    name = "cam"
    count = 2
    edge = "e"

    [[edge]]
    name = "e"
    access = "wifi"

    [[task]]
    name = "t"
    flops = 1e9

    [workload]
    kind = "trace"
    file = "arrivals.csv"
"""


def test_file_with_trace_csv(tmp_path: Path) -> None:
    (tmp_path / "arrivals.csv").write_text("time_s,device\n0.5,1\n1.25,0\n", encoding="utf-8")
    sc = load_scenario(write(tmp_path, LAB))
    assert isinstance(sc, Scenario) and sc.name == "lab"
    assert sc.workload.kind == "trace"
    assert (sc.workload.times_s, sc.workload.devices) == ([0.5, 1.25], [1, 0])


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, LAB)
    with pytest.raises(ConfigError, match=r"lab\.toml: workload\.file = 'arrivals\.csv'"):
        load_scenario(path)
    (tmp_path / "arrivals.csv").write_text("when\n1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a time_s"):
        load_scenario(path)
    bad = write(tmp_path, "duration_s = [", "bad.toml")
    with pytest.raises(ConfigError, match=r"bad\.toml: TOML syntax error"):
        load_scenario(bad)
    (tmp_path / "arrivals.csv").write_text("time_s\n1\n", encoding="utf-8")
    negative = write(tmp_path, LAB.replace("count = 2", "count = -2"), "neg.toml")
    with pytest.raises(ConfigError, match=r"neg\.toml: device\[0\]\.count = -2"):
        load_scenario(negative)
    with pytest.raises(ConfigError, match=r"neither a packaged scenario.*small"):
        load_scenario("nowhere")


def test_task_from_a_profiled_model(tmp_path: Path) -> None:
    graph = random_dag(30, seed=4)
    (tmp_path / "g.json").write_text(json.dumps(graph.to_dict()), encoding="utf-8")
    text = (
        LAB.replace("flops = 1e9", 'graph = "g.json"\n    output_bytes = 10')
        .replace('kind = "trace"', 'kind = "poisson"')
        .replace('file = "arrivals.csv"', "rate_hz = 1")
        .replace("count = 2", "count = 2\n    speed = 0.5")
    )
    sc = load_scenario(write(tmp_path, text))
    task = sc.tasks[0]
    assert task.flops == pytest.approx(graph.total_flops)
    assert task.host_ms == pytest.approx(graph.total_host_time_s * 1e3)
    assert task.input_bytes == sum(v.nbytes for v in graph.inputs)
    assert task.output_bytes == 10  # given beside the graph: kept
    # the device gives speed (profiled host time / 0.5), the edge preset gflops
    assert task.compute_s(sc.devices[0].node()) == pytest.approx(graph.total_host_time_s * 2)
    assert task.compute_s(sc.edges[0].node()) == pytest.approx(graph.total_flops / 2e12)
    (tmp_path / "g.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"task\[0\]\.graph = 'g\.json'.*not a profiled model"):
        load_scenario(tmp_path / "lab.toml")
    (tmp_path / "g.json").unlink()
    with pytest.raises(ConfigError, match=r"cannot read .*g\.json.*skyline profile"):
        load_scenario(tmp_path / "lab.toml")


def test_link_trace_from_csv(tmp_path: Path) -> None:
    (tmp_path / "cell.csv").write_text("time_s,up_mbps,down_mbps\n0,10,20\n30,2,4\n", "utf-8")
    (tmp_path / "arrivals.csv").write_text("time_s\n1\n", encoding="utf-8")
    text = LAB.replace('access = "wifi"', 'access = {preset = "wifi", trace = "cell.csv"}')
    sc = load_scenario(write(tmp_path, text))
    access = sc.edges[0].access
    assert access is not None and access.trace is not None
    assert access.link("d", "e").mbps("d", 40.0) == 2.0
    missing = write(tmp_path, text.replace("cell.csv", "gone.csv"), "gone.toml")
    with pytest.raises(ConfigError, match=r"edge\[0\]\.access\.trace = 'gone\.csv'.*not found"):
        load_scenario(missing)
