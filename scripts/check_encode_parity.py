"""Check that lexkit's encode engine gives HF's ids on a whole corpus file, for the real tokenizers.

Reads the file in blocks of lines (bounded memory), encodes each block with ``Tokenizer.encode_batch_flat`` and
with the HF ``tokenizers`` engine on the same ``tokenizer.json``, and counts the lines whose ids differ; the
first few are printed. Exit status 1 on any difference. Not a unit test: the whole 100 MB takes minutes.

Usage: python scripts/check_encode_parity.py [--corpus cache/fixtures/corpus/corpus_100M.txt] [--only gpt2,...]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

BLOCK_LINES = 20_000


def _blocks(path: Path) -> Iterator[list[str]]:
    block: list[str] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            block.append(line)
            if len(block) == BLOCK_LINES:
                yield block
                block = []
    if block:
        yield block


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "cache" / "fixtures" / "corpus" / "corpus_100M.txt")
    parser.add_argument("--only", default="", help="comma-separated tokenizer names (default: all)")
    args = parser.parse_args()
    if not args.corpus.exists():
        raise SystemExit(f"{args.corpus}: missing; run `make fixtures` (it builds the English corpus)")

    import _resources
    import numpy as np

    from lexkit import Tokenizer
    from lexkit.formats.hf import from_hf
    from lexkit.formats.sentencepiece import from_sentencepiece
    from lexkit.formats.tiktoken import from_tiktoken

    loads = {
        "gpt2": lambda: Tokenizer(from_hf(_resources.gpt2_tokenizer_json())),
        "cl100k_base": lambda: Tokenizer(from_tiktoken(_resources.tiktoken_encoding("cl100k_base"))),
        "o200k_base": lambda: Tokenizer(from_tiktoken(_resources.tiktoken_encoding("o200k_base"))),
        "llama3": lambda: Tokenizer(from_hf(_resources.llama3_tokenizer_json())),
        "qwen2.5": lambda: Tokenizer(from_tiktoken(_resources.qwen_tiktoken("qwen2.5"))),
        "mistral-v1": lambda: Tokenizer(from_sentencepiece(_resources.mistral_sp_model())),
        "bert-minilm": lambda: Tokenizer(from_hf(_resources.minilm_dir() / "tokenizer.json")),
    }
    only = set(filter(None, args.only.split(",")))
    failed = False
    for name, load in loads.items():
        if only and name not in only:
            continue
        tok = load()
        reference = tok.encoder.backend
        lines = tokens = differ = 0
        start = time.perf_counter()
        for block in _blocks(args.corpus):
            ids, offsets = tok.encode_batch_flat(block, disallowed_special=())
            theirs = [e.ids for e in reference.encode_batch(block, add_special_tokens=False)]
            expected = np.fromiter((i for seq in theirs for i in seq), dtype=np.uint32)
            if len(ids) != len(expected) or not np.array_equal(ids, expected):
                for index, seq in enumerate(theirs):
                    if ids[offsets[index]:offsets[index + 1]].tolist() != seq:
                        differ += 1
                        if differ <= 3:
                            print(f"  {name}: line {lines + index} differs: {block[index][:60]!r}")
            lines += len(block)
            tokens += len(expected)
        failed |= differ > 0
        print(f"{name}: engine {tok.encoder.engine.name}, {lines} lines, {tokens} tokens, {differ} lines differ "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
