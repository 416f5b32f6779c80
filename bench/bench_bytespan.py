"""ByteSpan vs BPE at equal vocabulary size: training time side by side, then morphological alignment and efficiency.

Speed (each contender in its own subprocess, on the first ``--mb`` MB of the English mix, vocabulary ``--vocab``):
lexkit ``bytespan`` with the n-gram byte LM (signals, spans, vocabulary: the whole run), lexkit ``bpe``, HF
``BpeTrainer`` and HF ``WordPieceTrainer`` (ByteSpan is a WordPiece model), all byte-level with the GPT-2 pattern.

Encoding speed: ByteSpan's ``longest-prefix`` on lexkit's engine vs HF ``encode_batch`` on the held-out text (MB/s).

Quality (unless ``--speed-only``), every tokenizer trained on the same text:
``bpe`` (merges, encoder ``bpe``); ``bpewp`` (BPE trained in WordPiece form, longest-prefix inference: ByteSpan
with ``fill=seeding, seed_proportion=0``); ByteSpan with the n-gram LM (entropy and surprisal, combined; entropy
monotonic; entropy combined with 50 % seeding; entropy global) and, with ``--transformer-mb``, ByteSpan with a
small byte transformer trained on that many MB. Measured on held-out text (the ``--heldout-mb`` MB that follow the
10 MB prefix in ``corpus_100M.txt``): fertility (tokens per pre-token), Rényi efficiency (alpha 2.5), and on gold
segmentations built from the hunspell en_US affix rules (``lexkit.analysis.morph_gold``, words seen at least 5 times
in the training text): MorphScore and boundary F1.

Usage: python bench/bench_bytespan.py [--mb 2] [--vocab 16000] [--transformer-mb 0] [--speed-only] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fixtures_dir, load_text  # noqa: E402

SPEED = ("lexkit-bytespan", "lexkit-bpe", "hf-bpe", "hf-wordpiece")

_CHILD = r"""
import json, sys, time
kind, corpus, vocab = sys.argv[1], sys.argv[2], int(sys.argv[3])
start = time.perf_counter()
if kind.startswith("lexkit-"):
    from lexkit.vocab import train
    train(corpus, algorithm=kind[len("lexkit-"):], vocab_size=vocab, min_frequency=2, progress=False)
else:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    if kind == "hf-bpe":
        tokenizer = Tokenizer(models.BPE())
        trainer = trainers.BpeTrainer(vocab_size=vocab, min_frequency=2, show_progress=False, initial_alphabet=alphabet)
    else:
        tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        trainer = trainers.WordPieceTrainer(vocab_size=vocab, min_frequency=2, show_progress=False,
                                            initial_alphabet=alphabet, special_tokens=["[UNK]"])
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.train([corpus], trainer)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def speed(corpus: Path, vocab: int) -> dict[str, float]:
    """Wall time of each contender, trained once in a fresh interpreter."""
    out = {}
    for kind in SPEED:
        run = subprocess.run([sys.executable, "-P", "-c", _CHILD, kind, str(corpus), str(vocab)], capture_output=True,
                             text=True, check=True)
        out[kind] = round(json.loads(run.stdout.strip().splitlines()[-1])["seconds"], 2)
        print(f"  {kind:18s} {out[kind]:8.2f} s", flush=True)
    return out


def heldout_text(megabytes: float) -> list[str]:
    """Lines of ``corpus_100M.txt`` after its first 10 MB (the 10 MB file is a prefix of it): unseen in training."""
    path = fixtures_dir() / "corpus" / "corpus_100M.txt"
    skip, limit = 10_000_000, int(megabytes * 1e6)
    lines, seen, taken = [], 0, 0
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            size = len(line.encode("utf-8"))
            seen += size
            if seen <= skip:
                continue
            lines.append(line)
            taken += size
            if taken >= limit:
                break
    return lines


def measure(tokenizer: Any, heldout: list[str], gold: dict[str, tuple[str, str]], gold_path: Path) -> dict[str, Any]:
    """Fertility per pre-token, Rényi efficiency, MorphScore and boundary F1 of one tokenizer."""
    import numpy as np

    from lexkit.analysis.metrics import morph_boundary_f1, morph_score, renyi_efficiency
    from lexkit.components import build_pipeline

    vocabulary = tokenizer.vocabulary
    pipeline = build_pipeline(vocabulary.normalizer, vocabulary.pre_tokenizer)
    pre_tokens = sum(len(pipeline.pre_tokenize(line)) for line in heldout)
    counts = np.zeros(len(vocabulary), dtype=np.int64)
    tokens = 0
    for first in range(0, len(heldout), 4096):
        for ids in tokenizer.encode_batch(heldout[first:first + 4096], disallowed_special=()):
            counts += np.bincount(np.asarray(ids, dtype=np.int64), minlength=len(vocabulary))
            tokens += len(ids)
    score = morph_score(tokenizer, {w: list(m) for w, m in gold.items()})
    f1 = morph_boundary_f1(tokenizer, gold_path)
    return {"fertility": round(tokens / pre_tokens, 4), "renyi_efficiency": round(renyi_efficiency(counts), 4),
            "morph_score": score["score"], "morph_score_words": score["words"],
            "single_token_gold_words": score["single_token_words"], "boundary_f1": f1["f1"],
            "vocab_size": len(vocabulary), "heldout_tokens": tokens}


def lm_bits_per_byte(lm: Any, heldout: list[str]) -> float:
    """Mean surprisal of the held-out bytes in bits (the byte LM's quality)."""
    blocks = ["".join(heldout[i:i + 30]).encode("utf-8") for i in range(0, len(heldout), 30)]
    total = sum(float(s.surprisal.sum()) for s in lm.score(blocks))
    return round(total / sum(map(len, blocks)) / math.log(2), 4)


def quality(args: argparse.Namespace, texts: list[str]) -> dict[str, Any]:
    from lexkit.analysis.morph_gold import affix_segmentations, corpus_word_counts, write_gold
    from lexkit.tokenizer import Tokenizer
    from lexkit.vocab import BPEConfig, ByteSpanConfig, train

    fixtures = fixtures_dir()
    gold = affix_segmentations(fixtures / "hunspell_en" / "en_US.dic", fixtures / "hunspell_en" / "en_US.aff",
                               word_counts=corpus_word_counts(texts), min_count=5)
    gold_path = Path(tempfile.mkdtemp()) / "gold_en.tsv"
    write_gold(gold, gold_path)
    prefixes = sum(1 for m in gold.values() if m[0] in ("re", "in", "un", "de", "dis", "con", "pro"))
    heldout = heldout_text(args.heldout_mb)
    results: dict[str, Any] = {
        "gold": {"source": "hunspell-en-us 1:2020.12.07-2 en_US.dic/.aff, single affix, strip 0, stem >= 3 chars, "
                           "word seen >= 5 times in the training text", "words": len(gold),
                 "prefix_words": prefixes, "suffix_words": len(gold) - prefixes},
        "heldout_bytes": sum(len(t.encode("utf-8")) for t in heldout), "tokenizers": {},
    }
    base = ByteSpanConfig(vocab_size=args.vocab)
    runs: list[tuple[str, Callable[[], Any], list[str]]] = [
        ("bpe", lambda: train(texts, BPEConfig(vocab_size=args.vocab), progress=False), texts),
        ("bpewp", lambda: train(texts, replace(base, fill="seeding", seed_proportion=0.0), progress=False), texts),
        ("bytespan-ngram-entropy-combined", lambda: train(texts, base, progress=False), texts),
        ("bytespan-ngram-surprisal-combined", lambda: train(texts, replace(base, signal="surprisal"),
                                                            progress=False), texts),
        ("bytespan-ngram-entropy-monotonic", lambda: train(texts, replace(base, constraint="monotonic"),
                                                           progress=False), texts),
        ("bytespan-ngram-entropy-combined-seeding50", lambda: train(texts, replace(base, fill="seeding"),
                                                                    progress=False), texts),
        ("bytespan-ngram-entropy-global", lambda: train(texts, replace(base, constraint="global"),
                                                        progress=False), texts),
    ]
    lm_dir = None
    if args.transformer_mb:
        small = load_text(None, args.transformer_mb)
        lm_dir = Path(tempfile.mkdtemp()) / "byte_lm"
        transformer = replace(base, byte_lm="transformer", lm_steps=args.lm_steps, save_byte_lm=str(lm_dir))
        runs.append((f"bytespan-transformer-entropy-combined@{args.transformer_mb}MB",
                     lambda: train(small, transformer, progress=True), small))
        if args.transformer_mb != args.mb:  # the n-gram and BPE rows on the same smaller text, for comparison
            runs += [
                (f"bytespan-ngram-entropy-combined@{args.transformer_mb}MB",
                 lambda: train(small, base, progress=False), small),
                (f"bpe@{args.transformer_mb}MB",
                 lambda: train(small, BPEConfig(vocab_size=args.vocab), progress=False), small),
            ]
    for name, build, corpus in runs:
        start = time.perf_counter()
        vocabulary = build()
        seconds = time.perf_counter() - start
        row = measure(Tokenizer(vocabulary), heldout, gold, gold_path)
        row["train_seconds"] = round(seconds, 2)
        row["train_bytes"] = sum(len(t.encode("utf-8")) for t in corpus)
        info = vocabulary.metadata.get("bytespan")
        if info:
            row["bytespan"] = info
        results["tokenizers"][name] = row
        print(f"  {name:48s} morph {row['morph_score']:.3f}  F1 {row['boundary_f1']:.3f}  "
              f"renyi {row['renyi_efficiency']:.3f}  fertility {row['fertility']:.3f}  ({seconds:.0f} s)", flush=True)
        if args.json:  # partial results survive an interrupted long run
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"partial_quality": results}, indent=2) + "\n")
    results["byte_lm_bits_per_byte"] = byte_lm_quality(texts, heldout, lm_dir)
    return results


def byte_lm_quality(texts: list[str], heldout: list[str], lm_dir: Path | None) -> dict[str, float]:
    """Held-out bits per byte of the n-gram LM on the training text (and of the saved transformer)."""
    from lexkit.vocab.byte_lm import load_byte_lm
    from lexkit.vocab.byte_lm.ngram import NgramByteLM

    blocks = ["".join(texts[i:i + 30]).encode("utf-8") for i in range(0, len(texts), 30)]
    out = {"ngram5": lm_bits_per_byte(NgramByteLM.train(blocks, order=5), heldout)}
    if lm_dir is not None and lm_dir.exists():
        out["transformer"] = lm_bits_per_byte(load_byte_lm(lm_dir), heldout)
    return out


def encode_speed(texts: list[str], vocab: int, heldout: list[str]) -> dict[str, float]:
    """Encoding throughput of ByteSpan's ``longest-prefix`` (n-gram LM, trained on ``texts``) on ``heldout``: lexkit's
    engine (`lexkit._wordpiece`'s byte-level WordPiece) against HF ``encode_batch`` on the same ``tokenizer.json``
    (median of 3 each, ids checked equal)."""
    from lexkit import Tokenizer
    from lexkit.vocab import ByteSpanConfig, train

    tokenizer = Tokenizer(train(texts, ByteSpanConfig(vocab_size=vocab), progress=False))
    encoder = tokenizer.encoder
    megabytes = sum(len(line.encode("utf-8")) for line in heldout) / 1e6
    ours = tokenizer.encode_batch(heldout)
    if ours != [e.ids for e in encoder.backend.encode_batch(heldout, add_special_tokens=False)]:
        raise SystemExit("lexkit and HF disagree on ByteSpan ids")
    out = {}
    for name, run in ((f"lexkit ({encoder.engine.name})", lambda: tokenizer.encode_batch(heldout)),
                      ("hf encode_batch", lambda: encoder.backend.encode_batch(heldout, add_special_tokens=False))):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        out[name] = round(megabytes / sorted(times)[1], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=2.0, help="training text: the first MB of corpus_10M.txt")
    parser.add_argument("--vocab", type=int, default=16000)
    parser.add_argument("--heldout-mb", type=float, default=1.0)
    parser.add_argument("--transformer-mb", type=float, default=0.0,
                        help="also train ByteSpan with a byte transformer on this many MB (0: skip)")
    parser.add_argument("--lm-steps", type=int, default=1000, help="transformer byte LM training steps")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (1 helps on a loaded machine)")
    parser.add_argument("--speed-only", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    texts = load_text(None, args.mb)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.writelines(texts)
    corpus = Path(handle.name)
    size = corpus.stat().st_size
    print(f"training time, {size / 1e6:.1f} MB, vocabulary {args.vocab}:", flush=True)
    results: dict[str, Any] = {"corpus_bytes": size, "vocab": args.vocab, "speed_seconds": speed(corpus, args.vocab)}
    base = results["speed_seconds"]
    results["speed_ratios"] = {k: round(v / base["hf-bpe"], 2) for k, v in base.items()}
    print("  ratio to hf-bpe: " + ", ".join(f"{k} {v}x" for k, v in results["speed_ratios"].items()), flush=True)
    results["encode_mb_per_s"] = encode_speed(texts, args.vocab, heldout_text(args.heldout_mb))
    print("  encode (held-out text, MB/s): " + ", ".join(f"{k} {v}" for k, v in results["encode_mb_per_s"].items()),
          flush=True)
    if not args.speed_only:
        print("quality (held-out text, hunspell gold):", flush=True)
        results["quality"] = quality(args, texts)
    corpus.unlink()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
