"""`skyline serve cloud` in its own process and `skyline serve edge` against it, over TCP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skyline.cli import app
from skyline.runtime.transports.curve import generate_keys

runner = CliRunner(env={"COLUMNS": "200"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def edge_args(plan: Path, address: str, out: Path, *extra: str) -> list[str]:
    return [
        "serve", "edge", "--plan", str(plan), "--cloud", address, "--requests", "4",
        "--warmup", "1", "--timeout-s", "60", "--json", str(out), *extra,
    ]  # fmt: skip


@pytest.mark.parametrize("mode", ["plain", "curve", "ray"])
def test_serve_cloud_and_edge_over_tcp(tmp_path: Path, mode: str) -> None:
    curve = mode == "curve"
    plan = tmp_path / "plan.json"
    made = runner.invoke(
        app, ["plan", "small_cnn", "-p", "cloud-only", "--repeats", "1", "--json", str(plan)]
    )
    assert made.exit_code == 0, made.output
    address = f"tcp://127.0.0.1:{free_port()}"
    secure_cloud: list[str] = []
    secure_edge: list[str] = []
    if curve:  # the cloud admits edge1 only; edge2 has a key pair but is not on the list
        for name in ("cloud", "edge1", "edge2"):
            generate_keys(tmp_path / name, name)
        (tmp_path / "allowed").mkdir()
        (tmp_path / "allowed" / "edge1.key").write_bytes(
            (tmp_path / "edge1/edge1.key").read_bytes()
        )
        secure_cloud = ["--curve-secret", str(tmp_path / "cloud/cloud.key_secret")]
        secure_cloud += ["--allow", str(tmp_path / "allowed")]
        secure_edge = ["--curve-secret", str(tmp_path / "edge1/edge1.key_secret")]
        secure_edge += ["--server-key", str(tmp_path / "cloud/cloud.key")]
    scale = ["--ray", "--replicas", "1", "--max-batch", "2"] if mode == "ray" else []
    cloud = subprocess.Popen(
        [sys.executable, "-m", "skyline", "serve", "cloud", "--plan", str(plan), "--bind", address,
         *secure_cloud, *scale],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        out = tmp_path / "edge.json"
        result = runner.invoke(app, edge_args(plan, address, out, *secure_edge))
        assert result.exit_code == 0, result.output
        assert "measured vs PREDICTED" in result.output and "'remote': 4" in result.output
        records = json.loads(out.read_text())["records"]
        assert [r["outcome"] for r in records] == ["remote"] * 4
        assert all(r["bytes_up"] > 28 * 28 * 4 for r in records)  # the input crossed the link
        if curve:  # a stranger's handshake gets no answer
            stranger = ["--curve-secret", str(tmp_path / "edge2/edge2.key_secret")]
            stranger += ["--server-key", str(tmp_path / "cloud/cloud.key")]
            args = edge_args(plan, address, out, *stranger)
            refused = runner.invoke(app, [*args[:-4], "--timeout-s", "1", "--retries", "0"])
            assert refused.exit_code == 2 and "unreachable" in refused.output, refused.output
    finally:
        cloud.terminate()
        cloud.communicate(timeout=30)


def test_serve_edge_refuses_a_file_with_several_plans(tmp_path: Path) -> None:
    plans = tmp_path / "plans.json"
    made = runner.invoke(
        app,
        [
            "plan",
            "small_cnn",
            "-p",
            "dads",
            "-p",
            "cloud-only",
            "--repeats",
            "1",
            "--json",
            str(plans),
        ],
    )
    assert made.exit_code == 0, made.output
    result = runner.invoke(
        app, ["serve", "edge", "--plan", str(plans), "--cloud", "tcp://127.0.0.1:1"]
    )
    assert result.exit_code == 2 and "holds 2 plans" in result.stderr
