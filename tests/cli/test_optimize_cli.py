"""`skyline optimize` end to end on the small CNN (ONNX Runtime int8, pruning, Fashion-MNIST
accuracy, per-node picks), and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skyline.cli import app
from skyline.optimize.variants import load_variants, pick_variant
from skyline.topology import topology_preset

pytest.importorskip("onnxruntime", reason="needs the optimize extra")

runner = CliRunner(env={"COLUMNS": "250"})


def test_variants_table_files_and_json(tmp_path: Path) -> None:
    out = tmp_path / "variants"
    args = ["optimize", "small_cnn", "--prune", "0.5", "--quantize", "int8", "--out", str(out)]
    args += ["--eval", "fashion_mnist", "--eval-limit", "50", "--calibration", "4"]
    args += ["--repeats", "2", "-t", "device-edge-cloud", "--accuracy-floor", "0"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "MEASURED" in result.output and "PREDICTED" in result.output
    report = json.loads((out / "optimize.json").read_text())
    names = [v["name"] for v in report["variants"]]
    assert names == ["fp32", "prune 0.5", "prune 0.5 (ORT fp32)", "prune 0.5 + int8 ORT"]
    for v in report["variants"]:
        assert Path(v["path"]).is_file()
        assert v["host_ms"] > 0 and 0 <= v["accuracy"] <= 1
        assert set(v["predicted_latency_ms"]) == {"device", "edge", "cloud"}
    sizes = {v["name"]: v["size_bytes"] for v in report["variants"]}
    assert sizes["prune 0.5"] < sizes["fp32"]
    assert sizes["prune 0.5 + int8 ORT"] < sizes["prune 0.5 (ORT fp32)"] / 2
    # floor 0: every variant qualifies, so each node gets its fastest predicted one
    for node in ("device", "edge", "cloud"):
        fastest = min(report["variants"], key=lambda v: v["predicted_latency_ms"][node])
        assert report["picks"][node] == fastest["name"]
    assert "50 Fashion-MNIST test images" in report["measured"]
    device = topology_preset("device-edge-cloud").node("device")
    picked = pick_variant(load_variants(out / "optimize.json"), device, 0.0)
    assert picked.name == report["picks"]["device"]  # a planner can read the variants back


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["small_cnn", "--quantize", "int4"], "--quantize 'int4'"),
        (["resnet18", "--size", "32", "--eval", "fashion_mnist"], "1x28x28"),
        (["small_cnn", "--eval", "imagenet"], "--eval 'imagenet'"),
        (["small_cnn", "--accuracy-floor", "0.9"], "--accuracy-floor"),
        (["small_cnn", "--quantize", "qat"], "--eval"),
        (["small_cnn", "--finetune", "1"], "--eval"),
    ],
)
def test_bad_arguments_are_explained(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["optimize", *args, "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and message in result.stderr
