"""Healing on real models: SmolLM2-135M with the Qwen2.5 tokenizer, healed against the original SmolLM2.

Two steps, so the expensive transplant runs once and the timed healing runs alone under the measure lock:

    python bench/bench_heal.py prepare --start heuristic -o /tmp/smol-qwen-heuristic
    python bench/bench_heal.py run --start-dir /tmp/smol-qwen-heuristic --minutes 5 \
        --variants alm next-token [--json out.json]

On a shared machine a time budget measures the machine's load, so budgets can be given in steps instead: measure
a variant's step rate alone (``run --minutes 1.5 --no-score`` under the measure lock), convert minutes to steps at
that rate, then run step-budgeted (``--steps N --eval-steps ...``, at any speed; ``--threads 1`` and ``nice`` leave
the cores to others). ``run --keep-checkpoints DIR`` keeps every step's checkpoint as DIR/step-N.pt (``--keep-steps`` only some), and
``score-checkpoints`` scores chosen steps afterwards, so the marks may be chosen after training started::

    python bench/bench_heal.py score-checkpoints --start-dir /tmp/smol-qwen-heuristic --checkpoint-dir DIR \
        --steps 20 60 120 --json marks.json

``--dtype float32 bfloat16`` heals once per precision (HealConfig.dtype) and ``--device cuda`` runs on a GPU; each
run reports its per-step losses, the median seconds per step after the first (warm-up) step and its peak memory
(GPU allocations on CUDA, reset per run; on the CPU the process's resident peak, so compare precisions across
separate processes there). Timing healing on a GPU is one command::

    python bench/bench_heal.py run --start-dir /tmp/smol-qwen-mean --device cuda --dtype float32 bfloat16 \
        --variants next-token-body-lora alm-body-lora --steps 30 --no-score --json gpu.json

``prepare`` transplants the Qwen2.5 tokenizer (read from the Qwen2.5-Coder GGUF) into SmolLM2-135M with ``mean``,
``heuristic`` (MiniLM auxiliary space) or centred OMP (``omp-centred``, the Qwen2.5-Coder-0.5B donor, k=8, 256
pre-filtered anchors: bench_transfer_qwen.py's settings) and saves the start. ``run`` scores the original and the
start on bench_transfer_qwen.py's held-out slices (prose from the tail of corpus_10M.txt, CPython source, number
lines; 15 documents of 400 characters each by default), then heals a fresh copy of the start once per variant for
the same training-time budget on text from the head of corpus_10M.txt (disjoint from the held-out tail) and scores
it again. Variants: ``alm`` (approximate likelihood matching, new rows, head side), ``next-token`` (the
plain baseline on the same rows and budget), ``alm-body`` / ``next-token-body`` (also through the transformer),
``next-token-all`` (every row), ``alm-lora`` / ``alm-body-lora`` (rank-8 LoRA on the attention's q/v projections
besides the rows, head side / both sides), ``next-token-body-lora`` (the same capacity with the next-token loss:
HealConfig's default). It prints bits per byte per slice,
the share of the original's quality kept, trained parameters, tokens per second and peak memory (the process's,
including both models).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fixtures_dir, load_gguf, log_progress  # noqa: E402
from bench_transfer_qwen import held_out_slices  # noqa: E402

STARTS = ("mean", "heuristic", "omp-centred")
HEAD_ONLY = {"through_body": False, "lora_rank": 0}  # rows trained from the output head, transformer frozen
VARIANTS: dict[str, dict[str, Any]] = {name: {**HEAD_ONLY, **options} for name, options in {
    "alm": {"loss": "alm"}, "next-token": {"loss": "next-token"},
    "alm-body": {"loss": "alm", "through_body": True}, "next-token-body": {"loss": "next-token", "through_body": True},
    "next-token-all": {"loss": "next-token", "rows": "all"},
    "alm-lora": {"loss": "alm", "lora_rank": 8}, "alm-body-lora": {"loss": "alm", "through_body": True, "lora_rank": 8},
    "next-token-body-lora": {"loss": "next-token", "through_body": True, "lora_rank": 8},  # HealConfig's default
}.items()}
TRAIN_BYTES = 4_000_000
logger = logging.getLogger("bench_heal")


def prepare(args: argparse.Namespace) -> None:
    """Transplant the Qwen2.5 tokenizer into SmolLM2 with ``args.start`` and save it to ``args.output``.

    Resumable, so each command fits a 600 s CPU slot on a busy machine: the heuristic's auxiliary embeddings go to
    ``args.output``.aux-cache.npz chunk by chunk, and a rerun continues from there (``--max-seconds`` stops
    cleanly before the slot ends)."""
    from transformers import AutoTokenizer

    from lexkit.transfer import auxiliary_embedder, transplant

    fixtures = fixtures_dir()
    small = fixtures / "smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    qwen = fixtures / "qwen_coder" / "q.gguf"
    start = time.perf_counter()
    if args.start == "omp-centred":
        # `lexkit transplant`'s fast path: model, tokenizer and donor as GGUF paths (the donor's embedding matrix
        # and the qwen2 tokenizer are read without building a model or parsing the GGUF metadata twice)
        result = transplant(small, qwen, "omp", donor=qwen, device="cpu", k=8, prefilter=args.prefilter,
                            search_dim=args.search_dim or None, center=True)
        logger.info("transplant %s: %.0fs", args.start, time.perf_counter() - start)
        result.save(args.output)
        return
    target = AutoTokenizer.from_pretrained(str(qwen.parent), gguf_file=qwen.name)
    aux = None
    if args.start == "heuristic":
        cache = args.output.with_name(args.output.name + ".aux-cache.npz")
        aux = CachedEmbedder(auxiliary_embedder(fixtures / "minilm", device="cpu"), cache, args.max_seconds)
    model, source_tokenizer = load_gguf(small)
    start = time.perf_counter()
    result = transplant(model, target, args.start, source_tokenizer=source_tokenizer, aux=aux, device="cpu")
    logger.info("transplant %s: %.0fs", args.start, time.perf_counter() - start)
    result.save(args.output)


class CachedEmbedder:
    """An auxiliary embedder whose embeddings persist on disk, written every chunk, so a killed or stopped
    prepare resumes where it was."""

    def __init__(self, inner: Any, path: Path, max_seconds: float | None, chunk: int = 4096) -> None:
        import numpy as np

        self.inner, self.path, self.chunk = inner, path, chunk
        self.deadline = None if max_seconds is None else time.perf_counter() + max_seconds
        self.cache: dict[str, Any] = {}
        if path.exists():
            with np.load(path, allow_pickle=False) as saved:
                self.cache = dict(zip(saved["texts"].tolist(), saved["vectors"]))
            logger.info("auxiliary cache: %d strings from %s", len(self.cache), path)

    def embed(self, texts: Any) -> Any:
        import numpy as np

        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        for i in range(0, len(missing), self.chunk):
            if self.deadline is not None and time.perf_counter() > self.deadline:
                logger.info("auxiliary cache: stopping with %d strings left; rerun to continue", len(missing) - i)
                sys.exit(3)
            part = missing[i:i + self.chunk]
            self.cache.update(zip(part, self.inner.encode(part)))
            self._save()
            logger.info("auxiliary cache: %d/%d new strings embedded", min(i + self.chunk, len(missing)),
                        len(missing))
        if not texts:
            return self.inner.embed([])
        return np.stack([self.cache[t] for t in texts]).astype(np.float32, copy=False)

    def _save(self) -> None:
        import numpy as np

        staging = self.path.with_name(self.path.name + ".tmp.npz")
        np.savez(staging, texts=np.array(list(self.cache), dtype=str),
                 vectors=np.stack(list(self.cache.values())))
        staging.replace(self.path)


def training_texts(corpus: Path) -> list[str]:
    """Documents of 4,000 characters from the head of the corpus (the held-out prose comes from its tail)."""
    text = corpus.read_bytes()[:TRAIN_BYTES].decode("utf-8", errors="ignore")
    return [text[i:i + 4000] for i in range(0, len(text), 4000)]


def run(args: argparse.Namespace) -> None:
    """Score the original and the start, then heal once per variant for the same budget and score again."""
    import torch

    from lexkit.transfer import Budget, HealConfig, evaluate, heal
    from lexkit.transfer._models import load_causal_lm

    if args.threads:
        torch.set_num_threads(args.threads)
    fixtures = fixtures_dir()
    corpus = fixtures / "corpus" / "corpus_10M.txt"
    slices = held_out_slices(fixtures, args.documents, args.doc_chars)
    small = fixtures / "smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    teacher, _ = load_causal_lm(small)
    texts = training_texts(corpus)
    results: dict[str, Any] = {"start_dir": str(args.start_dir), "minutes": args.minutes, "steps": args.steps,
                               "eval_steps": args.eval_steps, "torch_threads": torch.get_num_threads(),
                               "runs": []}

    def bpb(result: Any) -> dict[str, float]:
        return {name: s.bpb for name, s in result.slices.items()} | {"overall": result.bpb}

    def save() -> None:
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))

    start_model, _ = load_causal_lm(args.start_dir)
    if args.score:
        results["original"] = bpb(evaluate(teacher, small, slices))
        results["start"] = bpb(evaluate(start_model, args.start_dir, slices))
        logger.info("original %.4f, start %.4f bits per byte", results["original"]["overall"],
                    results["start"]["overall"])
    budget = Budget(minutes=args.minutes, steps=args.steps)

    def kept(step: int) -> bool:
        return not args.keep_steps or step in args.keep_steps
    for variant, dtype in [(v, d) for v in args.variants for d in args.dtype]:
        config = HealConfig(**{**VARIANTS[variant], "learning_rate": args.lr, "batch_size": args.batch_size,
                               "sequence_chars": args.sequence_chars, "eval_steps": tuple(args.eval_steps),
                               "checkpoint_every": 1 if args.keep_checkpoints else 25, "dtype": dtype})
        marks: list[dict[str, Any]] = []
        results["runs"].append({"variant": variant, "dtype": dtype, "marks": marks})
        if args.device != "cpu" and torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()

        def on_step(step: Any, marks: list[dict[str, Any]] = marks, variant: str = variant) -> None:
            if args.keep_checkpoints and step.step > 1 and kept(step.step - 1):  # the file holds step - 1 now
                keep_checkpoint(args.keep_checkpoints, step.step - 1)  # (it is written after this call)
            if step.bpb is not None:  # an evaluation mark: keep it, and save at once (long runs may be cut)
                marks.append({"step": step.step, "seconds": round(step.seconds, 1), "tokens": step.tokens,
                              "bpb": {**(step.bpb_slices or {}), "overall": step.bpb}})
                logger.info("%s step %d: %.4f bits per byte", variant, step.step, step.bpb)
                save()

        healed = heal(start_model, teacher, texts, budget=budget, tokenizer=args.start_dir,
                      teacher_tokenizer=small, held_out=slices if args.eval_steps else None, config=config,
                      device=args.device, progress=on_step, checkpoint_dir=args.keep_checkpoints)
        if args.keep_checkpoints and kept(healed.info["steps"]):
            keep_checkpoint(args.keep_checkpoints, healed.info["steps"])
        info = healed.info
        times = [b.seconds - a.seconds for a, b in zip(healed.history, healed.history[1:])]
        run_result = {"variant": variant, "dtype": dtype, "compute_dtype": info["compute_dtype"],
                      "device": info["device"], "marks": marks, "losses": [h.loss for h in healed.history],
                      "median_step_seconds": round(statistics.median(times), 3) if times else None,
                      **{k: info[k] for k in ("teacher_bpb", "start_bpb") if k in info},
                      **{k: info[k] for k in ("steps", "tokens", "train_seconds", "tokens_per_second",
                                              "trainable_rows", "trainable_parameters", "rows_updated",
                                              "peak_memory_mb")},
                      "steps_per_second": round(info["steps"] / max(info["train_seconds"], 1e-9), 4),
                      "loss_first": healed.history[0].loss, "loss_last": healed.history[-1].loss,
                      "config": info["config"]}
        if args.score:
            if marks and marks[-1]["step"] == info["steps"]:
                scores = marks[-1]["bpb"]  # scored at the last step already
            else:
                scores = bpb(evaluate(healed.model, healed.tokenizer, slices))
            run_result |= {"bpb": scores, "kept": results["original"]["overall"] / scores["overall"]}
        results["runs"][-1] = run_result
        logger.info("%s", {k: v for k, v in run_result.items() if k != "marks"})
        del healed
        save()

    for row in results["runs"]:
        print(f"{row['variant']} ({row['compute_dtype']} on {row['device']}): {row['steps']} steps in "
              f"{row['train_seconds']} s ({row['steps_per_second']} steps/s; median {row['median_step_seconds']} s "
              f"per step after the first), {row['tokens_per_second']} tokens/s, {row['trainable_parameters']:,} "
              f"trained parameters, peak memory {row['peak_memory_mb']:.0f} MB")
        print("  losses: " + " ".join(f"{x:.4f}" for x in row["losses"]))
    if not args.score:
        return
    names = [*slices, "overall"]
    limit = " and ".join(x for x in (args.minutes and f"{args.minutes} minutes", args.steps and f"{args.steps} steps")
                         if x)
    print(f"\n{args.documents} documents per slice, {args.doc_chars} characters; {limit} of training")
    print("| model | " + " | ".join(f"{n} BPB" for n in names) + " | kept | steps | tokens/s | trained params |")
    print("|---|" + "---|" * len(names) + "---|---|---|---|")
    print("| SmolLM2-135M original | " + " | ".join(f"{results['original'][n]:.4f}" for n in names)
          + " | 100 % | – | – | – |")
    kept = results["original"]["overall"] / results["start"]["overall"]
    print(f"| start ({args.start_dir.name}) | " + " | ".join(f"{results['start'][n]:.4f}" for n in names)
          + f" | {100 * kept:.1f} % | – | – | – |")
    for row in results["runs"]:
        print(f"| + heal {row['variant']} ({row['compute_dtype']}) | " + " | ".join(f"{row['bpb'][n]:.4f}" for n in names)
              + f" | {100 * row['kept']:.1f} % | {row['steps']} | {row['tokens_per_second']} | "
              f"{row['trainable_parameters']:,} |")
    for row in results["runs"]:
        print(f"{row['variant']}: {row['rows_updated']} rows updated, loss {row['loss_first']:.4f} -> "
              f"{row['loss_last']:.4f}, peak memory {row['peak_memory_mb']:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def keep_checkpoint(folder: Path, step: int) -> None:
    """Keep the checkpoint of ``step`` as step-N.pt: a hard link, free, since every save replaces the file."""
    from lexkit.transfer.heal import CHECKPOINT_FILE

    kept = folder / f"step-{step}.pt"
    if not kept.exists():
        os.link(folder / CHECKPOINT_FILE, kept)


def score_checkpoints(args: argparse.Namespace) -> None:
    """Held-out bits per byte of the start with the rows of kept checkpoints (step-N.pt of ``run
    --keep-checkpoints``): the model as it was after step N, for marks chosen after the run started."""
    import torch

    from lexkit.transfer import HealConfig, evaluate
    from lexkit.transfer._models import load_causal_lm

    if args.threads:
        torch.set_num_threads(args.threads)
    fixtures = fixtures_dir()
    slices = held_out_slices(fixtures, args.documents, args.doc_chars)
    results: dict[str, Any] = json.loads(args.json.read_text()) if args.json and args.json.exists() else {}
    model, _ = load_causal_lm(args.start_dir)
    embedding = model.get_input_embeddings().weight
    start = embedding.detach().clone()
    config = HealConfig(**VARIANTS[args.variant])
    if config.lora_rank:  # the run's adapters, with the same layers, rank and scale; each checkpoint loads its own
        from lexkit.transfer._heal_lora import attach_lora

        attach_lora(model.base_model, config.lora_targets, rank=config.lora_rank, alpha=config.lora_alpha,
                    seed=config.seed)
    if args.reference:
        small = fixtures / "smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"
        results["original"] = _slice_bpb(evaluate(load_causal_lm(small)[0], small, slices))
        results["start"] = _slice_bpb(evaluate(model, args.start_dir, slices))
        logger.info("original %s, start %s", results["original"], results["start"])
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    for step in args.steps:
        path = args.checkpoint_dir / f"step-{step}.pt"
        while not path.exists():  # the run may still be on its way there
            time.sleep(10)
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if payload["rows_in"] is not None:
            raise SystemExit("score-checkpoints handles tied students only (rows_out is the embedding)")
        rows = payload["rows_out"]
        with torch.no_grad():
            embedding.copy_(start)
            embedding[rows["rows"]] = rows["values"].to(embedding.dtype)
        if bool(payload.get("adapters")) != bool(config.lora_rank):
            held = "holds" if payload.get("adapters") else "holds no"
            raise SystemExit(f"{path} {held} LoRA adapters but --variant is {args.variant}; pass the run's variant")
        if config.lora_rank:
            from lexkit.transfer._heal_lora import load_adapter_state

            load_adapter_state(model.base_model, payload["adapters"])
        results[str(step)] = _slice_bpb(evaluate(model, args.start_dir, slices)) | {
            "tokens": payload["state"]["tokens"]}
        logger.info("step %d: %s", step, results[str(step)])
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))


def _slice_bpb(result: Any) -> dict[str, float]:
    return {name: s.bpb for name, s in result.slices.items()} | {"overall": result.bpb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    first = commands.add_parser("prepare", help="transplant once and save the start")
    first.add_argument("--start", choices=STARTS, default="heuristic")
    first.add_argument("-o", "--output", type=Path, required=True)
    first.add_argument("--prefilter", type=int, default=256,
                       help="omp-centred: OMP inside each token's nearest N anchors (bench_transfer_qwen's 256)")
    first.add_argument("--search-dim", type=int, default=0,
                       help="omp-centred: rank the candidates in this many principal directions (0: exact)")
    first.add_argument("--max-seconds", type=float, default=None,
                       help="heuristic: stop embedding (exit 3, progress kept) after this long; rerun to continue")
    second = commands.add_parser("run", help="heal the saved start once per variant")
    second.add_argument("--start-dir", type=Path, required=True)
    second.add_argument("--minutes", type=float, default=None, help="training minutes per variant")
    second.add_argument("--steps", type=int, default=None,
                        help="training steps per variant (a budget independent of machine load)")
    second.add_argument("--eval-steps", type=int, nargs="*", default=[],
                        help="also score the held-out slices after these steps")
    second.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    second.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu", help="where healing runs")
    second.add_argument("--dtype", nargs="+", choices=("auto", "float32", "bfloat16"), default=["float32"],
                        help="compute precision(s), one run per variant and precision (HealConfig.dtype)")
    second.add_argument("--keep-checkpoints", type=Path, default=None,
                        help="checkpoint every step into this folder and keep each as step-N.pt (score-checkpoints "
                             "scores them later)")
    second.add_argument("--keep-steps", type=int, nargs="*", default=[],
                        help="with --keep-checkpoints: keep only these steps' checkpoints (default: every step; "
                             "each holds the touched rows and their Adam moments, tens of MB)")
    second.add_argument("--no-score", dest="score", action="store_false",
                        help="skip the held-out scoring before and after (a speed-only run)")
    second.add_argument("--variants", nargs="+", default=["alm", "next-token"], choices=list(VARIANTS))
    second.add_argument("--lr", type=float, default=3e-3, help="the rows' learning rate (HealConfig's default)")
    second.add_argument("--batch-size", type=int, default=4)
    second.add_argument("--sequence-chars", type=int, default=1000)
    second.add_argument("--documents", type=int, default=15, help="held-out documents per slice")
    second.add_argument("--doc-chars", type=int, default=400)
    second.add_argument("--json", type=Path, default=None)
    third = commands.add_parser("score-checkpoints", help="score kept checkpoints of a run")
    third.add_argument("--start-dir", type=Path, required=True)
    third.add_argument("--checkpoint-dir", type=Path, required=True)
    third.add_argument("--steps", type=int, nargs="*", default=[], help="steps to score (none: only --reference)")
    third.add_argument("--threads", type=int, default=0)
    third.add_argument("--variant", default="alm", choices=list(VARIANTS),
                       help="the run's variant (a LoRA variant's checkpoints carry adapters)")
    third.add_argument("--reference", action="store_true", help="also score the original and the start")
    third.add_argument("--documents", type=int, default=15)
    third.add_argument("--doc-chars", type=int, default=400)
    third.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.command == "run" and args.minutes is None and args.steps is None:
        args.minutes = 5.0
    log_progress()
    {"prepare": prepare, "run": run, "score-checkpoints": score_checkpoints}[args.command](args)


if __name__ == "__main__":
    main()
