"""Encoding throughput: lexkit's ``bpe`` fast path vs HF ``tokenizers`` (and tiktoken) on the same tokenizer.

Runs all contenders on the same text in one process, alternating, and prints MB/s and the ratio to HF.
Usage: python bench/bench_encode.py [--corpus PATH] [--mb 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fixtures_dir, load_text  # noqa: E402


def _time(fn: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=None, help="text file (default: corpus_10M.txt fixture)")
    parser.add_argument("--mb", type=float, default=10.0, help="megabytes of text to encode")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    import tiktoken
    from tokenizers import Tokenizer as HFTokenizer

    from lexkit import Tokenizer
    from lexkit.components import GPT2_PATTERN
    from lexkit.formats.tiktoken import read_ranks

    lines = load_text(args.corpus, args.mb)
    megabytes = sum(len(line.encode("utf-8")) for line in lines) / 1e6
    tokenizer_json = fixtures_dir() / "gpt2" / "tokenizer.json"
    hf = HFTokenizer.from_file(str(tokenizer_json))
    lexkit_tok = Tokenizer.load(tokenizer_json)
    lexkit_tok.encode("warm up")
    ranks = read_ranks(fixtures_dir() / "whisper" / "gpt2.tiktoken")
    tik = tiktoken.Encoding("gpt2", pat_str=GPT2_PATTERN, mergeable_ranks=ranks,
                            special_tokens={"<|endoftext|>": 50256})

    contenders: dict[str, Callable[[], object]] = {
        "lexkit encode_batch": lambda: lexkit_tok.encode_batch(lines),
        "HF encode_batch": lambda: [e.ids for e in hf.encode_batch(lines, add_special_tokens=False)],
        "HF encode_batch_fast": lambda: [e.ids for e in hf.encode_batch_fast(lines, add_special_tokens=False)],
        "tiktoken encode_ordinary_batch": lambda: tik.encode_ordinary_batch(lines),
    }
    assert lexkit_tok.encode_batch(lines[:2000]) == [e.ids for e in hf.encode_batch(lines[:2000])], \
        "lexkit and HF disagree: the benchmark would compare different work"
    results: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.repeat):  # alternate so machine drift hits every contender alike
        for name, fn in contenders.items():
            results[name] += _time(fn, 1)

    base = statistics.median(results["HF encode_batch"])
    print(f"GPT-2 tokenizer, {megabytes:.1f} MB in {len(lines)} lines, median of {args.repeat} runs, "
          f"{os.cpu_count()} cores")
    print(f"{'contender':<32} {'seconds':>8} {'MB/s':>8} {'vs HF encode_batch':>19}")
    table = {}
    for name, times in results.items():
        median = statistics.median(times)
        table[name] = {"seconds": median, "mb_per_s": megabytes / median, "throughput_ratio_vs_hf": base / median}
        print(f"{name:<32} {median:>8.3f} {megabytes / median:>8.2f} {base / median:>18.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"megabytes": megabytes, "results": table}, indent=2))


if __name__ == "__main__":
    main()
