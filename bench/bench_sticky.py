"""Sticky-token detection on all-MiniLM-L6-v2: throughput, the cost of a full faithful run, downstream effect.

``throughput``: embeds the real insertion texts of a few tokens (scoring and verification pairs from the
English corpus), reports texts per second, counts the texts a full paper-faithful run must embed (after
de-duplication) and projects its time on this machine.
``downstream``: licence retrieval (``cache/fixtures/legal``: first paragraph -> rest of the licence) clean,
with the report's top sticky tokens inserted, and with as many random OK-category tokens inserted.

Usage:
    python bench/bench_sticky.py throughput [--threads N] [--tokens 24]
    python bench/bench_sticky.py downstream --report REPORT.json [--top 5] [--insertions 8] [--size 300]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fixtures_dir  # noqa: E402

logger = logging.getLogger("bench_sticky")


def _setup(threads: int | None):
    from lexkit.analysis.sticky import StickyConfig, StickyTokenDetector, split_sentences
    from lexkit.analysis.sticky_embedder import TransformersEmbedder
    from lexkit.tokenizer import Tokenizer

    embedder = TransformersEmbedder(fixtures_dir() / "minilm", threads=threads)
    detector = StickyTokenDetector(embedder, Tokenizer.load(embedder.tokenizer_file), StickyConfig(),
                                   raw_vocab=embedder.base_vocab_strings(), progress=False)
    with open(fixtures_dir() / "corpus" / "corpus_10M.txt", encoding="utf-8") as handle:
        sentences = split_sentences(handle.read(5_000_000))
    return embedder, detector, sentences


def throughput(args: argparse.Namespace) -> dict[str, float]:
    """Measure insertion-text throughput and project the full faithful run."""
    embedder, detector, sentences = _setup(args.threads)
    clock = time.perf_counter()
    mean = detector.mean_similarity().mean
    mu_seconds = time.perf_counter() - clock
    pairs = detector.select_pairs(mean=mean, sentences=sentences, source="corpus_10M.txt")
    tokens = detector.scorable_tokens()
    step = max(1, len(tokens) // args.tokens)
    sample = tokens[::step][:args.tokens]
    before = detector.texts_embedded["score"]
    clock = time.perf_counter()
    detector.score(sample, pairs.scoring)
    score_rate = (detector.texts_embedded["score"] - before) / (time.perf_counter() - clock)
    before = detector.texts_embedded["verify"]
    clock = time.perf_counter()
    detector.verify(sample[:3], pairs.verification)
    verify_texts = (detector.texts_embedded["verify"] - before) / 3
    verify_rate = verify_texts * 3 / (time.perf_counter() - clock)
    candidates = round(len(tokens) * 0.02)
    score_texts = len(tokens) * (5 * 3 * 8 + 1)
    result = {
        "scorable_tokens": len(tokens), "mu_seconds": round(mu_seconds, 1),
        "score_texts_per_s": round(score_rate, 1), "verify_texts_per_s": round(verify_rate, 1),
        "full_score_texts": score_texts, "full_verify_texts": round(candidates * verify_texts),
        "distinct_verification_pairs": len(set(pairs.verification)),
        "projected_full_run_h": round((mu_seconds + score_texts / score_rate
                                       + candidates * verify_texts / verify_rate) / 3600, 2),
    }
    print(json.dumps(result, indent=2))
    return result


def downstream(args: argparse.Namespace) -> None:
    """Run the licence retrieval check with the report's sticky tokens against random OK tokens."""
    from lexkit.analysis.sticky import Category
    from lexkit.analysis.sticky_downstream import downstream_check, licence_retrieval_task

    embedder, detector, _ = _setup(args.threads)
    report = json.loads(Path(args.report).read_text(encoding="utf-8"))
    ranked = report["final"] or report["candidates"]
    sticky = [entry["token"] for entry in ranked[:args.top]]
    pool = [t.text for t in detector.categorize_tokens().values() if t.category is Category.OK]
    task = licence_retrieval_task(fixtures_dir() / "legal" / "licenses", size=args.size)
    for target in ("queries", "documents"):
        result = downstream_check(embedder, task, sticky, pool, insertions=args.insertions, target=target)
        print(result.markdown())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (1 on a busy machine)")
    sub = parser.add_subparsers(dest="command", required=True)
    speed = sub.add_parser("throughput")
    speed.add_argument("--tokens", type=int, default=24, help="tokens to score for the measurement")
    effect = sub.add_parser("downstream")
    effect.add_argument("--report", required=True, help="a `lexkit sticky -o REPORT.json` report")
    effect.add_argument("--top", type=int, default=5, help="sticky tokens to insert")
    effect.add_argument("--insertions", type=int, default=8, help="tokens inserted per text")
    effect.add_argument("--size", type=int, default=300, help="licences in the task")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.command == "throughput":
        throughput(args)
    else:
        downstream(args)


if __name__ == "__main__":
    main()
