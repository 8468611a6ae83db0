"""Speculative decoding across an emulated link: tokens/s against the cloud streaming one token
per round trip (k = 0) and against the target generating alone, on held-out prompts from both
domains.

Two processes: `skyline llm serve` (target) pinned to one CPU, this process (draft, edge) pinned
to another, one torch thread each; with fewer than two CPUs the report says so and claims no
speedup. The link is the in-process `Shaper` on the edge's transport (RTT and rate, labelled).
Configurations run round-robin per prompt, so drift hits all of them alike; medians reported.

    python benchmarks/llm_speculative.py [--rtt-ms 20] [--tokens 128] [--prompts 8]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import torch

from skyline.bench import machine_info
from skyline.emulation import Shaper
from skyline.llm import (
    AdaptiveK,
    DecoderLM,
    FixedK,
    KPolicy,
    RemoteVerifier,
    SpeculativeDecoder,
    corpus,
    expected_tokens_per_pass,
    generate,
    load_pair,
)
from skyline.llm.checkpoint import checkpoint_dir
from skyline.runtime import ShapedTransport, weights_digest

EDGE_CPU, CLOUD_CPU = 0, 1
ALONE = "target alone (no link)"


def _finite(value: Any) -> Any:
    """JSON has no NaN: undefined figures (alpha with no draft) become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def held_out_prompts(domains: list[str], count: int, length: int) -> dict[str, list[list[int]]]:
    """`count` prompts of `length` bytes per domain, evenly spaced over its held-out text."""
    prompts = {}
    for name in domains:
        _, held = corpus.split(corpus.as_bytes(corpus.load(name)))
        starts = torch.linspace(0, len(held) - length - 1, count).long().tolist()
        prompts[name] = [held[s : s + length].tolist() for s in starts]
    return prompts


def policies(ks: list[int], adaptive: bool) -> dict[str, KPolicy]:
    """Fresh policies (AdaptiveK learns within one generation only)."""
    chosen: dict[str, KPolicy] = {f"k={k}": FixedK(k) for k in ks}
    if adaptive:
        chosen["adaptive"] = AdaptiveK(k_max=16)
    return chosen


def start_cloud(checkpoint: Path, separate_cpus: bool) -> tuple[subprocess.Popen[str], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    pin = partial(os.sched_setaffinity, 0, {CLOUD_CPU}) if separate_cpus else None
    command = [sys.executable, "-m", "skyline", "llm", "serve", "--checkpoint", str(checkpoint)]
    process = subprocess.Popen(
        [*command, "--bind", address],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=pin,
    )
    return process, address


def measure(
    draft: DecoderLM,
    target: DecoderLM,
    verifier: RemoteVerifier,
    prompt: list[int],
    args: argparse.Namespace,
    domain: str,
    index: int,
) -> list[dict[str, Any]]:
    """One prompt: the target alone (no link), then every configuration once."""
    t0 = time.perf_counter()
    alone = generate(target, prompt, args.tokens, temperature=args.temperature, seed=index)
    alone_s = time.perf_counter() - t0
    where = {"domain": domain, "prompt": index}
    rows = [{**where, "config": ALONE, "tokens_per_s": args.tokens / alone_s}]
    for name, policy in policies(args.ks, not args.no_adaptive).items():
        decoder = SpeculativeDecoder(
            draft, verifier, k=policy, temperature=args.temperature, seed=index
        )
        out = decoder.generate(prompt, args.tokens)
        stats = out.stats.to_dict()
        del stats["rounds"]
        greedy = args.temperature == 0  # sampled outputs match in distribution only
        same = out.tokens == alone if greedy else None
        rows.append({**where, "config": name, **stats, "identical_to_target": same})
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=checkpoint_dir())
    parser.add_argument("--out", type=Path, default=Path("results/llm_speculative.json"))
    parser.add_argument("--rtt-ms", type=float, default=20.0)
    parser.add_argument("--mbps", type=float, default=50.0)
    parser.add_argument(
        "--domains", nargs="+", choices=list(corpus.DOMAINS), default=list(corpus.DOMAINS)
    )
    parser.add_argument("--prompts", type=int, default=8, help="per domain")
    parser.add_argument("--prompt-len", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--ks", type=int, nargs="+", default=[0, 2, 4, 8])
    parser.add_argument("--no-adaptive", action="store_true")
    parser.add_argument("--temperature", type=float, default=0.0)
    args = parser.parse_args(argv)
    if 0 not in args.ks:
        args.ks = [0, *args.ks]  # the streaming baseline is always measured
    torch.set_num_threads(1)
    previous = os.sched_getaffinity(0)
    separate_cpus = len(previous) >= 2
    if separate_cpus:
        os.sched_setaffinity(0, {EDGE_CPU})
    draft, target = load_pair(args.checkpoint)
    prompts = held_out_prompts(args.domains, args.prompts, args.prompt_len)
    cloud, address = start_cloud(args.checkpoint, separate_cpus)
    try:
        up, down = Shaper(args.mbps, args.rtt_ms / 2), Shaper(args.mbps, args.rtt_ms / 2)
        verifier = RemoteVerifier(
            address,
            timeout_s=60,
            wrap=partial(ShapedTransport, up=up, down=down),
            weights=weights_digest(target),
        )
        rows = [
            row
            for domain, domain_prompts in prompts.items()
            for index, prompt in enumerate(domain_prompts)
            for row in measure(draft, target, verifier, prompt, args, domain, index)
        ]
        verifier.close()
    finally:
        cloud.terminate()
        cloud.communicate(timeout=30)
        os.sched_setaffinity(0, previous)
    report = summarize(rows, args, separate_cpus)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(_finite({**report, "rows": rows}), indent=2))
    for line in report["summary"]:
        print(
            line["domain"],
            line["config"],
            f"{line['tokens_per_s']:.1f} tok/s",
            f"x{line['speedup_vs_streaming']:.2f}",
        )
    print(f"wrote {args.out}")
    return report


def summarize(
    rows: list[dict[str, Any]], args: argparse.Namespace, separate: bool
) -> dict[str, Any]:
    """Medians per (domain, config), speedups against k = 0 measured in the same run, and the
    tokens-per-pass formula at the measured alpha beside the measured value."""
    summary = []
    for domain in sorted({r["domain"] for r in rows}):
        base_rows = [r for r in rows if r["domain"] == domain and r["config"] == "k=0"]
        base = statistics.median(r["tokens_per_s"] for r in base_rows)
        for config in dict.fromkeys(r["config"] for r in rows):
            mine = [r for r in rows if r["domain"] == domain and r["config"] == config]
            line: dict[str, Any] = {
                "domain": domain,
                "config": config,
                "tokens_per_s": statistics.median(r["tokens_per_s"] for r in mine),
            }
            line["speedup_vs_streaming"] = line["tokens_per_s"] / base
            if config != ALONE:
                line["ttft_ms"] = statistics.median(r["ttft_ms"] for r in mine)
                line["bytes_up_per_token"] = statistics.median(
                    r["bytes_up"] / r["tokens"] for r in mine
                )
                same = [r["identical_to_target"] for r in mine]
                line["identical_to_target"] = None if None in same else all(same)
            if config not in ("k=0", ALONE):
                line["alpha"] = statistics.median(r["alpha"] for r in mine)
                line["tokens_per_pass"] = statistics.median(r["tokens_per_pass"] for r in mine)
            if config.startswith("k=") and config != "k=0":
                k = int(config[2:])  # the formula at each run's alpha, beside the measurement
                line["formula_tokens_per_pass"] = statistics.median(
                    expected_tokens_per_pass(r["alpha"], k) for r in mine
                )
            summary.append(line)
    return {
        "benchmark": "llm_speculative",
        "measured": True,
        "machine": machine_info(),
        "link": {
            "emulation": "in-process Shaper on the edge's transport",
            "rtt_ms": args.rtt_ms,
            "mbps": args.mbps,
        },
        "processes": "edge (draft) and cloud (target), one torch thread each, "
        + ("pinned to separate CPUs" if separate else "SHARING ONE CPU: no speedup claim"),
        "separate_cpus": separate,
        "tokens": args.tokens,
        "temperature": args.temperature,
        "summary": summary,
    }


if __name__ == "__main__":
    main()
