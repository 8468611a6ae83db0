"""`skyline serve cloud` in its own process and `skyline serve edge` against it, over TCP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from skyline.cli import app

runner = CliRunner(env={"COLUMNS": "200"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_cloud_and_edge_over_tcp(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    made = runner.invoke(
        app, ["plan", "small_cnn", "-p", "cloud-only", "--repeats", "1", "--json", str(plan)]
    )
    assert made.exit_code == 0, made.output
    address = f"tcp://127.0.0.1:{free_port()}"
    cloud = subprocess.Popen(
        [sys.executable, "-m", "skyline", "serve", "cloud", "--plan", str(plan), "--bind", address],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out = tmp_path / "edge.json"
        result = runner.invoke(
            app,
            [
                "serve",
                "edge",
                "--plan",
                str(plan),
                "--cloud",
                address,
                "--requests",
                "4",
                "--warmup",
                "1",
                "--timeout-s",
                "60",
                "--json",
                str(out),
            ],
        )
        assert result.exit_code == 0, result.output
        assert "measured vs PREDICTED" in result.output and "'remote': 4" in result.output
        records = json.loads(out.read_text())["records"]
        assert [r["outcome"] for r in records] == ["remote"] * 4
        assert all(r["bytes_up"] > 28 * 28 * 4 for r in records)  # the input crossed the link
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
