"""The `skyline` command: every command end to end on small models, and its error contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from skyline import models
from skyline.cli import app
from skyline.cli._common import fmt_bytes, fmt_ms, parse_shapes, resolve_model
from skyline.errors import ConfigError
from skyline.plan import Plan, planners
from skyline.topology import preset_names

HERE = Path(__file__).parent
runner = CliRunner(env={"COLUMNS": "250"})  # wide enough that no table cell is cut


def run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def ok(*args: str) -> Result:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result


def fails(*args: str) -> str:
    """stderr of a command that must fail with a SkylineError: one red line, exit code 2."""
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return result.stderr


@pytest.fixture
def toys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(HERE))


# -- units and parsing ---------------------------------------------------------------------------
def test_formatting_hand_computed() -> None:
    assert [fmt_ms(x) for x in (0, 0.01234, 2.345, 1234.56, float("inf"))] == [
        "0",
        "0.012",
        "2.35",  # 2.345 is stored just above 2.345
        "1,234.6",
        "inf",
    ]
    assert [fmt_bytes(x) for x in (0, 512, 1536, 3 * 2**20, 5 * 2**30, float("inf"))] == [
        "0 B",
        "512 B",
        "1.5 KiB",
        "3.0 MiB",
        "5.0 GiB",
        "inf",
    ]


def test_parse_shapes() -> None:
    assert parse_shapes("1,3,224,224") == [(1, 3, 224, 224)]
    assert parse_shapes("2,8;2, 4") == [(2, 8), (2, 4)]
    for bad in ("", "1,x", "1,0", "1,,2", "2;"):
        with pytest.raises(ConfigError, match="--input-shape"):
            parse_shapes(bad)


@pytest.mark.usefixtures("toys")
def test_resolve_model_sources() -> None:
    name, model, inputs = resolve_model("small_cnn", None, 32)
    assert name == "small_cnn" and not model.training
    assert inputs[0].shape == (1, 1, 32, 32)
    assert resolve_model("resnet18", "2,3,40,40", None)[2][0].shape == (2, 3, 40, 40)
    for attr in ("Toy", "make_toy", "TOY"):
        _, model, inputs = resolve_model(f"_cli_toy:{attr}", "2,8", None)
        assert model(*inputs).shape == (2, 4)
    _, _, inputs = resolve_model("_cli_toy:ShapedToy", None, None)
    assert inputs[0].shape == (3, 8)
    for spec, shape, size, match in [
        ("_cli_toy:NOT_A_MODEL", "2,8", None, "not an nn.Module"),
        ("_cli_toy:Toy", None, 32, "--size"),
        ("small_cnn", "1,1,28,28", 32, "--input-shape and --size"),
    ]:
        with pytest.raises(ConfigError, match=match):
            resolve_model(spec, shape, size)


# -- commands ------------------------------------------------------------------------------------
def test_version() -> None:
    assert ok("--version").stdout.strip() == "skyline 0.1.0"


def test_models_lists_zoo() -> None:
    out = ok("models", "--no-flops").stdout
    for name in models.names():
        assert name in out
    assert "11.69" in out  # resnet18 params (M)


def test_models_counts_flops() -> None:
    out = ok("models").stdout
    assert "3.628" in out  # resnet18 GFLOPs at 224x224 (FlopCounter: 2 per multiply-add)


def test_profile_writes_graph_json(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    out = ok("profile", "small_cnn", "--repeats", "2", "--top", "3", "--json", str(path)).stdout
    assert "MEASURED" in out and "conv2d" in out
    data = json.loads(path.read_text())
    assert data["schema"] == "skyline.graph/v1" and data["name"] == "small_cnn"
    assert data["ops"] and all(op["host_time_s"] > 0 for op in data["ops"])
    host = data["measured_on"]
    assert host["torch_threads"] == 1 and host["repeats"] == 2
    assert len(host["load_average_1_5_15_min"]) == 3


def test_plan_all_planners() -> None:
    out = ok(
        "plan",
        "small_cnn",
        "--topology",
        "device-edge-cloud",
        "--planner",
        "all",
        "--repeats",
        "2",
        "--show-ops",
    ).stdout
    assert "PREDICTED" in out
    for name in planners.names():
        assert name in out
    assert " *" in out  # the best row is marked
    assert "conv2d_1" in out  # --show-ops table


def test_plan_json_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    ok("plan", "small_cnn", "--planner", "dads", "--repeats", "2", "--json", str(path))
    plan = Plan.load(path)
    assert plan.planner == "dads" and plan.model.name == "small_cnn"
    assert Plan.from_json(plan.to_json()) == plan
    assert path.read_text() == plan.to_json() + "\n"


def test_plan_json_several_planners(tmp_path: Path) -> None:
    path = tmp_path / "plans.json"
    ok(
        "plan",
        "small_cnn",
        "-p",
        "dads",
        "-p",
        "device-only",
        "--objective",
        "energy",
        "--repeats",
        "2",
        "--json",
        str(path),
    )
    plans = {k: Plan.model_validate(v) for k, v in json.loads(path.read_text()).items()}
    assert list(plans) == ["dads", "device-only"]
    assert all(p.objective.kind == "energy" for p in plans.values())


def test_plan_zoo_model_at_small_size() -> None:
    out = ok("plan", "resnet18", "--size", "64", "--planner", "dads", "--repeats", "2").stdout
    assert "dads *" in out and "1×3×64×64" in out


def test_plan_failing_planner_is_a_row() -> None:
    """With several planners, one that finds no plan shows its reason; alone, it is an error."""
    args = ("plan", "small_cnn", "--topology", "edge-cloud", "--repeats", "2")
    out = ok(*args, "-p", "dads", "-p", "device-only").stdout
    assert "dads *" in out and "no plan (see below)" in out
    assert "device-only: planner 'device-only' needs a device node" in out
    assert "device node" in fails(*args, "-p", "device-only")
    deadline = fails(*args, "-p", "dads", "-p", "tiered", "--deadline-ms", "0.001")
    assert "no planner found a plan" in deadline


@pytest.mark.usefixtures("toys")
def test_module_attr_model() -> None:
    out = ok("profile", "_cli_toy:Toy", "--input-shape", "2,8", "--repeats", "2").stdout
    assert "2×8" in out and "linear" in out
    out = ok("plan", "_cli_toy:ShapedToy", "--repeats", "2").stdout
    assert "3×8" in out


def test_topology_lists_presets() -> None:
    out = ok("topology").stdout
    for names in preset_names().values():
        for name in names:
            assert name in out


def test_topology_shows_one() -> None:
    out = ok("topology", "device-edge-cloud").stdout
    assert "rpi4" in out and "edge-cloud" in out and "wifi" in out


# -- errors: exit code 2, one line naming the problem and the fix ---------------------------------
def test_unknown_model_lists_zoo() -> None:
    err = fails("profile", "no-such-model")
    assert "no-such-model" in err and all(name in err for name in models.names())


def test_unknown_planner_lists_planners() -> None:
    err = fails("plan", "small_cnn", "--planner", "no-such-planner")
    assert "no-such-planner" in err and all(name in err for name in planners.names())


def test_bad_topology_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "broken-topo.toml"
    path.write_text(
        '[[node]]\nname = "d"\npreset = "rpi4"\n\n[[node]]\nname = "e"\npreset = "edge-server"\n\n'
        '[[link]]\na = "d"\nb = "e"\nup_mbps = -5.0\ndown_mbps = 10.0\n'
    )
    for args in (("plan", "small_cnn", "--topology", str(path)), ("topology", str(path))):
        err = fails(*args)
        assert "broken-topo.toml" in err and "up_mbps" in err and "Fix:" in err


@pytest.mark.usefixtures("toys")
def test_module_attr_without_shape_names_option() -> None:
    assert "--input-shape" in fails("profile", "_cli_toy:Toy")


def test_bad_options() -> None:
    assert "objective" in fails("plan", "small_cnn", "--objective", "speed")
    assert "--deadline-ms" in fails("plan", "small_cnn", "--deadline-ms", "-1")
    assert "--input-shape" in fails("profile", "small_cnn", "--input-shape", "1,x")


def test_console_script() -> None:
    """The installed `skyline` script runs (it sits next to this interpreter in the venv)."""
    script = Path(sys.executable).parent / "skyline"
    done = subprocess.run(
        [str(script), "models", "--no-flops"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stderr
    assert "small_cnn" in done.stdout


def test_sweep_writes_table_json_and_png(tmp_path: Path) -> None:
    result = ok(
        "sweep",
        "small_cnn",
        "--mbps",
        "0.1,1000",
        "-p",
        "device-only",
        "-p",
        "tiered",
        "--repeats",
        "1",
        "--out",
        str(tmp_path),
    )
    assert "PREDICTED" in result.output
    points = json.loads((tmp_path / "sweep-small_cnn.json").read_text())
    assert {(p["mbps"], p["planner"]) for p in points} == {
        (0.1, "device-only"),
        (0.1, "tiered"),
        (1000.0, "device-only"),
        (1000.0, "tiered"),
    }
    assert (tmp_path / "sweep-small_cnn.png").read_bytes()[:4] == b"\x89PNG"


def test_sweep_rejects_bad_bandwidths() -> None:
    assert "--mbps" in fails("sweep", "small_cnn", "--mbps", "1,-2")
    assert "nowhere" in fails("sweep", "small_cnn", "--link", "device-nowhere")
