"""Routing prompts between the edge's draft and the cloud's target, and splitting the target's
layers between edge and cloud, with the trained pair on held-out prompts of both domains.

Routing: the draft answers every prompt greedily (`--tokens`); an answer's quality is the share
of its tokens the target would itself have chosen after the same prefix (the target's own
answer scores 1; see `skyline.llm.routing.signals`). Prompts alternate between a fit half (the
learned router is fitted, every router's threshold for `--share` is chosen) and a test half
(curves: mean quality against the share sent to the cloud; the fit-half threshold applied).
Random's expected line and the oracle bound are drawn beside the routers.

Layer split: the target split after each of `--layers` blocks; per codec, top-1 agreement with
the unsplit target along its own greedy continuations (teacher-forced, KV caches on both
sides) and bytes up per hidden-state row; the codec chosen at `--floor`.

Everything here is measured quality and bytes, not time: one process, one torch thread.

    python benchmarks/llm_route_split.py [--prompts 64] [--tokens 32] [--out results/x.json]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from skyline.bench import machine_info
from skyline.bench.plots import line_plot
from skyline.llm import choose_codec, codec_agreement, corpus, load_pair, routing
from skyline.llm.checkpoint import checkpoint_dir
from skyline.llm.layer_split import DEFAULT_CODECS

DEPLOYABLE = ["edge-confidence", "draft-loss", "learned"]
SHARES = np.linspace(0.0, 1.0, 21).tolist()


def routers() -> dict[str, routing.Router]:
    chosen = {name: routing.create(name) for name in DEPLOYABLE}
    chosen["edge-confidence (prompt)"] = routing.create("edge-confidence", on="prompt")
    chosen["random"] = routing.create("random")
    chosen["oracle"] = routing.create("oracle")
    return chosen


def route(args: argparse.Namespace, draft: Any, target: Any) -> dict[str, Any]:
    prompts, domains = [], []
    for name in args.domains:
        for prompt in corpus.held_out_prompts(name, args.prompts, args.prompt_len):
            prompts.append(prompt)
            domains.append(name)
    measured = routing.measure(draft, prompts, args.tokens, target)
    assert measured.labels is not None
    index = np.arange(len(prompts))
    fit, test = measured.take(index[::2]), measured.take(index[1::2])
    results = routing.compare(routers(), fit, test, SHARES, args.share)
    assert test.labels is not None
    # random's expected quality at the share the curves send: round(share x N) prompts
    n = len(test.answers)
    random_at = routing.random_line(test.labels, round(args.share * n) / n)
    rows = [
        {
            **asdict(r),
            "threshold": r.threshold if np.isfinite(r.threshold) else None,  # inf: sends none
            "beats_random_at_target_share": r.at_target_share > random_at,
        }
        for r in results
    ]
    best = max((row for row in rows if row["router"] in DEPLOYABLE), key=lambda row: row["area"])
    random_area = routing.random_line(test.labels, 0.5)  # the line's mean over shares 0..1
    edge = measured.labels.edge_quality
    return {
        "quality": "share of the answer's tokens that are the target's greedy choice after the "
        "same prefix (teacher-forced); the target's own answer scores 1",
        "prompts": {"fit": len(fit.answers), "test": len(test.answers), "domains": args.domains},
        "edge_quality_by_domain": {
            name: float(edge[np.array(domains) == name].mean()) for name in args.domains
        },
        "target_share": args.share,
        "random_line_at_target_share": random_at,
        "random_line_area": random_area,
        "random_line": [(x, routing.random_line(test.labels, x)) for x, _ in rows[0]["points"]],
        "best_deployable": best["router"],
        "best_deployable_beats_random": bool(
            best["beats_random_at_target_share"] and best["area"] > random_area
        ),
        "routers": rows,
    }


def split(args: argparse.Namespace, target: Any) -> dict[str, Any]:
    prompts = [
        prompt
        for name in args.domains
        for prompt in corpus.held_out_prompts(name, args.split_prompts, args.prompt_len)
    ]
    n = target.config.n_layers
    layers = args.layers or list(range(1, n))
    rows = []
    for cut in layers:
        measured = codec_agreement(target, cut, args.codecs, prompts, args.split_tokens)
        chosen = choose_codec(measured, args.floor)
        rows += [{**asdict(m), "chosen": m is chosen} for m in measured]
        print(f"split after {cut}/{n}: chose {chosen.codec}", flush=True)
    return {
        "model": "target",
        "n_layers": n,
        "d_model": target.config.d_model,
        "prompts": len(prompts),
        "tokens_per_prompt": args.split_tokens,
        "floor": args.floor,
        "bytes": "bytes up per hidden-state row: codec payload + its params as JSON, prompts "
        "included; no frame headers (in process)",
        "rows": rows,
    }


def plots(report: dict[str, Any], out: Path) -> dict[str, str]:
    routes = report["routing"]
    lines = {r["router"]: r["points"] for r in routes["routers"]}
    lines["random, expected"] = routes["random_line"]
    series = {name: ([x for x, _ in pts], [y for _, y in pts]) for name, pts in lines.items()}
    line_plot(
        series,
        out.with_name(out.stem + "_routing.png"),
        title="Routing: answer quality vs share of prompts sent to the cloud (test half)",
        xlabel="share sent to the cloud",
        ylabel="mean answer quality (agreement with the target)",
    )
    by_codec: dict[str, list[dict[str, Any]]] = {}
    for row in report["split"]["rows"]:
        by_codec.setdefault(row["codec"], []).append(row)
    codec_series = {
        f"{codec} ({np.mean([r['bytes_per_row'] for r in rows]):.0f} B/row)": (
            [r["layers"] for r in rows],
            [r["top1_agreement"] for r in rows],
        )
        for codec, rows in by_codec.items()
    }
    line_plot(
        codec_series,
        out.with_name(out.stem + "_split.png"),
        title="Layer split: top-1 agreement with the unsplit target per codec",
        xlabel="blocks on the edge",
        ylabel="top-1 agreement",
    )
    return {
        "routing": str(out.with_name(out.stem + "_routing.png")),
        "split": str(out.with_name(out.stem + "_split.png")),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=checkpoint_dir())
    parser.add_argument("--out", type=Path, default=Path("results/llm_route_split.json"))
    parser.add_argument(
        "--domains", nargs="+", choices=list(corpus.DOMAINS), default=corpus.available()
    )
    parser.add_argument("--prompts", type=int, default=64, help="routing prompts per domain")
    parser.add_argument("--prompt-len", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=32, help="answer length when routing")
    parser.add_argument("--share", type=float, default=0.3, help="target cloud share")
    parser.add_argument("--layers", type=int, nargs="*", help="split points (default: all)")
    parser.add_argument("--codecs", nargs="+", default=list(DEFAULT_CODECS))
    parser.add_argument("--split-prompts", type=int, default=8, help="per domain")
    parser.add_argument("--split-tokens", type=int, default=32)
    parser.add_argument("--floor", type=float, default=0.99, help="top-1 agreement floor")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    draft, target = load_pair(args.checkpoint)
    report = {
        "benchmark": "llm_route_split",
        "measured": True,
        "machine": machine_info(),
        "checkpoint": str(args.checkpoint),
        "routing": route(args, draft, target),
        "split": split(args, target),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report["plots"] = plots(report, args.out)
    args.out.write_text(json.dumps(report, indent=2))
    for r in report["routing"]["routers"]:
        print(
            f"{r['router']:>26}: area {r['area']:.4f}, quality {r['at_target_share']:.4f} at "
            f"share {args.share}; threshold from the fit half sent {r['share']:.2f} "
            f"(quality {r['quality']:.4f})"
        )
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
