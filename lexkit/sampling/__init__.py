"""Exact byte-level probabilities and sampling from tokenized language models.

A token-level LM becomes a byte-level LM through the Byte-Token Representation lemma of Phan et al.
(arXiv 2410.09303): the probability of a byte prefix is the sum over its cover encodings. `ByteSampler` does
that for one model and its tokenizer (seen through a `TokenizerAdapter`), `ByteEnsemble` combines several.
torch and transformers are imported only when `HFCausalLM` is built. The test oracles (known sources and their
exact answers, toy tokenizers) live in the private ``lexkit.sampling._oracles``.
"""

from lexkit.sampling.adapter import TokenizerAdapter
from lexkit.sampling.ensemble import ByteEnsemble, EnsembleState
from lexkit.sampling.fim import ContextLM, fim_generate
from lexkit.sampling.lm import HFCausalLM, TokenLM
from lexkit.sampling.loading import load_byte_sampler
from lexkit.sampling.sampler import EOS, ByteSampler, ByteState, generate_from, sample_byte

__all__ = [
    "EOS",
    "ByteEnsemble",
    "ByteSampler",
    "ByteState",
    "ContextLM",
    "EnsembleState",
    "HFCausalLM",
    "TokenLM",
    "TokenizerAdapter",
    "fim_generate",
    "generate_from",
    "load_byte_sampler",
    "sample_byte",
]
