"""Language models across edge and cloud: a small decoder with a KV cache, speculative decoding
(draft on the edge, verification in the cloud) over the runtime's wire and transports."""

from skyline.llm.model import DecoderLM, KVCache, LMConfig
from skyline.llm.tokenizer import ByteTokenizer

__all__ = ["ByteTokenizer", "DecoderLM", "KVCache", "LMConfig"]
