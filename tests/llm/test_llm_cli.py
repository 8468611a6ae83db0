"""`skyline llm generate` in process and against `skyline llm serve` in its own process."""

import json
import socket
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from skyline.cli import app
from skyline.llm import ByteTokenizer, DecoderLM, LMConfig
from skyline.llm.checkpoint import save_checkpoint
from skyline.llm.speculative import generate

torch.set_num_threads(1)
runner = CliRunner(env={"COLUMNS": "200"})
PROMPT = "To be, or not"


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pair")
    draft = DecoderLM(LMConfig(d_model=32, n_layers=1, n_heads=2, max_len=128), seed=1)
    target = DecoderLM(LMConfig(d_model=48, n_layers=2, n_heads=4, max_len=128), seed=2)
    save_checkpoint(draft, folder / "draft.pt")
    save_checkpoint(target, folder / "target.pt")
    return folder


def expected_text(pair, n):
    from skyline.llm.checkpoint import load_checkpoint

    target, _ = load_checkpoint(pair / "target.pt")
    tok = ByteTokenizer()
    return tok.decode(generate(target, tok.encode(PROMPT), n))


def test_generate_in_process(pair, tmp_path):
    out = tmp_path / "gen.json"
    args = ["llm", "generate", PROMPT, "--checkpoint", str(pair), "-n", "24", "--json", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "in process" in result.output and "tokens per pass" in result.output
    payload = json.loads(out.read_text())
    assert payload["text"] == expected_text(pair, 24)
    assert len(payload["token_ids"]) == payload["tokens"] == 24
    assert payload["bytes_up"] == 0 and payload["passes"] >= 24 / 5


def test_a_missing_pair_says_how_to_train_it(tmp_path):
    result = runner.invoke(app, ["llm", "generate", "x", "--checkpoint", str(tmp_path)])
    assert result.exit_code == 2
    assert "llm_train.py" in result.output


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_and_generate_in_two_processes(pair, tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    serve = ["llm", "serve", "--checkpoint", str(pair), "--bind", address]
    cloud = subprocess.Popen(
        [sys.executable, "-m", "skyline", *serve],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out = tmp_path / "remote.json"
        args = ["llm", "generate", PROMPT, "--checkpoint", str(pair), "-n", "24"]
        args += ["--cloud", address, "--adaptive", "--rtt-ms", "4", "--timeout-s", "30"]
        result = runner.invoke(app, [*args, "--json", str(out)])
        assert result.exit_code == 0, result.output
        payload = json.loads(out.read_text())
        assert payload["text"] == expected_text(pair, 24)
        assert payload["fallback"] is None and payload["bytes_up"] > 0
        assert all(r["verify_s"] >= 0.004 for r in payload["rounds"])  # the emulated RTT
    finally:
        cloud.terminate()
        cloud.communicate(timeout=30)


def test_split_in_process_equals_the_unsplit_target(pair, tmp_path):
    out = tmp_path / "split.json"
    args = ["llm", "split", PROMPT, "--checkpoint", str(pair), "-n", "16", "--layers", "1"]
    result = runner.invoke(app, [*args, "--codec", "raw", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "same as the unsplit target" in result.output
    payload = json.loads(out.read_text())
    assert payload["text"] == expected_text(pair, 16) and payload["identical_to_unsplit"]
    rows = len(PROMPT) + 15  # the prompt, then one row per generated token but the last
    assert payload["rows_up"] == rows and payload["bytes_up"] == rows * 48 * 4 + 16 * 2
    result = runner.invoke(app, [*args, "--codec", "brotli"])
    assert result.exit_code == 2 and "unknown codec" in result.output


def test_serve_split_and_split_in_two_processes(pair, tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    serve = ["llm", "serve", "--checkpoint", str(pair), "--bind", address, "--split", "1"]
    cloud = subprocess.Popen(
        [sys.executable, "-m", "skyline", *serve],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out = tmp_path / "split.json"
        args = ["llm", "split", PROMPT, "--checkpoint", str(pair), "-n", "12", "--layers", "1"]
        args += ["--cloud", address, "--timeout-s", "30", "--json", str(out)]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        payload = json.loads(out.read_text())
        assert payload["identical_to_unsplit"] is True  # bf16 did not flip a token here
        assert payload["codec"] == "bf16" and payload["bytes_up"] > payload["rows_up"] * 48 * 2
    finally:
        cloud.terminate()
        cloud.communicate(timeout=30)


def test_route_answers_at_the_edge_or_refuses_the_oracle(pair, tmp_path):
    from skyline.llm.checkpoint import load_checkpoint

    out = tmp_path / "route.json"
    args = ["llm", "route", PROMPT, "--checkpoint", str(pair), "-n", "8", "--calibration", "2"]
    result = runner.invoke(app, [*args, "--share", "0", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "edge (draft)" in result.output
    payload = json.loads(out.read_text())
    draft, _ = load_checkpoint(pair / "draft.pt")
    assert payload["token_ids"] == generate(draft, ByteTokenizer().encode(PROMPT), 8)
    assert payload["escalated"] is False and payload["threshold"] is None
    result = runner.invoke(app, [*args, "--router", "oracle"])
    assert result.exit_code == 2 and "needs labels" in result.output
