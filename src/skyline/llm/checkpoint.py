"""Checkpoints: config + weights in one torch file, loaded with weights_only=True (no pickled
code), stored in float16 so a trained draft/target pair ships inside the package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import torch

from skyline.errors import ConfigError
from skyline.llm.model import DecoderLM, LMConfig

FORMAT = "skyline.llm/v1"
PAIR = ("draft", "target")
TRAIN_HINT = "train the pair with `python benchmarks/llm_train.py` (see its --help)"


def save_checkpoint(
    model: DecoderLM,
    path: str | Path,
    *,
    meta: dict[str, Any] | None = None,
    dtype: torch.dtype = torch.float16,
) -> None:
    """Floating-point weights are stored as `dtype`; a tied output matrix is stored once."""
    state = {
        name: t.to(dtype) if t.is_floating_point() else t
        for name, t in model.state_dict().items()
        if not (model.config.tie_embeddings and name == "head.weight")
    }
    payload = {
        "format": FORMAT,
        "config": model.config.to_dict(),
        "tokenizer": "bytes",
        "state_dict": state,
        "meta": meta or {},
    }
    torch.save(payload, Path(path))


def load_checkpoint(path: str | Path) -> tuple[DecoderLM, dict[str, Any]]:
    """(float32 model in eval mode, the meta saved with it)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no checkpoint at {path}", fix=TRAIN_HINT)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling refuses anything but tensors and plain containers
        raise ConfigError(f"{path} is not a loadable checkpoint: {exc}", fix=TRAIN_HINT) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ConfigError(
            f"{path} is not a {FORMAT} checkpoint", fix="save it with save_checkpoint()"
        )
    model = DecoderLM(LMConfig.from_dict(payload["config"]))
    state = {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    allowed = {"head.weight"} if model.config.tie_embeddings else set()
    if set(missing) - allowed or unexpected:
        raise ConfigError(
            f"{path} does not match its config: missing {sorted(set(missing) - allowed)}, "
            f"unexpected {sorted(unexpected)}",
            fix="re-save the checkpoint",
        )
    return model.eval(), dict(payload.get("meta", {}))


def checkpoint_dir() -> Path:
    """Where the trained pair ships: the package's `checkpoints/` folder."""
    return Path(str(resources.files("skyline.llm") / "checkpoints"))


def load_pair(directory: str | Path | None = None) -> tuple[DecoderLM, DecoderLM]:
    """The trained (draft, target) pair, from `directory` or the package."""
    folder = Path(directory) if directory is not None else checkpoint_dir()
    draft, _ = load_checkpoint(folder / "draft.pt")
    target, _ = load_checkpoint(folder / "target.pt")
    if draft.config.vocab_size != target.config.vocab_size:
        raise ConfigError(
            f"{folder}: draft and target vocabularies differ", fix="train them together"
        )
    return draft, target
