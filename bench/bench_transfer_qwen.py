"""Scenario A transplant on real models: SmolLM2-135M gets the Qwen2.5 tokenizer, Qwen2.5-Coder-0.5B as OMP donor.

This is the OMP paper's setting (Goddard & Fernandes Neto, arXiv 2506.06607: a donor model that
already uses the target tokenizer):
OMP codes every Qwen token that SmolLM2 lacks in the donor's input-embedding space over the shared anchors and
applies the coefficients to SmolLM2's rows. The script times each method, then scores bits per byte on three
held-out slices (English prose, Python code, number-heavy lines) against the original model with paired bootstrap
95 % intervals, and reports the share of the original quality kept (original BPB / transplanted BPB). A
leave-one-out test hides a share of the anchors and rebuilds their SmolLM2 rows from the donor space.

Fixtures: ``make fixtures`` (SmolLM2 GGUF, the reassembled Qwen2.5-Coder GGUF, corpus, MiniLM for the
heuristic). Prose is the tail of ``corpus_10M.txt`` (as in bench_transfer.py); code is CPython standard-library
source read from this interpreter; numbers are corpus lines where digits are at least a quarter of the characters.

Usage: python bench/bench_transfer_qwen.py [--documents 15] [--doc-chars 400]
       [--methods mean zero heuristic omp-prefilter omp-centred omp subword-mean random] [--k 8] [--exact-k 8]
       [--prefilter 256] [--loo-fraction 0.02] [--score-donor] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fixtures_dir, load_gguf, log_progress  # noqa: E402
from bench_transfer import held_out_documents, leave_one_out  # noqa: E402

METHODS = ("mean", "zero", "heuristic", "omp-prefilter", "omp-centred", "omp", "subword-mean", "random")
# The default run takes about 30 minutes on 2 busy cores; exact "omp" over all 112k new rows takes hours there.
DEFAULT_METHODS = ("mean", "zero", "heuristic", "omp-prefilter", "omp-centred")
logger = logging.getLogger("bench_transfer_qwen")


def held_out_slices(fixtures: Path, count: int, chars: int) -> dict[str, list[str]]:
    """The held-out prose, code and numbers slices every Qwen2.5 -> SmolLM2 figure is scored on."""
    corpus = fixtures / "corpus"
    return {"prose": held_out_documents(corpus / "corpus_10M.txt", count, chars),
            "code": code_documents(count, chars),
            "numbers": number_documents(corpus / "corpus_full.txt", count, chars)}


def code_documents(count: int, chars: int) -> list[str]:
    """``count`` chunks of CPython standard-library source, evenly spaced over the sorted top-level modules."""
    from lexkit.transfer.evaluate import chunk_text

    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    chunks = [c for path in files for c in chunk_text(path.read_text(encoding="utf-8", errors="replace"), chars)
              if len(c.strip()) > chars // 4]
    step = len(chunks) / count
    return [chunks[int(i * step)] for i in range(count)]


def number_documents(corpus: Path, count: int, chars: int) -> list[str]:
    """Documents of up to ``chars`` characters built from the corpus lines where digits are >= 25 % of the text."""
    lines = []
    for line in corpus.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if len(text) >= 12 and sum(ch.isdigit() for ch in text) >= len(text) / 4:
            lines.append(text)
    documents, current = [], ""
    for line in lines:
        if current and len(current) + len(line) + 1 > chars:
            documents.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line[:chars]
    step = len(documents) / count
    return [documents[int(i * step)] for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=15, help="held-out documents per slice")
    parser.add_argument("--doc-chars", type=int, default=400, help="characters per held-out document")
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), choices=METHODS)
    parser.add_argument("--k", type=int, default=8, help="OMP sparsity of the pre-filtered run")
    parser.add_argument("--exact-k", type=int, default=8, help="OMP sparsity of the exact (all-anchor) run")
    parser.add_argument("--prefilter", type=int, default=256, help="candidate anchors per token (pre-filter)")
    parser.add_argument("--loo-fraction", type=float, default=0.02, help="share of anchors hidden (0 = skip)")
    parser.add_argument("--score-donor", action="store_true",
                        help="also score the donor on the slices (a 0.5B model: about 4x a SmolLM2 pass)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    log_progress()

    import torch

    from lexkit.transfer import auxiliary_embedder, compare_bpb, evaluate, transplant

    fixtures = fixtures_dir()
    slices = held_out_slices(fixtures, args.documents, args.doc_chars)
    small = fixtures / "smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    qwen = fixtures / "qwen_coder" / "q.gguf"
    start = time.perf_counter()
    model, source_tokenizer = load_gguf(small)
    donor, target_tokenizer = load_gguf(qwen)
    logger.info("loaded SmolLM2 and the Qwen2.5-Coder donor in %.0fs", time.perf_counter() - start)
    embedder = auxiliary_embedder(fixtures / "minilm", device="cpu")

    start = time.perf_counter()
    original = evaluate(model, source_tokenizer, slices)
    logger.info("original: %.4f bits per byte (%.0fs)", original.bpb, time.perf_counter() - start)
    results: dict[str, Any] = {
        "documents_per_slice": args.documents, "doc_chars": args.doc_chars, "torch_threads": torch.get_num_threads(),
        "original": {name: s.bpb for name, s in original.slices.items()} | {"overall": original.bpb},
        "runs": [],
    }
    if args.score_donor:
        donor_score = evaluate(donor, target_tokenizer, slices)
        results["donor"] = {name: s.bpb for name, s in donor_score.slices.items()} | {"overall": donor_score.bpb}
    runs: list[tuple[str, str, dict[str, Any]]] = []
    for label in args.methods:
        if label == "omp-prefilter":
            runs.append((f"omp k={args.k} prefilter {args.prefilter}", "omp",
                         {"k": args.k, "prefilter": args.prefilter}))
        elif label == "omp-centred":
            runs.append((f"omp k={args.k} prefilter {args.prefilter} centred", "omp",
                         {"k": args.k, "prefilter": args.prefilter, "center": True}))
        elif label == "omp":
            runs.append((f"omp k={args.exact_k} exact", "omp", {"k": args.exact_k}))
        else:
            runs.append((label, label, {}))
    for label, method, options in runs:
        start = time.perf_counter()
        result = transplant(model, target_tokenizer, method, source_tokenizer=source_tokenizer, aux=embedder,
                            donor=donor if method == "omp" else None, device="cpu", **options)
        seconds = time.perf_counter() - start
        scored = evaluate(result.model, result.tokenizer, slices)
        comparison = compare_bpb(scored, original)
        report = result.reports["input"]
        run = {
            "method": label, "seconds": round(seconds, 1), "matrix_seconds": round(report.seconds, 1),
            "anchors": report.anchors, "counts": report.counts(), "flagged": len(report.flagged),
            "bpb": {name: s.bpb for name, s in scored.slices.items()} | {"overall": scored.bpb},
            "ci": {name: [c.low, c.high] for name, c in comparison.items()},
            "kept": {name: results["original"][name] / bpb for name, bpb in
                     ({name: s.bpb for name, s in scored.slices.items()} | {"overall": scored.bpb}).items()},
            "notes": list(report.notes),
        }
        results["runs"].append(run)
        logger.info("%s", run)
        del result
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    if args.loo_fraction > 0:
        results["leave_one_out"] = leave_one_out(
            model.get_input_embeddings().weight.detach().float(), source_tokenizer, target_tokenizer,
            donor.get_input_embeddings().weight.detach().float(), fraction=args.loo_fraction, ks=[args.k],
            prefilter=args.prefilter, centers=(False, True))

    names = [*slices, "overall"]
    print(f"\n{args.documents} documents per slice, up to {args.doc_chars} characters each")
    print("| model / method | transplant s | " + " | ".join(f"{n} BPB" for n in names) + " | overall kept |")
    print("|---|---|" + "---|" * len(names) + "---|")
    print("| SmolLM2-135M original | – | " + " | ".join(f"{results['original'][n]:.4f}" for n in names) + " | 100 % |")
    if "donor" in results:
        print("| Qwen2.5-Coder-0.5B (donor) | – | " + " | ".join(f"{results['donor'][n]:.4f}" for n in names) + " | – |")
    for run in results["runs"]:
        print(f"| {run['method']} | {run['seconds']:.0f} | " + " | ".join(f"{run['bpb'][n]:.4f}" for n in names)
              + f" | {100 * run['kept']['overall']:.1f} % |")
    if results["runs"]:
        first = results["runs"][0]
        print(f"\nanchors {first['anchors']['total']}; approximated {first['counts']['approximated']}")
    for row in results.get("leave_one_out", []):
        print(f"LOO k={row['k']} {row['search']}{' centred' if row['center'] else ''}: cosine {row['cosine']:.4f}, relative L2 {row['relative_l2']:.4f}, "
              f"{row['seconds']}s ({row['held_out']} hidden anchors)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
