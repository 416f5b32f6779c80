"""Tokenizer transplantation on a real model: SmolLM2-135M -> GPT-2 and -> a lexkit-trained 32k BPE.

For each target tokenizer and method (omp, omp with the nearest-anchor pre-filter, heuristic, mean, subword-mean, random)
this transplants SmolLM2-135M-Instruct (GGUF fixture, de-quantized to float32), times it, and scores bits per
byte on held-out English text against the original model (paired bootstrap 95 % intervals over documents). It
also measures what the nearest-anchor pre-filter costs against exact OMP in a leave-one-out anchor test:
hide 5 % of the anchors, rebuild their rows from the rest, compare with the true rows.

Donor for OMP: neither target has a model with weights (no GPT-2 weights install as a package;
the 32k BPE is new), so OMP runs in Scenario B with ``donor="auxiliary"``: the donor space is all-MiniLM-L6-v2's
mean-pooled embedding of every target token's decoded text (OMP inside an auxiliary
space, experimental). Coefficients found there are applied to SmolLM2's own rows of the anchors.

Data: ``corpus_10M.txt``. Its first 9,000,000 bytes train the 32k BPE; held-out documents are chunks of at most
``--doc-chars`` characters cut at whitespace from the last 1,000,000 bytes, ``--documents`` of them evenly spaced.
Nothing else uses that tail.

Usage: python bench/bench_transfer.py [--documents 200] [--doc-chars 400] [--targets gpt2 bpe32k]
       [--methods omp omp-prefilter heuristic mean subword-mean random] [--k 64 8] [--prefilter 1024]
       [--clip-norms] [--loo-fraction 0.05] [--json out.json]
Takes about an hour on a 2-core CPU (each bits-per-byte pass over 200 x 400 characters is a few minutes).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, fixtures_dir, load_gguf, log_progress  # noqa: E402

TRAIN_BYTES = 9_000_000
HELD_OUT_BYTES = 1_000_000
METHODS = ("omp", "omp-prefilter", "heuristic", "mean", "subword-mean", "random")
logger = logging.getLogger("bench_transfer")


def held_out_documents(corpus: Path, count: int, chars: int) -> list[str]:
    """``count`` evenly spaced chunks (at most ``chars`` characters) of the corpus's last megabyte."""
    from lexkit.transfer.evaluate import chunk_text

    data = corpus.read_bytes()
    tail = data[-HELD_OUT_BYTES:]
    tail = tail[tail.index(b"\n") + 1:].decode("utf-8")  # start at a line boundary
    chunks = [c for c in chunk_text(tail, chars) if len(c.strip()) > chars // 4]
    step = len(chunks) / count
    return [chunks[int(i * step)] for i in range(count)]


def bpe32k(corpus: Path, cache: Path, vocab_size: int) -> Path:
    """Train (once, cached) a byte-level BPE on the corpus's first 9 MB; returns its folder."""
    from lexkit import Tokenizer
    from lexkit.vocab import BPEConfig, train

    out = cache / f"bpe{vocab_size // 1000}k"
    if (out / "tokenizer.json").exists():
        return out
    text = corpus.read_bytes()[:TRAIN_BYTES]
    text = text[: text.rindex(b"\n") + 1].decode("utf-8")
    start = time.perf_counter()
    vocabulary = train(text.splitlines(keepends=True), BPEConfig(vocab_size=vocab_size,
                                                                 special_tokens=("<|endoftext|>",)),
                       progress=False)
    Tokenizer(vocabulary).save(out)
    logger.info("trained %d-token BPE in %.0fs -> %s", len(vocabulary), time.perf_counter() - start, out)
    return out


def leave_one_out(matrix: Any, source: Any, target: Any, donor: Any, *, fraction: float, ks: list[int],
                  prefilter: int, seed: int = 0, centers: tuple[bool, ...] = (False,)) -> list[dict[str, Any]]:
    """Hide a fraction of the exact anchors, rebuild their rows of ``matrix`` by OMP from the rest, compare.

    Args:
        matrix: the source model's input embeddings (row = source id).
        source: the source tokenizer.
        target: the target tokenizer.
        donor: the donor space, row i for target token i (a donor model's embeddings, or auxiliary vectors).
        fraction: share of the exact text anchors hidden.
        ks: OMP sparsities; each runs exact and pre-filtered.
        prefilter: candidate anchors per token of the pre-filtered run.
        seed: which anchors are hidden.
        centers: run plain OMP (False) and/or centred OMP (True: donor rows coded around the kept anchors'
            mean, rebuilt around the source mean, as ``TransferConfig(center=True)`` does).

    Returns:
        One row per (k, exact / pre-filtered): mean cosine and relative L2 error to the true rows in the model's
        space, relative donor-space reconstruction error, and time.
    """
    import numpy as np
    import torch

    from lexkit.transfer.anchors import TEXT_KINDS, match_anchors
    from lexkit.transfer.omp import omp_coefficients
    from lexkit.transfer.tokenizer import TransferTokenizer

    target_side = TransferTokenizer.from_any(target)
    anchors = match_anchors(TransferTokenizer.from_any(source), target_side, source_rows=matrix.shape[0])
    pool = np.array(sorted(t for t, kind in anchors.kinds.items()
                           if kind == "exact" and target_side.vocabulary.tokens[t].kind in TEXT_KINDS))
    rng = np.random.default_rng(seed)
    held = np.sort(rng.choice(pool, size=int(len(pool) * fraction), replace=False))
    kept = np.array(sorted(set(anchors.pairs) - set(held.tolist())))
    truth = matrix[[anchors.pairs[int(t)] for t in held]]
    kept_rows = matrix[[anchors.pairs[int(t)] for t in kept]]
    rows = []
    for k, center, (label, limit) in itertools.product(ks, centers, (("exact", None), (f"prefilter {prefilter}",
                                                                                       prefilter))):
        donor_shift = donor[kept].mean(dim=0) if center else torch.zeros(donor.shape[1])
        source_shift = matrix.mean(dim=0) if center else torch.zeros(matrix.shape[1])
        start = time.perf_counter()
        indices, coefficients = omp_coefficients(donor[held] - donor_shift, donor[kept] - donor_shift, k,
                                                 prefilter=limit)
        seconds = time.perf_counter() - start
        weights = torch.from_numpy(coefficients).unsqueeze(2)
        approx = source_shift + (weights * (kept_rows[torch.from_numpy(indices)] - source_shift)).sum(1)
        recon = donor_shift + (weights * (donor[kept][torch.from_numpy(indices)] - donor_shift)).sum(1)
        rows.append({
            "k": k, "search": label, "center": center, "held_out": len(held), "seconds": round(seconds, 1),
            "cosine": float(torch.nn.functional.cosine_similarity(approx, truth).mean()),
            "relative_l2": float(((approx - truth).norm(dim=1) / truth.norm(dim=1)).mean()),
            "donor_relative_l2": float(((recon - donor[held]).norm(dim=1) / donor[held].norm(dim=1)).mean()),
        })
        logger.info("LOO %s", rows[-1])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=200, help="held-out documents")
    parser.add_argument("--doc-chars", type=int, default=400, help="characters per held-out document")
    parser.add_argument("--targets", nargs="+", default=["gpt2", "bpe32k"], choices=["gpt2", "bpe32k"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--k", type=int, nargs="+", default=[64, 8],
                        help="OMP sparsities: one omp row each; the pre-filtered row uses the first")
    parser.add_argument("--prefilter", type=int, default=1024, help="candidate anchors per token (pre-filter)")
    parser.add_argument("--clip-norms", action="store_true",
                        help="OMP rows: clip approximated rows above the anchors' 99.9th-percentile norm")
    parser.add_argument("--loo-fraction", type=float, default=0.05, help="share of anchors hidden (0 = skip)")
    parser.add_argument("--bpe-vocab", type=int, default=32000)
    parser.add_argument("--cache", type=Path, default=ROOT / "cache" / "transfer_bench")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    log_progress()

    import torch

    from lexkit.transfer import auxiliary_embedder, compare_bpb, evaluate, transplant
    from lexkit.transfer.tokenizer import TransferTokenizer

    fixtures = fixtures_dir()
    corpus = fixtures / "corpus" / "corpus_10M.txt"
    gguf = fixtures / "smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    documents = held_out_documents(corpus, args.documents, args.doc_chars)
    targets = {"gpt2": fixtures / "gpt2" / "tokenizer.json"}
    if "bpe32k" in args.targets:
        targets["bpe32k"] = bpe32k(corpus, args.cache, args.bpe_vocab)
    model, source_tokenizer = load_gguf(gguf)
    embedder = auxiliary_embedder(fixtures / "minilm", device="cpu")

    start = time.perf_counter()
    original = evaluate(model, source_tokenizer, documents)
    logger.info("original: %.4f bits per byte (%.0fs)", original.bpb, time.perf_counter() - start)
    results: dict[str, Any] = {
        "documents": len(documents), "bytes": original.overall.n_bytes, "torch_threads": torch.get_num_threads(),
        "original": {"bpb": original.bpb, "bytes_per_token": original.overall.n_bytes / original.overall.n_tokens},
        "runs": [], "leave_one_out": {}, "embedding_seconds": {},
    }
    runs: list[tuple[str, str, dict[str, Any]]] = []
    clip = " clip" if args.clip_norms else ""
    for label in args.methods:
        if label == "omp":
            runs += [(f"omp k={k}{clip}", "omp", {"k": k, "clip_norms": args.clip_norms}) for k in args.k]
        elif label == "omp-prefilter":
            runs.append((f"omp k={args.k[0]} prefilter {args.prefilter}{clip}", "omp",
                         {"k": args.k[0], "prefilter": args.prefilter, "clip_norms": args.clip_norms}))
        else:
            runs.append((label, label, {}))
    for name in args.targets:
        if any(method in ("omp", "heuristic") for _, method, _ in runs):
            # Warm the auxiliary embedder's per-string cache so transplant times below exclude embedding.
            start = time.perf_counter()
            for tokenizer in (source_tokenizer, targets[name]):
                view = TransferTokenizer.from_any(tokenizer)
                embedder.embed([view.text(i) for i in range(len(view))])
            results["embedding_seconds"][name] = round(time.perf_counter() - start, 1)
            logger.info("embedded the token strings of %s and the source in %.0fs", name,
                        results["embedding_seconds"][name])
        for label, method, options in runs:
            start = time.perf_counter()
            result = transplant(model, targets[name], method, source_tokenizer=source_tokenizer, aux=embedder,
                                donor="auxiliary" if method == "omp" else None, device="cpu", **options)
            seconds = time.perf_counter() - start
            scored = evaluate(result.model, result.tokenizer, documents)
            comparison = compare_bpb(scored, original)["overall"]
            report = result.reports["input"]
            run = {
                "target": name, "method": label, "seconds": round(seconds, 1), "bpb": scored.bpb,
                "delta": comparison.delta, "ci": [comparison.low, comparison.high], "ratio": comparison.ratio,
                "bytes_per_token": scored.overall.n_bytes / scored.overall.n_tokens,
                "anchors": report.anchors, "counts": report.counts(), "flagged": len(report.flagged),
                "norm_threshold": report.norm_threshold, "notes": list(report.notes),
            }
            results["runs"].append(run)
            logger.info("%s", run)
            del result
        if args.loo_fraction > 0 and any(m.startswith("omp") for m in args.methods):
            view = TransferTokenizer.from_any(targets[name])
            donor = torch.from_numpy(embedder.embed([view.text(i) for i in range(len(view))]))
            results["leave_one_out"][name] = leave_one_out(
                model.get_input_embeddings().weight.detach().float(), source_tokenizer, targets[name], donor,
                fraction=args.loo_fraction, ks=sorted(set(args.k)), prefilter=args.prefilter)

    for name, seconds in results["embedding_seconds"].items():
        print(f"auxiliary embedding of the source and {name} token strings (cached before timing): {seconds}s")
    print(f"\noriginal SmolLM2-135M: {results['original']['bpb']:.4f} bits per byte "
          f"({results['bytes']} bytes, {results['documents']} documents, "
          f"{results['original']['bytes_per_token']:.2f} bytes/token)\n")
    print("| target | method | anchors | copied / approx. / fallback | flagged | transplant s | BPB | ΔBPB [95 % CI] |")
    print("|---|---|---|---|---|---|---|---|")
    for run in results["runs"]:
        counts = run["counts"]
        print(f"| {run['target']} | {run['method']} | {run['anchors']['total']} | {counts['copied']} / "
              f"{counts['approximated']} / {counts['fallback']} | {run['flagged']} | {run['seconds']:.0f} | "
              f"{run['bpb']:.4f} | {run['delta']:+.4f} [{run['ci'][0]:+.3f}, {run['ci'][1]:+.3f}] |")
    for name, rows in results["leave_one_out"].items():
        print(f"\nleave-one-out ({name}, input rows, {rows[0]['held_out']} hidden anchors):")
        print("| k | search | cosine to true row | relative L2 | donor-space relative L2 | seconds |")
        print("|---|---|---|---|---|---|")
        for row in rows:
            print(f"| {row['k']} | {row['search']} | {row['cosine']:.4f} | {row['relative_l2']:.4f} | "
                  f"{row['donor_relative_l2']:.4f} | {row['seconds']} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
