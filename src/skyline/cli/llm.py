"""`skyline llm serve|generate`: speculative decoding with the target in the cloud process and
the draft at the edge (or both in this process when no cloud is given)."""

from __future__ import annotations

import json
import math
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import torch
import typer

from skyline.cli._common import JsonPath, console, fmt_bytes, fmt_ms, key_values, write_text
from skyline.emulation import Shaper
from skyline.llm import ByteTokenizer, corpus, routing
from skyline.llm.adaptive import AdaptiveK, FixedK, KPolicy
from skyline.llm.checkpoint import load_pair
from skyline.llm.layer_split import RemoteTail, SplitLM, SplitServer
from skyline.llm.remote import CloudVerifier, RemoteVerifier
from skyline.llm.speculative import SpeculativeDecoder, generate
from skyline.llm.verify import TargetVerifier, Verifier
from skyline.runtime import ShapedTransport, weights_digest
from skyline.runtime.server import FrameServer

llm_app = typer.Typer(
    help="Language models across edge and cloud: speculative decoding over the link, routing "
    "prompts between edge and cloud, a layer split.",
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
    split: Annotated[
        int | None,
        typer.Option(min=0, help="serve the target's blocks after this many (a layer split)"),
    ] = None,
) -> None:
    """Serve the target's verification, or with --split the cloud half of a layer split.

    One KV cache per edge session either way."""
    torch.set_num_threads(1)
    _, target = load_pair(checkpoint)
    server: FrameServer
    if split is None:
        server = CloudVerifier(target, bind_address=bind, max_sessions=max_sessions)
        role = "verification"
    else:
        server = SplitServer(target, split, bind_address=bind, max_sessions=max_sessions)
        role = f"blocks {split}..{target.config.n_layers - 1} and the head"
    console.print(
        key_values(
            {
                "serving": f"target ({role}), {target.num_parameters():,} parameters",
                "weights": weights_digest(target),
                "address": server.address,
            }
        )
    )
    try:
        server.serve_forever()
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


@llm_app.command("route")
def route_command(
    prompt: Annotated[str, typer.Argument(help="text to continue (2 bytes or more)")],
    router: Annotated[str, typer.Option(help=f"one of {routing.names()} but oracle")] = "learned",
    share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="share of held-out prompts to escalate")
    ] = 0.3,
    calibration: Annotated[
        int, typer.Option(min=1, help="held-out prompts per domain to set the threshold on")
    ] = 16,
    checkpoint: CheckpointDir = None,
    tokens: Annotated[int, typer.Option("--tokens", "-n", min=1, help="tokens to generate")] = 32,
    json_path: JsonPath = None,
) -> None:
    """Answer PROMPT with the draft, or escalate it to the target.

    The router's threshold is the one that escalates SHARE of held-out prompts (the learned
    router is fitted on them)."""
    torch.set_num_threads(1)
    draft, target = load_pair(checkpoint)
    held = [p for d in corpus.available() for p in corpus.held_out_prompts(d, calibration, 64)]
    measured = routing.measure(draft, held, tokens, target)
    assert measured.labels is not None
    chosen = routing.create(router).fit(measured.signals, measured.labels)
    scores = chosen.score(measured.signals, measured.labels)
    threshold = routing.threshold_for_share(scores, share)
    tokenizer = ByteTokenizer()
    out = routing.Cascade(draft, target, chosen, threshold).answer(tokenizer.encode(prompt), tokens)
    text = tokenizer.decode(out.tokens)
    console.print(prompt + text, markup=False, highlight=False)
    summary = {
        "answered by": "cloud (target)" if out.escalated else "edge (draft)",
        "router": router,
        "score": f"{out.score:.4f}",
        "threshold": f"{threshold:.4f} (escalates {share:.0%} of {len(held)} held-out prompts)",
    }
    console.print(key_values(summary))
    if json_path is not None:
        payload = {
            "prompt": prompt,
            "text": text,
            "token_ids": out.tokens,
            "router": router,
            "escalated": out.escalated,
            "score": out.score,
            "threshold": threshold if math.isfinite(threshold) else None,  # JSON has no inf
        }
        write_text(json_path, json.dumps(payload, indent=2))


@llm_app.command("split")
def split_command(
    prompt: Annotated[str, typer.Argument(help="text to continue")],
    layers: Annotated[int, typer.Option(min=0, help="target blocks run here, at the edge")] = 2,
    codec: Annotated[str, typer.Option(help="codec of the hidden states sent up")] = "bf16",
    cloud: Annotated[
        str | None,
        typer.Option(help="address of `skyline llm serve --split LAYERS` (default: in process)"),
    ] = None,
    checkpoint: CheckpointDir = None,
    tokens: Annotated[int, typer.Option("--tokens", "-n", min=1, help="tokens to generate")] = 64,
    timeout_s: Annotated[float, typer.Option(help="seconds to wait for each reply")] = 10.0,
    json_path: JsonPath = None,
) -> None:
    """Continue PROMPT with the target split: its first LAYERS blocks here, the rest there.

    Greedy; says whether the output equals the unsplit target's."""
    torch.set_num_threads(1)
    _, target = load_pair(checkpoint)
    tail = None
    if cloud is not None:
        tail = RemoteTail(cloud, layers, timeout_s=timeout_s, weights=weights_digest(target))
    model = SplitLM(target, layers, tail=tail, codec=codec)
    tokenizer = ByteTokenizer()
    encoded = tokenizer.encode(prompt)
    try:
        out = generate(model, encoded, tokens)
    finally:
        model.tail.close()
    same = out == generate(target, encoded, tokens)
    text = tokenizer.decode(out)
    console.print(prompt + text, markup=False, highlight=False)
    stats = {
        "cloud": cloud or "in process",
        "split": f"{layers} of {target.config.n_layers} blocks here, codec {model.codec.spec}",
        "bytes up / down per row": f"{fmt_bytes(model.bytes_up / model.rows_up)} / "
        f"{fmt_bytes(model.bytes_down / model.rows_up)}",
        "same as the unsplit target": "yes" if same else "no",
    }
    console.print(key_values(stats))
    if json_path is not None:
        payload = {
            "prompt": prompt,
            "text": text,
            "token_ids": out,
            "layers": layers,
            "codec": model.codec.spec,
            "bytes_up": model.bytes_up,
            "bytes_down": model.bytes_down,
            "rows_up": model.rows_up,
            "identical_to_unsplit": same,
        }
        write_text(json_path, json.dumps(payload, indent=2))
