"""Zero-shot tokenizer transfer with a trained hypernetwork: SmolLM2-135M -> GPT-2 and -> a lexkit 32k BPE.

Uses exactly bench_transfer.py's held-out documents (evenly spaced chunks of corpus_10M's last megabyte), its
cached 32k BPE and its bits-per-byte evaluation, so the numbers sit next to that benchmark's OMP, heuristic and
mean rows (read from ``--baseline``, a ``bench_transfer.py --json`` file; ``--compare`` re-runs methods live).
The hypernetwork is trained on the corpus's first 9,000,000 bytes (no overlap with the held-out text); when
``--hypernetwork`` holds none yet, a short run of ``--train-steps`` steps (preset ``smollm2-cpu``) makes one.

Usage: python bench/bench_hypernet.py [--hypernetwork DIR] [--train-steps 10] [--documents 200]
       [--doc-chars 400] [--targets gpt2 bpe32k] [--compare mean] [--original] [--baseline JSON] [--json OUT]
With an already trained network and no --compare / --original, each target costs one transplant and one
bits-per-byte pass (a few minutes on an idle 2-core CPU).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, fixtures_dir, load_gguf, log_progress  # noqa: E402
from bench_transfer import TRAIN_BYTES, bpe32k, held_out_documents  # noqa: E402

BASELINES = ("omp k=64", "omp k=8", "heuristic", "mean", "subword-mean")
logger = logging.getLogger("bench_hypernet")


def stored_baselines(path: Path) -> dict[str, Any]:
    """``{"original": bpb, "runs": {(target, method): bpb}, "documents": n}`` from a bench_transfer JSON file."""
    if not path.exists():
        return {"original": None, "runs": {}, "documents": None}
    data = json.loads(path.read_text())
    return {"original": data["original"]["bpb"], "documents": data["documents"],
            "runs": {(r["target"], r["method"]): r["bpb"] for r in data["runs"]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hypernetwork", type=Path, default=ROOT / "cache" / "helpers" / "hypernet" / "smollm2-hn")
    parser.add_argument("--train-steps", type=int, default=10,
                        help="steps of the short training run made when --hypernetwork holds no network")
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--doc-chars", type=int, default=400)
    parser.add_argument("--targets", nargs="+", default=["gpt2", "bpe32k"], choices=["gpt2", "bpe32k"])
    parser.add_argument("--compare", nargs="*", default=[], choices=["mean", "subword-mean", "random"],
                        help="baseline methods to transplant and score live on the same documents")
    parser.add_argument("--original", action="store_true", help="re-score the original model (else: stored)")
    parser.add_argument("--baseline", type=Path, default=ROOT / "cache" / "transfer_bench" / "full_run1.json")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    log_progress()


    from lexkit.transfer import evaluate, transplant
    from lexkit.transfer.hypernetwork import PRESETS, Hypernetwork, train

    fixtures = fixtures_dir()
    corpus = fixtures / "corpus" / "corpus_10M.txt"
    gguf = fixtures / "smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    documents = held_out_documents(corpus, args.documents, args.doc_chars)
    targets = {"gpt2": fixtures / "gpt2" / "tokenizer.json"}
    if "bpe32k" in args.targets:
        targets["bpe32k"] = bpe32k(corpus, ROOT / "cache" / "transfer_bench", 32000)
    model, source_tokenizer = load_gguf(gguf)

    if (args.hypernetwork / "hypernetwork.json").exists():
        network = Hypernetwork.load(args.hypernetwork)
    else:
        shape, config = PRESETS["smollm2-cpu"]
        network = train(model, corpus, args.hypernetwork, config=config.replace(
            steps=args.train_steps, identity_steps=min(config.identity_steps, args.train_steps - 1)),
            network=shape, source_tokenizer=source_tokenizer, max_corpus_bytes=TRAIN_BYTES, device="cpu")
    stored = stored_baselines(args.baseline)
    comparable = stored["documents"] == args.documents and args.doc_chars == 400
    results: dict[str, Any] = {"documents": len(documents), "training": network.training,
                               "network": {"hidden": network.config.hidden, "layers": network.config.layers,
                                           "heads": network.config.heads, "residual": network.config.residual,
                                           "parameters": sum(p.numel() for p in network.module.parameters())},
                               "baseline_file": str(args.baseline) if comparable else None, "runs": []}
    original = stored["original"] if comparable else None
    if args.original or original is None:
        start = time.perf_counter()
        original = evaluate(model, source_tokenizer, documents).bpb
        logger.info("original: %.4f bits per byte (%.0fs)", original, time.perf_counter() - start)
    results["original_bpb"] = original

    for name in args.targets:
        for method in ["hypernetwork", *args.compare]:
            start = time.perf_counter()
            result = transplant(model, targets[name], method, source_tokenizer=source_tokenizer, device="cpu",
                                hypernetwork=network if method == "hypernetwork" else None)
            seconds = time.perf_counter() - start
            start = time.perf_counter()
            bpb = evaluate(result.model, result.tokenizer, documents).bpb
            run = {"target": name, "method": method, "bpb": bpb, "delta_vs_original": bpb - original,
                   "transplant_seconds": round(seconds, 1), "eval_seconds": round(time.perf_counter() - start, 1),
                   "counts": result.reports["input"].counts(), "flagged": len(result.reports["input"].flagged)}
            results["runs"].append(run)
            logger.info("%s", run)
            del result
        if comparable:
            for method in BASELINES:
                if (name, method) in stored["runs"]:
                    results["runs"].append({"target": name, "method": method, "bpb": stored["runs"][(name, method)],
                                            "delta_vs_original": stored["runs"][(name, method)] - original,
                                            "stored": True})

    training = network.training
    print(f"\nhypernetwork: {results['network']}; trained {training.get('steps')} steps "
          f"({training.get('lm_steps')} with the LM loss), {training.get('tokens')} LM tokens, "
          f"{training.get('seconds')}s on {training.get('device')} ({training.get('tokens_per_second')} tokens/s)")
    print(f"original SmolLM2-135M: {original:.4f} bits per byte on {len(documents)} documents\n")
    print("| target | method | BPB | ΔBPB vs original | hypernetwork ΔBPB vs this row | source |")
    print("|---|---|---|---|---|---|")
    for run in results["runs"]:
        mine = next(r["bpb"] for r in results["runs"] if r["target"] == run["target"]
                    and r["method"] == "hypernetwork")
        print(f"| {run['target']} | {run['method']} | {run['bpb']:.4f} | {run['delta_vs_original']:+.4f} | "
              f"{mine - run['bpb']:+.4f} | {'stored' if run.get('stored') else 'this run'} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
