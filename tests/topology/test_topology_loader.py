"""Topology files: TOML/YAML loading, presets and traces in files, errors a user can act on."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest
import yaml

from skyline.errors import TopologyError
from skyline.topology import (
    BandwidthTrace,
    Tier,
    Topology,
    load_topology,
    node_preset,
    save_topology,
    topology_preset,
)

LAB_TOML = """
name = "lab"

[[node]]
name = "cam"
preset = "rpi4"
memory_mb = 2048

[[node]]
name = "cloud"
tier = "cloud"
gflops = 2000

[[link]]
a = "cam"
b = "cloud"
preset = "4g"
rtt_ms = 60
trace = "trace.csv"
"""

LAB_YAML = """
name: lab
node:
  - {name: cam, preset: rpi4, memory_mb: 2048}
  - {name: cloud, tier: cloud, gflops: 2000}
link:
  - a: cam
    b: cloud
    preset: 4g
    rtt_ms: 60
    trace: {times_s: [0, 1], up_mbps: [5, 2], down_mbps: [10, 4]}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(tmp_path: Path, name: str, text: str) -> str:
    with pytest.raises(TopologyError) as info:
        load_topology(write(tmp_path, name, text))
    return str(info.value)


def test_preset_name_loads_the_preset() -> None:
    assert load_topology("device-cloud") == topology_preset("device-cloud")


def test_toml_file_with_presets_overrides_and_csv_trace(tmp_path: Path) -> None:
    write(tmp_path, "trace.csv", "time_s,up_mbps,down_mbps\n0,5,10\n1,2,4\n")
    topo = load_topology(str(write(tmp_path, "lab.toml", LAB_TOML)))
    cam, cloud = topo.nodes
    assert topo.name == "lab"
    assert (cam.tier, cam.gflops, cam.memory_mb, cam.preset) == (Tier.DEVICE, 8.0, 2048.0, "rpi4")
    assert cam.power.idle_w == 2.7  # kept from the preset
    assert (cloud.tier, cloud.gflops, cloud.preset) == (Tier.CLOUD, 2000.0, None)
    link = topo.link("cam", "cloud")
    assert (link.up_mbps, link.down_mbps, link.rtt_ms) == (5.85, 13.0, 60.0)
    assert link.trace == BandwidthTrace(times_s=[0, 1], up_mbps=[5, 2], down_mbps=[10, 4])
    assert link.mbps("cam", t_s=1.5) == 2


def test_yaml_file_with_inline_trace_equals_the_toml_file(tmp_path: Path) -> None:
    write(tmp_path, "trace.csv", "time_s,up_mbps,down_mbps\n0,5,10\n1,2,4\n")
    from_toml = load_topology(write(tmp_path, "lab.toml", LAB_TOML))
    assert load_topology(write(tmp_path, "lab.yml", LAB_YAML)) == from_toml


def test_file_name_is_the_default_topology_name(tmp_path: Path) -> None:
    path = write(tmp_path, "bench.toml", '[[node]]\nname = "h"\npreset = "host"\n')
    assert load_topology(path).name == "bench"


@pytest.mark.parametrize("suffix", ["toml", "yaml"])
def test_save_then_load_round_trips(tmp_path: Path, suffix: str) -> None:
    topo = topology_preset("device-edge-cloud")
    unlimited = node_preset("rpi4", name="spare", speed=0.5, memory_mb=None)
    topo = Topology(name="saved", nodes=[*topo.nodes, unlimited], links=topo.links)
    topo = topo.with_link(
        "device",
        "edge",
        loss=0.02,
        trace={"times_s": [0, 2], "up_mbps": [3, 4], "down_mbps": [5, 6]},
    )
    path = tmp_path / f"saved.{suffix}"
    save_topology(topo, path)
    assert load_topology(path) == topo


def test_saved_toml_writes_unlimited_memory_as_inf(tmp_path: Path) -> None:
    topo = Topology(nodes=[node_preset("rpi4", memory_mb=None)])
    save_topology(topo, tmp_path / "t.toml")
    assert "memory_mb = inf" in (tmp_path / "t.toml").read_text()
    assert load_topology(tmp_path / "t.toml").nodes[0].memory_bytes == math.inf


NODES = """
[[node]]
name = "cam"
tier = "device"
speed = 0.25

[[node]]
name = "cloud"
tier = "cloud"
gflops = 2000
"""


def one_link(**fields: object) -> str:
    body = {"a": "cam", "b": "cloud", "up_mbps": 10, "down_mbps": 20} | fields
    lines = "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in body.items())
    return f"{NODES}\n[[link]]\n{lines}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (one_link(up_mbps=-5), ["link[0].up_mbps = -5", "greater than 0", "Mbit/s"]),
        (one_link(down_mbps=0), ["link[0].down_mbps = 0", "greater than 0", "down_mbps ="]),
        (one_link(loss=1.0), ["link[0].loss = 1.0", "less than 1", "in [0, 1)"]),
        (one_link(b="gpu"), ["link[0].b = 'gpu'", "known nodes: cam, cloud"]),
        (
            NODES.replace('tier = "cloud"', 'tier = "fog"'),
            ["node[1].tier = 'fog'", "'device', 'edge' or 'cloud'"],
        ),
        (NODES.replace('"cloud"\ntier', '"cam"\ntier'), ["node[1].name = 'cam'", "duplicate"]),
        (
            NODES + "colour = 'red'\n",
            ["node[1].colour = 'red'", "unknown key 'colour'", "name, tier, speed, gflops"],
        ),
        (NODES.replace("speed = 0.25", ""), ["node[0] = ", "neither of speed and gflops"]),
        (NODES.replace('tier = "device"', ""), ["node[0].tier: required", "Fix: add tier"]),
        ('name = "empty"\n', ["node = []", "at least 1 item", "the machines, at least one"]),
        (
            NODES + "[node.power]\nidle_w = -1\n",
            ["node[1].power.idle_w = -1", "greater than or equal to 0", "power when idle, W"],
        ),
        (one_link(a="cloud", b="cloud"), ["link[0].b = 'cloud'", "to itself"]),
        (NODES.replace('"cam"', '"my cam"'), ["node[0].name = 'my cam'", "whitespace"]),
        (
            one_link() + "trace = {times_s = [1, 2], up_mbps = [1, 1], down_mbps = [1, 1]}\n",
            ["link[0].trace.times_s = [1.0, 2.0]", "must start at 0"],
        ),
    ],
)
def test_field_errors_name_file_field_value_and_fix(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    message = load_error(tmp_path, "bad.toml", text)
    assert message.startswith(str(tmp_path / "bad.toml") + ": ")
    assert "Fix: " in message
    for part in expected:
        assert part in message


def test_several_problems_are_reported_together(tmp_path: Path) -> None:
    message = load_error(tmp_path, "bad.toml", one_link(up_mbps=-1, loss=2))
    assert "2 problems" in message
    assert "link[0].up_mbps = -1" in message and "link[0].loss = 2" in message
    assert message.count("Fix: ") == 2


def test_yaml_errors_use_the_same_field_paths(tmp_path: Path) -> None:
    doc = yaml.safe_load(LAB_YAML)
    doc["link"][0]["trace"]["up_mbps"] = [5, -2]
    message = load_error(tmp_path, "lab.yaml", yaml.safe_dump(doc))
    assert "lab.yaml: link[0].trace.up_mbps[1] = -2: must be greater than 0" in message
    assert "Fix: " in message


def test_unknown_presets_list_the_choices(tmp_path: Path) -> None:
    message = load_error(tmp_path, "p.toml", '[[node]]\nname = "a"\npreset = "rpi5"\n')
    assert "p.toml: node[0].preset: unknown node preset 'rpi5'" in message
    assert "Fix: use one of: host, rpi4, jetson-nano" in message
    message = load_error(tmp_path, "p.toml", one_link(preset="7g"))
    assert "link[0].preset: unknown link preset '7g'. Fix: use one of: 3g, 4g" in message


def test_unknown_top_level_key_and_wrong_shapes(tmp_path: Path) -> None:
    message = load_error(tmp_path, "t.toml", NODES.replace("[[node]]", "[[nodes]]"))
    assert "unknown top-level key(s) 'nodes'" in message and "[[node]]" in message
    message = load_error(tmp_path, "t.yaml", "node: {name: a}\n")
    assert "node must be a list of tables" in message
    message = load_error(tmp_path, "t.yaml", "- 1\n- 2\n")
    assert "holds list, not a table" in message


def test_syntax_errors_give_the_line(tmp_path: Path) -> None:
    message = load_error(tmp_path, "s.toml", 'name = "x"\n[[node]\n')
    assert "s.toml: TOML syntax error" in message and "line 2" in message and "Fix" in message
    message = load_error(tmp_path, "s.yaml", "node:\n  - name: a\n   tier: x\n")
    assert "s.yaml:3:" in message and "YAML syntax error" in message and "Fix" in message


def test_missing_file_and_unknown_source_suggest_presets(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match=r"nope.toml not found. Fix: .*device-edge-cloud"):
        load_topology(tmp_path / "nope.toml")
    with pytest.raises(TopologyError, match=r"'mesh' is neither a topology preset.*edge-cloud"):
        load_topology("mesh")


def test_missing_trace_csv_names_link_and_path(tmp_path: Path) -> None:
    message = load_error(tmp_path, "t.toml", one_link(trace="gone.csv"))
    assert "t.toml: link[0].trace = 'gone.csv'" in message
    assert str(tmp_path / "gone.csv") in message and "Fix: " in message
