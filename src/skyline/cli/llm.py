"""`skyline llm serve|generate`: speculative decoding with the target in the cloud process and
the draft at the edge (or both in this process when no cloud is given)."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import torch
import typer

from skyline.cli._common import JsonPath, console, fmt_bytes, fmt_ms, key_values, write_text
from skyline.emulation import Shaper
from skyline.llm import ByteTokenizer
from skyline.llm.adaptive import AdaptiveK, FixedK, KPolicy
from skyline.llm.checkpoint import load_pair
from skyline.llm.remote import CloudVerifier, RemoteVerifier
from skyline.llm.speculative import SpeculativeDecoder
from skyline.llm.verify import TargetVerifier, Verifier
from skyline.runtime import ShapedTransport, weights_digest

llm_app = typer.Typer(
    help="Language models across edge and cloud: speculative decoding over the link.",
    no_args_is_help=True,
)

CheckpointDir = Annotated[
    Path | None,
    typer.Option(
        "--checkpoint",
        file_okay=False,
        help="folder with draft.pt and target.pt (default: the pair shipped in the package)",
    ),
]


@llm_app.command("serve")
def serve_command(
    checkpoint: CheckpointDir = None,
    bind: Annotated[str, typer.Option(help="address to listen on")] = "tcp://0.0.0.0:5600",
    max_sessions: Annotated[int, typer.Option(min=1, help="KV caches kept at once")] = 64,
) -> None:
    """Serve the target model's verification (one KV cache per edge session)."""
    torch.set_num_threads(1)
    _, target = load_pair(checkpoint)
    verifier = CloudVerifier(target, bind_address=bind, max_sessions=max_sessions)
    console.print(
        key_values(
            {
                "serving": f"target, {target.num_parameters():,} parameters",
                "weights": str(verifier.identity["weights"]),
                "address": verifier.address,
            }
        )
    )
    try:
        verifier.serve_forever()
    except KeyboardInterrupt:
        console.print("stopped")


@llm_app.command("generate")
def generate_command(
    prompt: Annotated[str, typer.Argument(help="text to continue")],
    cloud: Annotated[
        str | None, typer.Option(help="address of `skyline llm serve` (default: in process)")
    ] = None,
    checkpoint: CheckpointDir = None,
    tokens: Annotated[int, typer.Option("--tokens", "-n", min=1, help="tokens to generate")] = 200,
    k: Annotated[int, typer.Option(min=0, help="draft tokens per round (0: no draft)")] = 4,
    adaptive: Annotated[
        bool, typer.Option(help="adapt k to acceptance and round-trip time (--k is the start)")
    ] = False,
    temperature: Annotated[float, typer.Option(min=0.0, help="0 is greedy")] = 0.0,
    seed: Annotated[int, typer.Option(help="sampling seed")] = 0,
    rtt_ms: Annotated[
        float, typer.Option(min=0.0, help="with --cloud: add this emulated round trip (0: off)")
    ] = 0.0,
    mbps: Annotated[float, typer.Option(help="emulated link rate, with --rtt-ms")] = 100.0,
    timeout_s: Annotated[float, typer.Option(help="seconds to wait for each reply")] = 10.0,
    json_path: JsonPath = None,
) -> None:
    """Continue PROMPT with the draft here and the target verifying (there or here)."""
    torch.set_num_threads(1)
    draft, target = load_pair(checkpoint)
    verifier: Verifier
    if cloud is None:
        verifier = TargetVerifier(target)
    else:
        wrap: Any = None
        if rtt_ms > 0:
            wrap = partial(
                ShapedTransport, up=Shaper(mbps, rtt_ms / 2), down=Shaper(mbps, rtt_ms / 2)
            )
        verifier = RemoteVerifier(
            cloud, timeout_s=timeout_s, wrap=wrap, weights=weights_digest(target)
        )
    policy: KPolicy = AdaptiveK(k_init=max(k, 1), k_max=max(k, 16)) if adaptive else FixedK(k)
    tokenizer = ByteTokenizer()
    decoder = SpeculativeDecoder(draft, verifier, k=policy, temperature=temperature, seed=seed)
    try:
        out = decoder.generate(tokenizer.encode(prompt), tokens)
    finally:
        verifier.close()
    text = tokenizer.decode(out.tokens)
    console.print(prompt + text, markup=False, highlight=False)
    stats = out.stats
    console.print(
        key_values(
            {
                "verifier": cloud or "in process",
                "tokens/s": f"{stats.tokens_per_s:.1f}",
                "time to first token": f"{fmt_ms(stats.ttft_s * 1e3)} ms",
                "round trips": str(stats.passes),
                "tokens per pass": f"{stats.tokens_per_pass:.2f}",
                "acceptance alpha": f"{stats.alpha:.3f}",
                "bytes up / down": f"{fmt_bytes(stats.bytes_up)} / {fmt_bytes(stats.bytes_down)}",
                "fallback": stats.fallback or "no",
            }
        )
    )
    if json_path is not None:
        payload = {"prompt": prompt, "text": text, "token_ids": out.tokens, **stats.to_dict()}
        write_text(json_path, json.dumps(payload, indent=2))
