"""``lexkit sticky``: find sticky tokens of a sentence-embedding checkpoint folder and write a report.

A full faithful run is hours on a CPU (about 5.2M texts for all-MiniLM-L6-v2), so the command prints its time
estimate from a timed first batch, checkpoints beside the report by default (rerun the same command to resume),
and offers ``--fast`` (bf16 on CUDA or a CPU with native bf16; ``--compile`` adds torch.compile) with its
measured agreement with fp32; on a CPU without native bf16, where bf16 measured slower, ``--fast`` keeps fp32.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from lexkit.embedders import FAST_AGREEMENT
from lexkit.errors import LexkitError

__all__ = ["sticky"]


@click.command()
@click.option("--model", "model_dir", required=True, type=click.Path(path_type=Path),
              help="Checkpoint folder (config.json, weights, tokenizer; sentence-transformers files if any).")
@click.option("--pairs-csv", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The authors' sampled_sentence_pairs.csv (columns sentence1, sentence2): comparable pairs.")
@click.option("--sentences", "sentence_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A sentence pool, one sentence per line.")
@click.option("--corpus", "corpus_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Plain text split into 5-40 word sentences (default: lexkit's embedded English prose).")
@click.option("--corpus-bytes", type=click.IntRange(min=1), default=5_000_000,
              help="Read at most this many bytes of --corpus.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Report file, written atomically: .json, .html (fragment) or .md (Markdown).")
@click.option("--device", type=click.Choice(("cpu", "cuda", "auto")), default="cpu", help="Where the model runs.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for torch (default: one per core; 1 is faster on a busy machine).")
@click.option("--sample", type=click.IntRange(min=1), default=None,
              help="Score N random scorable tokens (quick run; with --mu-sample the whole pipeline, mu to final "
                   "list, takes minutes: --sample 300 --mu-sample 2000).")
@click.option("--mu-sample", type=click.IntRange(min=1), default=None,
              help="Compute mu over N random vocabulary strings instead of the whole vocabulary (quick run).")
@click.option("--max-tokens", type=click.IntRange(min=1), default=None, help="Score the first N scorable tokens.")
@click.option("--scoring-pairs", type=click.IntRange(min=1), default=5, help="Pairs for the sticky score.")
@click.option("--verification-pairs", type=click.IntRange(min=1), default=250, help="Pairs for verification.")
@click.option("--insertions", type=click.IntRange(min=1), default=8, help="Insertions per mode.")
@click.option("--seed", type=int, default=42, help="Seed of the sentence sample and the insertions.")
@click.option("--seed-scope", type=click.Choice(("process", "per_token")), default="process",
              help="'process': the authors' single generator; 'per_token': independent of which tokens run.")
@click.option("--checkpoint", "checkpoint_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for resumable partial results (default: OUTPUT's name with .checkpoint, beside it; "
                   "rerun the same command to resume an interrupted run; kept afterwards).")
@click.option("--no-checkpoint", is_flag=True, help="Keep no partial results (an interruption loses the run).")
@click.option("--fast", is_flag=True,
              help=f"Embed in bf16 instead of fp32, on CUDA or a CPU with native bf16 (AVX512-BF16/AMX). On a CPU "
                   f"without it bf16 is SLOWER than fp32, so --fast keeps fp32 there and says so. {FAST_AGREEMENT}")
@click.option("--compile/--no-compile", "compile_model", default=None,
              help="With --fast: torch.compile the model too (default: on CUDA only; on CPU it took minutes to "
                   "compile and recompiles per batch shape, worth it only for runs of hours: 2.7x instead of 2.1x).")
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def sticky(model_dir: Path, pairs_csv: Path | None, sentence_file: Path | None, corpus_file: Path | None,
           corpus_bytes: int, output: Path, device: str, threads: int | None, sample: int | None,
           mu_sample: int | None, max_tokens: int | None, scoring_pairs: int, verification_pairs: int, insertions: int, seed: int,
           seed_scope: str, checkpoint_dir: Path | None, no_checkpoint: bool, fast: bool,
           compile_model: bool | None, no_progress: bool, as_json: bool) -> None:
    """Detect sticky tokens of the embedding model in --model (Chen et al., ACL 2025) and write a report.

    The time estimate, from the first batch of tokens, goes to stderr before the bulk of the work.
    """
    from lexkit.analysis.sticky import StickyConfig, StickyTokenDetector, read_pairs_csv, split_sentences
    from lexkit.analysis.sticky.progress import default_checkpoint_dir
    from lexkit.analysis.sticky.render import render_html, render_markdown, to_json
    from lexkit.atomic import atomic_write_text
    from lexkit.embedders import TransformersEmbedder, check_model_folder
    from lexkit.tokenizer import Tokenizer

    if sum(x is not None for x in (pairs_csv, sentence_file, corpus_file)) > 1:
        raise LexkitError("--pairs-csv, --sentences and --corpus each choose the sentence source; pass only one")
    if no_checkpoint and checkpoint_dir is not None:
        raise LexkitError("--checkpoint and --no-checkpoint contradict each other; pass only one")
    if not no_checkpoint and checkpoint_dir is None:
        checkpoint_dir = default_checkpoint_dir(output)
    config = StickyConfig(scoring_pairs=scoring_pairs, verification_pairs=verification_pairs, insertions=insertions,
                          seed=seed, seed_scope=seed_scope, sample=sample,  # type: ignore[arg-type]
                          max_tokens=max_tokens, mu_sample=mu_sample)
    check_model_folder(model_dir)
    if compile_model is not None and not fast:
        raise LexkitError("--compile only applies to the bf16 model of --fast; add --fast or drop --compile")
    embedder = TransformersEmbedder(model_dir, device=device, threads=threads, fast=fast,
                                    compile="auto" if compile_model is None else compile_model)
    detector = StickyTokenDetector(embedder, Tokenizer.load(embedder.tokenizer_file), config,
                                   raw_vocab=embedder.base_vocab_strings(), progress=not no_progress,
                                   model_name=str(model_dir),
                                   on_estimate=lambda estimate: click.echo(f"sticky: {estimate.describe()}",
                                                                           err=True))
    if embedder.fast_fallback:
        click.echo(f"sticky: {embedder.fast_fallback}", err=True)
    if checkpoint_dir is not None:
        click.echo(f"sticky: checkpoint in {checkpoint_dir} (rerun the same command to resume)", err=True)
    if pairs_csv is not None:
        report = detector.run(pairs=read_pairs_csv(pairs_csv), source=str(pairs_csv), checkpoint_dir=checkpoint_dir)
    else:
        if sentence_file is not None:
            sentences = [line.strip() for line in sentence_file.read_text(encoding="utf-8").splitlines() if line.strip()]
            source = str(sentence_file)
        elif corpus_file is not None:
            with open(corpus_file, encoding="utf-8", errors="replace") as handle:
                sentences = split_sentences(handle.read(corpus_bytes))
            source = f"{corpus_file} (first {corpus_bytes} bytes, 5-40 word sentences)"
        else:
            from lexkit.embedded import prose_documents

            sentences = split_sentences("\n\n".join(prose_documents()))
            source = "lexkit's embedded English prose (Python reference topics, 5-40 word sentences)"
        report = detector.run(sentences=sentences, source=source, checkpoint_dir=checkpoint_dir)
    if fast and embedder.fast_fallback:
        report.notes.append(f"{embedder.fast_fallback}. {FAST_AGREEMENT}")
    elif fast:
        report.notes.append(f"embedded with --fast ({report.precision}): {FAST_AGREEMENT}")
    data = to_json(report)
    if output.suffix == ".json":
        atomic_write_text(output, json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    elif output.suffix in (".html", ".htm"):
        atomic_write_text(output, render_html(report))
    else:
        atomic_write_text(output, render_markdown(report))
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(f"{len(report.final)} sticky tokens of {report.scored} scored ({len(report.candidates)} candidates) "
               f"in {report.timings['total']:.0f}s -> {output}")
    for entry in report.final:
        click.echo(f"{entry.rank:>3} {entry.token!r:<20} id {entry.token_id:<7} {entry.kind:<9} "
                   f"score {entry.score:.4f} verification {entry.verification['cos']:.4f}")
