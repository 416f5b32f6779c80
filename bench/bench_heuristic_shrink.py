"""Why the heuristic needs its mean share on a tied model: SmolLM2-135M gets GPT-2's tokenizer (13k new rows,
all-MiniLM-L6-v2 as the auxiliary space) and each variant is scored in bits per byte against mean init on the
same held-out chunks, paired per document (95 % bootstrap interval).

A tied model reads a new token through its row and also scores it through the same row. The script separates the
two sides (untied: the heuristic rows at the input with mean-init rows in the head, and the reverse), then
sweeps `TransferConfig.shrink` λ, which pulls every estimated row toward the source mean row:
E'[t] = λ μ + (1 − λ) e[t]. λ = 0 is TokenAdapt's row; λ = 1 is mean init. Chunks: as the real-model tests'
``held_out_slices`` fixture (prose from the last megabyte of ``corpus_10M.txt``, CPython standard-library code);
``--offset 0.5`` picks the chunks halfway between those, a second set for checking a choice made on the first.

Usage: python bench/bench_heuristic_shrink.py [--documents 10] [--offset 0.0] [--shrinks 0 0.1 0.25 0.4 0.5 0.75]
"""

from __future__ import annotations

import argparse
import sys
import sysconfig
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fixtures_dir, load_gguf  # noqa: E402


def held_out(count: int, offset: float) -> dict[str, list[str]]:
    """``count`` prose and ``count`` code chunks of 400 characters, evenly spaced (shifted by ``offset`` spacings)."""
    from lexkit.transfer.evaluate import chunk_text

    def spread(chunks: list[str]) -> list[str]:
        kept = [c for c in chunks if len(c.strip()) > 100]
        return [kept[int((i + offset) * len(kept) / count)] for i in range(count)]

    tail = (fixtures_dir() / "corpus" / "corpus_10M.txt").read_bytes()[-1_000_000:]
    prose = tail[tail.index(b"\n") + 1:].decode("utf-8")
    stdlib = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    code = [c for path in stdlib for c in chunk_text(path.read_text(encoding="utf-8", errors="replace"), 400)]
    return {"prose": spread(chunk_text(prose, 400)), "code": spread(code)}


def main() -> None:
    import torch

    from lexkit.transfer import auxiliary_embedder, compare_bpb, evaluate, transplant

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=10, help="chunks per slice")
    parser.add_argument("--offset", type=float, default=0.0, help="shift of the evenly spaced chunks, in spacings")
    parser.add_argument("--shrinks", type=float, nargs="+", default=[0.0, 0.1, 0.25, 0.4, 0.5, 0.75])
    args = parser.parse_args()
    fixtures = fixtures_dir()
    texts = held_out(args.documents, args.offset)
    started = time.perf_counter()
    model, source = load_gguf(fixtures / "smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf")
    gpt2 = fixtures / "gpt2" / "tokenizer.json"
    mean = transplant(model, gpt2, "mean", source_tokenizer=source, device="cpu")
    raw = transplant(model, gpt2, "heuristic", source_tokenizer=source, device="cpu", shrink=0.0,
                     aux=auxiliary_embedder(fixtures / "minilm", device="cpu"))
    print(f"loaded and transplanted in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    new = torch.tensor([p.target_id for p in raw.provenance if p.status == "approximated"])
    source_rows = model.get_input_embeddings().weight.detach()
    mu = source_rows[:len(source)].float().mean(0)
    rows = raw.model.get_input_embeddings().weight.detach().clone()
    baseline = evaluate(mean.model, mean.tokenizer, texts)
    lm = mean.model  # variants are written into this model's tied matrix, or into an untied copy of its head
    embedding, head = lm.get_input_embeddings(), lm.get_output_embeddings()
    mean_rows = embedding.weight.detach().clone()

    def score(name: str, input_rows: torch.Tensor, output_rows: torch.Tensor | None = None) -> None:
        with torch.no_grad():
            embedding.weight.copy_(input_rows)
        if output_rows is not None:
            head.weight = torch.nn.Parameter(output_rows.clone())
        try:
            result = evaluate(lm, mean.tokenizer, texts)
        finally:
            head.weight = embedding.weight
        gap = compare_bpb(result, baseline)
        slices = " ".join(f"{n} {gap[n].delta:+.4f}" for n in texts)
        print(f"| {name} | {result.bpb:.4f} | {gap['overall'].delta:+.4f} | [{gap['overall'].low:+.4f}, "
              f"{gap['overall'].high:+.4f}] | {slices} |", flush=True)

    print(f"mean init: {baseline.bpb:.4f} bits per byte on {2 * args.documents} chunks (offset {args.offset})")
    print("| variant | bits per byte | Δ vs mean init | 95 % interval | per slice |")
    print("|---|---|---|---|---|")
    score("heuristic input, mean-init head (untied)", rows, mean_rows)
    score("mean-init input, heuristic head (untied)", mean_rows, rows)
    for shrink in args.shrinks:
        shrunk = rows.clone()
        shrunk[new] = (1.0 - shrink) * rows[new] + shrink * mu
        score(f"tied, shrink {shrink:g}", shrunk)


if __name__ == "__main__":
    main()
