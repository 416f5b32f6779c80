"""LBPE readings side by side: compression, long-token share, frequency imbalance and encoding speed.

For English (``corpus_10M.txt``; held out: 2 MB of ``corpus_100M.txt`` after its first 10 MB), code (the
CPython standard library's ``.py`` files: 10 MB to train, the next 2 MB held out) and Turkish (the treebank
sentences and the Turkish speeches: the first 83 % of lines to train, the rest held out), lexkit trains a plain
BPE vocabulary (HF-identical merges, ``--vocab`` 32,000) and encodes the held-out text with each LBPE reading.
The reference row is plain BPE run by HF ``tokenizers`` from the vocabulary's ``tokenizer.json``, given its best
ordinary use: ``encode_batch`` (or ``encode_batch_fast`` when faster) over the lines, all cores, warmed up.
Columns: tokens per byte, share of tokens of 6 bytes or more, Gini of the token frequencies over the
vocabulary, MB/s (median of ``--repeat`` alternating rounds) and the ratios to the HF BPE row.

Usage: python bench/bench_lbpe.py [--vocab 32000] [--repeat 5] [--train-mb 10] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fixtures_dir  # noqa: E402

READINGS = ("fewest-tokens", "longest-token", "longest-pair", "long-first")


def _take(lines: Any, limit: float) -> list[str]:
    taken, total = [], 0
    for line in lines:
        taken.append(line)
        total += len(line.encode("utf-8"))
        if total >= limit:
            break
    return taken


def corpora(train_mb: float) -> dict[str, tuple[list[str], list[str]]]:
    """(training lines, held-out lines) per domain."""
    fixtures = fixtures_dir()
    with open(fixtures / "corpus" / "corpus_10M.txt", encoding="utf-8") as handle:
        english_train = _take(handle, train_mb * 1e6)
    with open(fixtures / "corpus" / "corpus_100M.txt", encoding="utf-8") as handle:
        handle.seek(10_000_000)
        handle.readline()  # to a line start
        english_held_out = _take(handle, 2e6)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    code_lines = (line for path in sorted(stdlib.rglob("*.py")) if "site-packages" not in path.parts
                  for line in path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True))
    code_train = _take(code_lines, train_mb * 1e6)
    code_held_out = _take(code_lines, 2e6)
    turkish = [line[len("# text = "):] + "\n" for conllu in sorted((fixtures / "turkish").glob("*.conllu"))
               for line in conllu.read_text(encoding="utf-8").splitlines() if line.startswith("# text = ")]
    with sqlite3.connect(fixtures / "turkish" / "speeches.db") as db:
        turkish += [line + "\n" for (body,) in db.execute(
            "select body from speech_texts where lang='tr' order by rowid") for line in body.splitlines()]
    cut = int(len(turkish) * 0.83)
    return {"English": (english_train, english_held_out), "code": (code_train, code_held_out),
            "Turkish": (turkish[:cut], turkish[cut:])}


def _profile(vocabulary: Any, batch: list[list[int]], size: int) -> dict[str, float]:
    from lexkit.analysis.metrics import gini

    ids = np.fromiter((i for seq in batch for i in seq), dtype=np.int64)
    counts = np.bincount(ids, minlength=vocabulary.model_size)[:vocabulary.model_size].astype(np.float64)
    lengths = np.array([len(t.content) for t in vocabulary.tokens[:vocabulary.model_size]])
    return {"tokens_per_byte": counts.sum() / size, "long_share": float(counts[lengths >= 6].sum() / counts.sum()),
            "gini": gini(counts)}


def domain(name: str, training: list[str], held_out: list[str], vocab: int, repeat: int) -> dict[str, Any]:
    """Train, encode the held-out lines with every contender, time them in alternating rounds."""
    from tokenizers import Tokenizer as HFTokenizer

    from lexkit import Tokenizer
    from lexkit._lbpe import kernel_available
    from lexkit.formats import hf
    from lexkit.vocab import train

    start = time.perf_counter()
    vocabulary = train(training, algorithm="bpe", vocab_size=vocab, progress=False)
    trained = time.perf_counter() - start
    size = sum(len(line.encode("utf-8")) for line in held_out)
    engine = HFTokenizer.from_str(hf.dumps(hf.to_hf(vocabulary)))
    contenders = {
        "bpe (HF encode_batch)": lambda: [e.ids for e in engine.encode_batch(held_out, add_special_tokens=False)],
        "bpe (HF encode_batch_fast)": lambda: [
            e.ids for e in engine.encode_batch_fast(held_out, add_special_tokens=False)],
    }
    for reading in READINGS:
        tokenizer = Tokenizer(vocabulary, encoder=reading)
        contenders[reading] = lambda tokenizer=tokenizer: tokenizer.encode_batch(held_out)
    outputs = {label: run() for label, run in contenders.items()}  # warm-up (engines, caches)
    times: dict[str, list[float]] = {label: [] for label in contenders}
    for _ in range(repeat):
        for label, run in contenders.items():
            begin = time.perf_counter()
            run()
            times[label].append(time.perf_counter() - begin)
    rows = {label: {**_profile(vocabulary, outputs[label], size),
                    "mb_per_s": size / 1e6 / statistics.median(times[label])} for label in contenders}
    hf_label = max(("bpe (HF encode_batch)", "bpe (HF encode_batch_fast)"), key=lambda k: rows[k]["mb_per_s"])
    reference = rows[hf_label]
    print(f"\n{name}: {vocabulary.model_size} tokens trained on {sum(map(len, training)) / 1e6:.1f} M characters "
          f"in {trained:.1f} s; held out {size / 1e6:.2f} MB; median of {repeat}; kernel built: {kernel_available()}")
    print("| encoder | tokens/byte | vs BPE | tokens >= 6 B | Gini | MB/s | vs HF BPE |")
    print("|---|---|---|---|---|---|---|")
    for label, row in rows.items():
        row["tokens_vs_bpe"] = row["tokens_per_byte"] / reference["tokens_per_byte"]
        row["throughput_vs_hf"] = row["mb_per_s"] / reference["mb_per_s"]
        print(f"| {label} | {row['tokens_per_byte']:.4f} | {row['tokens_vs_bpe'] - 1:+.2%} | "
              f"{row['long_share']:.2%} | {row['gini']:.4f} | {row['mb_per_s']:.1f} | "
              f"{row['throughput_vs_hf']:.2f}x |")
    return {"reference": hf_label, "rows": rows, "held_out_bytes": size, "vocab": vocabulary.model_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--train-mb", type=float, default=10.0, help="training text per domain (Turkish has ~2.6)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    results = {name: domain(name, training, held_out, args.vocab, args.repeat)
               for name, (training, held_out) in corpora(args.train_mb).items()}
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
