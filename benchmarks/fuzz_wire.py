"""Fuzz `decode_frame` far longer than the test suite does: anything but `FrameError` (or a
torch warning) is a crash. Inputs: valid frames over every codec, mutated by bit flips, byte
overwrites, truncations, extensions and swapped/dropped/duplicated parts, plus random messages
(some behind a valid header so the table parser is reached). Writes JSON; run alone.

    python benchmarks/fuzz_wire.py [--examples 200000] [--seed 0] [--out results/fuzz_wire.json]
"""

from __future__ import annotations

import argparse
import json
import random
import time
import traceback
import warnings
from pathlib import Path

import torch

from skyline.bench import machine_info
from skyline.errors import FrameError
from skyline.runtime.codecs import names
from skyline.runtime.wire import MAGIC, VERSION, Frame, FrameKind, decode_frame, encode_frame

MAX_BYTES = 1 << 20  # keeps a lucky huge-but-valid shape cheap


def base_frames() -> list[list[bytes]]:
    """Small valid messages: every codec, mixed dtypes, 0-d and empty tensors, meta."""
    g = torch.Generator().manual_seed(0)
    tensors = {
        "x": torch.randn(2, 3, 2, generator=g),
        "i": torch.arange(5),
        "b": torch.tensor([True, False, True]),
        "s": torch.tensor(1.5, dtype=torch.float64),
        "e": torch.zeros(0, 4, dtype=torch.bfloat16),
    }
    frames = [
        Frame(FrameKind.REQUEST, 1, tensors, {"stage": 1, "ms": [0.5, 1.25]}),
        Frame(FrameKind.RESPONSE, 2**63, {"y": torch.zeros(64)}),
        Frame(FrameKind.ERROR, 3, meta={"error": "boom"}),
        Frame(FrameKind.PING, 4),
    ]
    return [
        [bytes(p) for p in encode_frame(f, default_codec=codec)]
        for f in frames
        for codec in names()
    ]


def mutate(rng: random.Random, parts: list[bytes]) -> list[bytes]:
    parts = list(parts)
    for _ in range(rng.randint(1, 4)):
        if not parts:
            break
        i = 0 if rng.random() < 0.6 else rng.randrange(len(parts))  # part 0 is where parsing is
        part = bytearray(parts[i])
        op = rng.choice(["flip", "set", "truncate", "extend", "swap", "drop", "duplicate"])
        if op == "flip" and part:
            part[rng.randrange(len(part))] ^= 1 << rng.randrange(8)
        elif op == "set" and part:
            pos = rng.randrange(len(part))
            part[pos : pos + 8] = rng.choice([b"\xff" * 8, b"\x00" * 8, rng.randbytes(8)])
        elif op == "truncate":
            del part[rng.randrange(len(part) + 1) :]
        elif op == "extend":
            part += rng.randbytes(rng.randrange(1, 17))
        elif op == "swap":
            j = rng.randrange(len(parts))
            parts[i], parts[j] = parts[j], parts[i]
            continue
        elif op == "drop":
            del parts[i]
            continue
        elif op == "duplicate":
            parts.insert(i, parts[i])
            continue
        parts[i] = bytes(part)
    return parts


def random_message(rng: random.Random) -> list[bytes]:
    parts = [rng.randbytes(rng.randrange(65)) for _ in range(rng.randrange(5))]
    if parts and rng.random() < 0.5:  # a valid header in front of a random table
        header = MAGIC + bytes([VERSION, rng.randint(1, 5), 0, 0]) + bytes(8)
        parts[0] = header + len(parts[0]).to_bytes(4, "little") + parts[0]
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/fuzz_wire.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("error")  # a torch warning on hostile input counts as a crash
    rng = random.Random(args.seed)
    bases = base_frames()
    counts = {"rejected": 0, "accepted": 0}
    crashes: list[dict[str, object]] = []
    t0 = time.perf_counter()
    for _ in range(args.examples):
        parts = mutate(rng, rng.choice(bases)) if rng.random() < 0.85 else random_message(rng)
        try:
            decode_frame(parts, max_bytes=MAX_BYTES)
            counts["accepted"] += 1
        except FrameError:
            counts["rejected"] += 1
        except Exception as exc:
            crashes.append(
                {
                    "error": f"{type(exc).__name__}: {exc}",
                    "where": traceback.format_exc().splitlines()[-3:],
                    "parts_hex": [p[:256].hex() for p in parts],
                }
            )
    seconds = time.perf_counter() - t0
    report = {
        "benchmark": "fuzz_wire",
        "measured": True,
        "examples": args.examples,
        "seed": args.seed,
        "crashes": len(crashes),
        **counts,
        "seconds": round(seconds, 2),
        "examples_per_s": round(args.examples / seconds),
        "machine": machine_info(),
        "first_crashes": crashes[:20],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"{args.examples} examples in {seconds:.1f} s: {len(crashes)} crashes, "
        f"{counts['rejected']} rejected, {counts['accepted']} accepted -> {out}"
    )


if __name__ == "__main__":
    main()
