"""EdgeSimPy import: a hand-written dataset in their schema, hand-checked counts and latency."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from skyline.cli import app
from skyline.errors import ConfigError
from skyline.sim import ENGINES, simulate
from skyline.sim.edgesimpy import from_edgesimpy


def ref(cls: str, id_: int) -> dict[str, Any]:
    return {"class": cls, "id": id_}


def dataset() -> dict[str, Any]:
    """Two base stations with a server each, joined by one link; user 1 walks from 1 to 2."""
    return {
        "BaseStation": [
            {
                "attributes": {"id": i, "coordinates": [x, 0], "wireless_delay": 5},
                "relationships": {
                    "edge_servers": [ref("EdgeServer", i)],
                    "network_switch": ref("NetworkSwitch", i),
                },
            }
            for i, x in ((1, 0), (2, 100))
        ],
        "NetworkSwitch": [
            {"attributes": {"id": i, "coordinates": [x, 0]}, "relationships": {}}
            for i, x in ((1, 0), (2, 100))
        ],
        "NetworkLink": [
            {
                "attributes": {"id": 1, "delay": 10, "bandwidth": 100},
                "relationships": {"nodes": [ref("NetworkSwitch", 1), ref("NetworkSwitch", 2)]},
            }
        ],
        "EdgeServer": [
            {
                "attributes": {"id": i, "coordinates": [x, 0], "cpu": cpu, "memory": 8192},
                "relationships": {
                    "base_station": ref("BaseStation", i),
                    "network_switch": ref("NetworkSwitch", i),
                },
            }
            for i, x, cpu in ((1, 0, 4), (2, 100, 8))
        ],
        "User": [
            {
                "attributes": {
                    "id": 1,
                    "coordinates": [0, 0],
                    "coordinates_trace": [[0, 0], [0, 0], [100, 0], [100, 0]],
                },
                "relationships": {
                    "applications": [ref("Application", 1)],
                    "base_station": ref("BaseStation", 1),
                },
            },
            {
                "attributes": {"id": 2, "coordinates": [0, 0], "coordinates_trace": []},
                "relationships": {
                    "applications": [ref("Application", 1)],
                    "base_station": ref("BaseStation", 1),
                },
            },
        ],
        "Application": [{"attributes": {"id": 1, "label": "app"}, "relationships": {}}],
        "CircularDurationAndIntervalAccessPattern": [
            {
                "attributes": {"id": 1, "duration_values": [1], "interval_values": [3]},
                "relationships": {"user": ref("User", 2), "app": ref("Application", 1)},
            }
        ],
    }


# 25 kB at 20 Mbit/s = 10 ms each way of serialization; 5 ms propagation each way; 10 ms compute
TASK = {"name": "req", "compute_ms": {"device": 1000, "edge": 10}, "input_bytes": 25_000}


def test_counts_positions_links_and_notes() -> None:
    sc = from_edgesimpy(dataset(), task=TASK)
    assert [d.name for d in sc.devices] == ["user-1", "user-2"]
    assert [(e.name, e.cores, e.x_m) for e in sc.edges] == [
        ("edge-1", 4, 0.0),
        ("edge-2", 8, 100.0),
    ]
    assert sc.edges[0].access is not None and sc.edges[0].access.rtt_ms == 10.0
    assert sc.edges[1].backhaul is not None and sc.edges[1].backhaul.up_mbps == 100.0
    assert sc.edges[1].backhaul.rtt_ms == 20.0
    assert sc.mobility.trace is not None
    assert (sc.mobility.trace.times_s, sc.mobility.trace.devices) == ([2.0], ["user-1-0"])
    assert sc.duration_s == 4.0
    rates = [sc.workload_of(d).rate_hz for d in sc.devices]  # type: ignore[union-attr]
    assert rates == [1.0, 0.25]  # user 2 requests 1 step in 4
    assert sc.cloud is None and any("dropped" in n for n in sc.notes)


@pytest.mark.parametrize("engine", list(ENGINES))
def test_single_task_latency_on_both_engines(engine: str) -> None:
    doc = dataset()
    doc["User"] = doc["User"][1:]  # user 2: one 1 s request window in 4
    sc = from_edgesimpy(doc, task=TASK, rate_hz=2.0, duration_s=8.0, seed=3)
    result = simulate(sc, "all-edge", engine)
    assert result["tasks"] >= 1
    # 10 ms up + 5 ms + 10 ms compute + 5 ms back (no output bytes) = 30 ms, no queueing
    assert result["mean_latency_ms"] == pytest.approx(30.0, abs=0.01)
    assert result["max_latency_ms"] == pytest.approx(30.0, abs=0.01)


def test_cli_runs_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(dataset()), encoding="utf-8")
    result = CliRunner(env={"COLUMNS": "250"}).invoke(
        app, ["simulate", str(path), "-p", "all-edge", "-e", "fast"]
    )
    assert result.exit_code == 0, result.output
    assert "all-edge" in result.output and "EdgeSimPy import: " in result.output


def broken(path: list[Any], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(dataset())
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["EdgeServer", 0, "attributes", "cpu"], -2, "EdgeServer[0].attributes.cpu = -2"),
        (["User", 0, "attributes", "coordinates"], [1], "User[0].attributes.coordinates = [1]"),
        (
            ["User", 0, "attributes", "coordinates_trace", 2],
            "x",
            "User[0].attributes.coordinates_trace[2] = 'x'",
        ),
        (["NetworkLink", 0, "attributes", "bandwidth"], 0, "NetworkLink[0].attributes.bandwidth"),
        (["EdgeServer", 1, "relationships"], [], "EdgeServer[1].relationships = []"),
        (["EdgeServer"], [], "no edge servers"),
    ],
)
def test_malformed_inputs_name_path_and_value(path: list[Any], value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match="Fix:") as err:
        from_edgesimpy(broken(path, value), task=TASK)
    assert message in str(err.value)


def test_unreadable_or_foreign_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="JSON syntax error"):
        from_edgesimpy(bad)
    with pytest.raises(ConfigError, match="not an EdgeSimPy dataset"):
        from_edgesimpy({"device": [{}]})
