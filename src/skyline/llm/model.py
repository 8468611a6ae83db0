"""A small decoder-only transformer with an explicit KV cache.

`forward(tokens, cache)` runs any number of new tokens against the cached prefix at once:
speculative verification scores k draft tokens in one pass, and `KVCache.truncate` forgets the
rejected ones. Pre-norm blocks, causal self-attention, rotary or learned positions, optionally
tied input/output embeddings; construction is seeded and leaves the global RNG untouched.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal, overload

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skyline.errors import ConfigError

Positions = Literal["rotary", "learned"]


@dataclass(frozen=True)
class LMConfig:
    vocab_size: int = 256
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 0  # 0: 4 * d_model
    max_len: int = 512
    positions: Positions = "rotary"
    tie_embeddings: bool = True

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "max_len"):
            if getattr(self, name) < 1:
                raise ConfigError(f"LMConfig.{name} must be >= 1", fix="pass a positive size")
        if self.d_ff < 0:
            raise ConfigError("LMConfig.d_ff must be >= 0", fix="pass 0 for 4 * d_model")
        if self.d_model % self.n_heads:
            raise ConfigError(
                f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}",
                fix="pick n_heads dividing d_model",
            )
        if self.positions not in ("rotary", "learned"):
            raise ConfigError(
                f"positions {self.positions!r} is not 'rotary' or 'learned'",
                fix="pass positions='rotary' or positions='learned'",
            )
        if self.positions == "rotary" and self.head_dim % 2:
            raise ConfigError(
                f"rotary positions need an even head size, got {self.head_dim}",
                fix="change d_model / n_heads, or use positions='learned'",
            )

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def ff_dim(self) -> int:
        return self.d_ff or 4 * self.d_model

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LMConfig:
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"unknown LMConfig fields {unknown}", fix="remove them")
        return cls(**data)


class KVCache:
    """Keys and values of every layer for the first `length` positions of a batch of sequences.

    Preallocated to `max_len`, so appending is a slice write and `truncate` (dropping rejected
    draft tokens) is O(1)."""

    def __init__(
        self,
        config: LMConfig,
        batch: int = 1,
        dtype: torch.dtype = torch.float32,
        *,
        layers: int | None = None,
    ) -> None:
        """`layers` (default all) is how many blocks the cache serves: a layer split keeps
        one cache for the edge's blocks and one for the cloud's."""
        n = config.n_layers if layers is None else layers
        shape = (n, batch, config.n_heads, config.max_len, config.head_dim)
        self.keys = torch.zeros(shape, dtype=dtype)
        self.values = torch.zeros(shape, dtype=dtype)
        self.max_len = config.max_len
        self.length = 0

    def write(self, layer: int, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """Store `keys`/`values` [B, H, T, D] after the cached prefix; returns the layer's keys
        and values through them. `advance` commits the new length once every layer wrote."""
        end = self.length + keys.shape[2]
        self.keys[layer, :, :, self.length : end] = keys
        self.values[layer, :, :, self.length : end] = values
        return self.keys[layer, :, :, :end], self.values[layer, :, :, :end]

    def advance(self, n: int) -> None:
        self.length += n

    def truncate(self, length: int) -> None:
        """Forget every position from `length` on (e.g. rejected draft tokens)."""
        if not 0 <= length <= self.length:
            raise ConfigError(
                f"cannot truncate a cache of {self.length} positions to {length}",
                fix=f"pass a length in 0..{self.length}",
            )
        self.length = length


class _Rotary(nn.Module):
    """Rotary position embedding (half-split layout), tables precomputed up to max_len."""

    def __init__(self, head_dim: int, max_len: int, base: float = 10000.0) -> None:
        super().__init__()
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
        angles = torch.outer(torch.arange(max_len, dtype=torch.float64), inv_freq)
        self.cos: Tensor
        self.sin: Tensor
        self.register_buffer("cos", angles.cos().float(), persistent=False)
        self.register_buffer("sin", angles.sin().float(), persistent=False)

    def forward(self, x: Tensor, start: int) -> Tensor:
        t = x.shape[2]
        cos = self.cos[start : start + t].to(x.dtype)
        sin = self.sin[start : start + t].to(x.dtype)
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


class _Attention(nn.Module):
    def __init__(self, config: LMConfig, rotary: _Rotary | None) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.proj = nn.Linear(config.d_model, config.d_model)
        self.rotary = rotary

    def forward(self, x: Tensor, layer: int, cache: KVCache | None) -> Tensor:
        b, t, d = x.shape
        q, k, v = (
            part.view(b, t, self.n_heads, -1).transpose(1, 2) for part in self.qkv(x).chunk(3, -1)
        )
        start = cache.length if cache is not None else 0
        if self.rotary is not None:
            q, k = self.rotary(q, start), self.rotary(k, start)
        if cache is not None:
            k, v = cache.write(layer, k, v)
        if start == 0:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        elif t == 1:  # one new token sees every cached key: no mask (the decoding hot path)
            out = F.scaled_dot_product_attention(q, k, v)
        else:  # query i sits at position start + i and sees keys 0..start + i
            keys = torch.arange(start + t)
            mask = keys[None, :] <= (start + torch.arange(t))[:, None]
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(out.transpose(1, 2).reshape(b, t, d))


class _Block(nn.Module):
    def __init__(self, config: LMConfig, rotary: _Rotary | None) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(config.d_model)
        self.attn = _Attention(config, rotary)
        self.ln2 = nn.LayerNorm(config.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(config.d_model, config.ff_dim),
            nn.GELU(),
            nn.Linear(config.ff_dim, config.d_model),
        )

    def forward(self, x: Tensor, layer: int, cache: KVCache | None) -> Tensor:
        x = x + self.attn(self.ln1(x), layer, cache)
        return x + self.mlp(self.ln2(x))


class DecoderLM(nn.Module):
    """Causal language model: tokens [B, T] -> next-token logits [B, T, vocab]."""

    def __init__(self, config: LMConfig, *, seed: int = 0) -> None:
        super().__init__()
        self.config = config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.embed = nn.Embedding(config.vocab_size, config.d_model)
            self.pos = (
                nn.Embedding(config.max_len, config.d_model)
                if config.positions == "learned"
                else None
            )
            rotary = (
                _Rotary(config.head_dim, config.max_len) if config.positions == "rotary" else None
            )
            self.blocks = nn.ModuleList(_Block(config, rotary) for _ in range(config.n_layers))
            self.ln_f = nn.LayerNorm(config.d_model)
            self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
            self._init_weights()
        if config.tie_embeddings:
            self.head.weight = self.embed.weight

    def _init_weights(self) -> None:
        """GPT-2 style: N(0, 0.02), residual projections scaled down by depth."""
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layers)
        for name, p in self.named_parameters():
            if p.dim() < 2:
                continue  # biases and norms keep their defaults (0 and 1)
            std = residual_std if name.endswith(("attn.proj.weight", "mlp.2.weight")) else 0.02
            nn.init.normal_(p, std=std)
        for module in self.modules():
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def new_cache(self, batch: int = 1) -> KVCache:
        return KVCache(self.config, batch, dtype=self.embed.weight.dtype)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @overload
    def forward(self, tokens: Tensor, cache: KVCache) -> tuple[Tensor, KVCache]: ...

    @overload
    def forward(self, tokens: Tensor, cache: None = None) -> tuple[Tensor, None]: ...

    def forward(
        self, tokens: Tensor, cache: KVCache | None = None
    ) -> tuple[Tensor, KVCache | None]:
        """Logits for every position of `tokens`, which continue the cached prefix (positions
        cache.length...). The cache is extended in place and returned."""
        x = self.embed_tokens(tokens, cache.length if cache is not None else 0)
        x = self.run_blocks(x, 0, self.config.n_layers, cache)
        if cache is not None:
            cache.advance(tokens.shape[1])
        return self.logits(x), cache

    def embed_tokens(self, tokens: Tensor, start: int) -> Tensor:
        """Hidden states [B, T, d_model] entering block 0 for tokens at positions start...
        The three steps of `forward` are public so a layer split runs exactly the same ops."""
        t = tokens.shape[1]
        if start + t > self.config.max_len:
            raise ConfigError(
                f"sequence of {start + t} tokens exceeds max_len {self.config.max_len}",
                fix="shorten the prompt or generation, or use a model with a larger max_len",
            )
        x = self.embed(tokens)
        if self.pos is not None:
            x = x + self.pos(torch.arange(start, start + t, device=tokens.device))
        return x

    def run_blocks(self, x: Tensor, first: int, stop: int, cache: KVCache | None) -> Tensor:
        """Blocks first..stop-1 on hidden states `x`; the cache's layer 0 is block `first`.
        The caller advances the cache once all of its blocks ran."""
        for i in range(first, stop):
            x = self.blocks[i](x, i - first, cache)
        return x

    def logits(self, x: Tensor) -> Tensor:
        """Next-token logits from the last block's hidden states."""
        return self.head(self.ln_f(x))
