"""Fixtures for transfer tests: tiny lexkit-trained tokenizers and tiny Llama models built in-test (seconds)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from lexkit import Tokenizer
from lexkit.embedded import default_corpus
from lexkit.vocab import BPEConfig, train

EOT = "<|endoftext|>"


@pytest.fixture(scope="session")
def prose() -> list[str]:
    """English reference-manual text (the embedded corpus), split into lines."""
    return [line for doc in default_corpus("prose")[:80] for line in doc.splitlines(keepends=True)]


@pytest.fixture(scope="session")
def source_tokenizer(prose) -> Tokenizer:
    """Byte-level BPE, 420 tokens, trained on prose; ``<|endoftext|>`` is id 0."""
    return Tokenizer(train(prose, BPEConfig(vocab_size=420, special_tokens=(EOT,)), workers=1, progress=False))


@pytest.fixture(scope="session")
def target_tokenizer() -> Tokenizer:
    """Byte-level BPE, 460 tokens, trained on Python code (many tokens the source lacks); two specials."""
    code = [line for doc in default_corpus("code")[:6] for line in doc.splitlines(keepends=True)]
    config = BPEConfig(vocab_size=460, special_tokens=(EOT, "<pad>"))
    return Tokenizer(train(code, config, workers=1, progress=False))


def tiny_llama(vocab_size: int, *, tied: bool = True, seed: int = 0, hidden: int = 32,
               dtype: torch.dtype = torch.float32) -> LlamaForCausalLM:
    """A random 2-layer Llama with a small configuration; ids 0/0/0 for bos/eos/pad (``<|endoftext|>``)."""
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=tied,
        bos_token_id=0, eos_token_id=0, pad_token_id=0,
    )
    return LlamaForCausalLM(config).to(dtype).eval()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def make_llama():
    """The `tiny_llama` factory (tests call it with the vocabulary size and tying they need)."""
    return tiny_llama


@pytest.fixture(scope="session")
def ascii_source():
    """A byte-level source vocabulary with no token for any byte >= 0x80 (so the byte 0xE9 cannot be decomposed)."""
    from lexkit.components import byte_level_decoder, byte_level_pre_tokenizer
    from lexkit.vocabulary import Token, TokenKind, Vocabulary

    tokens = [Token(0, EOT.encode(), TokenKind.SPECIAL)] + [Token(i + 1, bytes([i])) for i in range(128)]
    return Vocabulary(tuple(tokens), pre_tokenizer=byte_level_pre_tokenizer(), decoder=byte_level_decoder())


@pytest.fixture(scope="session")
def held_out_slices() -> dict[str, list[str]]:
    """Held-out text for the real-model transfer tests: 10 prose chunks of 400 characters from the last megabyte
    of ``corpus_10M.txt`` and 10 of CPython standard-library source (as bench_transfer_qwen.py scores, smaller)."""
    import sysconfig
    from pathlib import Path

    from _resources import corpus_path

    from lexkit.transfer.evaluate import chunk_text

    def spread(chunks: list[str], count: int = 10) -> list[str]:
        kept = [c for c in chunks if len(c.strip()) > 100]
        return [kept[int(i * len(kept) / count)] for i in range(count)]

    tail = corpus_path().read_bytes()[-1_000_000:]
    prose = tail[tail.index(b"\n") + 1:].decode("utf-8")
    stdlib = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    code = [c for path in stdlib for c in chunk_text(path.read_text(encoding="utf-8", errors="replace"), 400)]
    return {"prose": spread(chunk_text(prose, 400)), "code": spread(code)}


@pytest.fixture(scope="module")
def texts() -> list[str]:
    """Healing's training text for the tiny models."""
    return default_corpus("prose")[:24]


@pytest.fixture(scope="module")
def teacher(source_tokenizer, make_llama):
    """A tiny Llama on the source tokenizer: healing's original model."""
    return make_llama(len(source_tokenizer.vocabulary), seed=1)


@pytest.fixture(scope="module")
def swapped(teacher, source_tokenizer, target_tokenizer):
    """The teacher moved to the target tokenizer with mean init: healing's student."""
    from lexkit.transfer import transplant

    return transplant(teacher, target_tokenizer, "mean", source_tokenizer=source_tokenizer, device="cpu")
