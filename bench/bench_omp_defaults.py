"""OMP settings on the Qwen2.5 tokenizer -> SmolLM2-135M swap (donor Qwen2.5-Coder-0.5B): matrix time and bits per byte.

Loads the models once and runs `transplant` in-process for each setting, so the times are the OMP matrix stage
only; `lexkit transplant` adds loading and saving. Scores the same held-out slices as bench_transfer_qwen.py
(prose, code, numbers; 15 documents of 400 characters each).

Settings are ``K:M:DIM:C``: k, pre-filter M (0 = exact OMP), search dimensions (0 = all), C = ``c`` centred or
``p`` plain; ``mean`` runs mean init.

``--untied`` checks the reverse swap on an untied model: Qwen2.5-Coder-0.5B (untied head) gets SmolLM2's tokenizer,
with SmolLM2 as donor (its tied matrix is the donor of both the input rows and the head).

Usage: python bench/bench_omp_defaults.py [--settings mean 8:64:64:c 8:64:128:c] [--documents 15] [--untied]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fixtures_dir, load_gguf, log_progress  # noqa: E402
from bench_transfer import held_out_documents  # noqa: E402
from bench_transfer_qwen import code_documents, number_documents  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", default=["mean", "8:64:64:c"])
    parser.add_argument("--documents", type=int, default=15)
    parser.add_argument("--doc-chars", type=int, default=400)
    parser.add_argument("--untied", action="store_true", help="Qwen2.5-Coder -> SmolLM2 tokenizer, SmolLM2 donor")
    args = parser.parse_args()
    log_progress()
    from lexkit.transfer import evaluate, transplant

    fixtures = fixtures_dir()
    slices = {
        "prose": held_out_documents(fixtures / "corpus" / "corpus_10M.txt", args.documents, args.doc_chars),
        "code": code_documents(args.documents, args.doc_chars),
        "numbers": number_documents(fixtures / "corpus" / "corpus_full.txt", args.documents, args.doc_chars),
    }
    model, source_tokenizer = load_gguf(fixtures / "smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf")
    donor, target_tokenizer = load_gguf(fixtures / "qwen_coder" / "q.gguf")
    if args.untied:
        model, source_tokenizer, donor, target_tokenizer = donor, target_tokenizer, model, source_tokenizer
        original = evaluate(model, source_tokenizer, slices)
        print(f"original Qwen2.5-Coder-0.5B: {original.bpb:.4f} bits per byte", flush=True)
    rows = []
    for setting in args.settings:
        if setting == "mean":
            method, options = "mean", {}
        else:
            k, m, dim, mode = setting.split(":")
            method = "omp"
            options = {"k": int(k), "prefilter": int(m) or None, "search_dim": int(dim) or None,
                       "center": mode == "c"}
        started = time.perf_counter()
        result = transplant(model, target_tokenizer, method, source_tokenizer=source_tokenizer,
                            donor=donor if method == "omp" else None, device="cpu", **options)
        seconds = time.perf_counter() - started
        scored = evaluate(result.model, result.tokenizer, slices)
        rows.append((setting, result.reports["input"].seconds, seconds, scored.bpb,
                     {name: s.bpb for name, s in scored.slices.items()}))
        print(f"{setting}: matrix {rows[-1][1]:.1f}s, transplant {seconds:.1f}s, {scored.bpb:.4f} bits per byte "
              f"{rows[-1][4]}", flush=True)
        del result
    print("\n| setting (k:M:dim:centred) | matrix s | transplant s | bits per byte |")
    print("|---|---|---|---|")
    for setting, matrix, seconds, bpb, _ in rows:
        print(f"| {setting} | {matrix:.0f} | {seconds:.0f} | {bpb:.4f} |")


if __name__ == "__main__":
    main()
