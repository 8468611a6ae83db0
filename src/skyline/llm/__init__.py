"""Language models across edge and cloud: a small decoder with a KV cache, speculative decoding
(draft on the edge, verification in the cloud) over the runtime's wire and transports, routing
prompts between the edge's draft and the cloud's target, and a layer split of one model."""

from skyline.llm import corpus, routing
from skyline.llm.adaptive import AdaptiveK, FixedK, KPolicy, best_k
from skyline.llm.checkpoint import load_checkpoint, load_pair, save_checkpoint
from skyline.llm.layer_split import (
    CodecAgreement,
    RemoteTail,
    SplitLM,
    SplitServer,
    choose_codec,
    codec_agreement,
)
from skyline.llm.model import DecoderLM, KVCache, LMConfig
from skyline.llm.remote import CloudVerifier, RemoteVerifier
from skyline.llm.speculative import Generation, SpeculativeDecoder, generate
from skyline.llm.stats import Round, SpecStats, expected_tokens_per_pass
from skyline.llm.tokenizer import ByteTokenizer
from skyline.llm.verify import TargetVerifier, Verdict, Verifier, VerifyRequest

__all__ = [
    "AdaptiveK",
    "ByteTokenizer",
    "CloudVerifier",
    "CodecAgreement",
    "DecoderLM",
    "FixedK",
    "Generation",
    "KPolicy",
    "KVCache",
    "LMConfig",
    "RemoteTail",
    "RemoteVerifier",
    "Round",
    "SpecStats",
    "SpeculativeDecoder",
    "SplitLM",
    "SplitServer",
    "TargetVerifier",
    "Verdict",
    "Verifier",
    "VerifyRequest",
    "best_k",
    "choose_codec",
    "codec_agreement",
    "corpus",
    "expected_tokens_per_pass",
    "generate",
    "load_checkpoint",
    "load_pair",
    "routing",
    "save_checkpoint",
]
