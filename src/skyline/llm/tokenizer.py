"""Byte-level tokenizer: one token per UTF-8 byte, so draft and target share it with no
vocabulary file, any text round-trips, and nothing is downloaded."""

from __future__ import annotations

from collections.abc import Sequence

from skyline.errors import ConfigError


class ByteTokenizer:
    """Token ids 0..255 are the bytes of the UTF-8 encoding."""

    name = "bytes"
    vocab_size = 256

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, tokens: Sequence[int]) -> str:
        """Bytes back to text; a multi-byte character cut by the end of generation shows as
        U+FFFD instead of raising."""
        bad = [t for t in tokens if not 0 <= t < 256]
        if bad:
            raise ConfigError(
                f"token ids {bad[:5]} are not bytes", fix="decode ids in 0..255 from a byte model"
            )
        return bytes(tokens).decode("utf-8", errors="replace")
