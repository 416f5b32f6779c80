"""``lexkit heal``: a thin click wrapper around `lexkit.transfer.heal`.

Registered on the main group in ``lexkit.cli.main``, whose error handling turns lexkit's errors into one-line
messages with a non-zero exit. The output folder is written atomically; checkpoints go to a sibling folder
(``OUT.heal-checkpoint`` unless ``--checkpoint-dir`` says otherwise), so rerunning the same command resumes.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from lexkit.errors import LexkitError

__all__ = ["heal"]


@click.command()
@click.option("--model", "model_path", required=True, type=click.Path(path_type=Path),
              help="The swapped model (student): a folder written by `lexkit transplant`.")
@click.option("--teacher", "teacher_path", required=True, type=click.Path(path_type=Path),
              help="The original model (teacher) with its own tokenizer: an HF folder or a .gguf file.")
@click.option("--corpus", "corpora", multiple=True, required=True, type=click.Path(path_type=Path),
              help="Training text file (UTF-8; repeatable).")
@click.option("--held-out", type=click.Path(path_type=Path), default=None,
              help="Held-out text for bits per byte (default: the last --held-out-documents of the corpus).")
@click.option("--held-out-documents", type=click.IntRange(min=0), default=8,
              help="Without --held-out: corpus documents kept aside for scoring (0 = no scoring).")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Training time budget in minutes (held-out scoring not counted).")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Step budget.")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (model, tokenizer, heal_report.json), written atomically.")
@click.option("--loss", type=click.Choice(("next-token", "alm")), default="next-token", show_default=True,
              help="next-token: the student's own next-token loss (measured best); alm: match the teacher's chunk "
                   "likelihoods.")
@click.option("--rows", type=click.Choice(("new", "all")), default="new",
              help="Embedding rows that may train: the student's new tokens, or all.")
@click.option("--through-body/--head-only", default=True,
              help="Train the rows from both sides, backpropagating through the transformer (the default), or "
                   "from the output head only.")
@click.option("--lr", "learning_rate", type=click.FloatRange(min=0, min_open=True), default=3e-3,
              help="Learning rate of the rows (HealConfig's measured default).")
@click.option("--batch-size", type=click.IntRange(min=1), default=4, help="Text pieces per step.")
@click.option("--sequence-chars", type=click.IntRange(min=16), default=1000, help="Characters per text piece.")
@click.option("--eval-every", type=click.IntRange(min=0), default=0,
              help="Score the held-out text every N steps (0: before and after only).")
@click.option("--eval-steps", type=click.IntRange(min=1), multiple=True,
              help="Also score the held-out text after this step (repeatable).")
@click.option("--lora-rank", type=click.IntRange(min=0), default=8,
              help="Also train LoRA adapters of this rank on the attention's q/v projections (0: rows only; "
                   "HealConfig's measured default).")
@click.option("--checkpoint-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Checkpoint folder (default: OUTPUT.heal-checkpoint); a rerun resumes from it.")
@click.option("--tokenizer", "tokenizer_path", type=click.Path(path_type=Path), default=None,
              help="The student's tokenizer (default: read from --model).")
@click.option("--teacher-tokenizer", type=click.Path(path_type=Path), default=None,
              help="The teacher's tokenizer (default: read from --teacher).")
@click.option("--device", type=click.Choice(("cpu", "cuda", "auto")), default="auto", help="Where training runs.")
@click.option("--dtype", type=click.Choice(("auto", "float32", "bfloat16")), default="auto", show_default=True,
              help="Compute precision: bfloat16 runs the transformer under bf16 autocast (rows, adapters and the head's "
                   "softmax stay float32); auto: bf16 on CUDA devices that support it, float32 on the CPU.")
@click.option("--seed", type=int, default=0, help="Data-order seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def heal(model_path: Path, teacher_path: Path, corpora: tuple[Path, ...], held_out: Path | None,
         held_out_documents: int, minutes: float | None, steps: int | None, output: Path, loss: str, rows: str,
         through_body: bool, learning_rate: float, batch_size: int, sequence_chars: int, eval_every: int,
         eval_steps: tuple[int, ...], lora_rank: int, checkpoint_dir: Path | None, tokenizer_path: Path | None, teacher_tokenizer: Path | None, device: str,
         dtype: str, seed: int, as_json: bool) -> None:
    """Heal the swapped model at --model on --corpus text (scored beside the original at --teacher); save to -o."""
    from lexkit.transfer.heal import Budget, HealConfig, HealStep
    from lexkit.transfer.heal import heal as run_heal

    if minutes is None and steps is None:
        raise LexkitError("no budget: pass --minutes N and/or --steps N")
    config = HealConfig(loss=loss, rows=rows, through_body=through_body,  # type: ignore[arg-type]
                        learning_rate=learning_rate, batch_size=batch_size, sequence_chars=sequence_chars,
                        eval_every=eval_every, eval_steps=eval_steps, lora_rank=lora_rank, seed=seed,
                        dtype=dtype)  # type: ignore[arg-type]
    documents = [d for path in corpora for d in _documents(path, sequence_chars)]
    scored: list[str] | None = None
    if held_out is not None:
        scored = _documents(held_out, sequence_chars)
    elif held_out_documents and len(documents) > held_out_documents:
        documents, scored = documents[:-held_out_documents], documents[-held_out_documents:]

    def report(step: HealStep) -> None:
        if not as_json:
            extra = f", held-out {step.bpb:.4f} bits per byte" if step.bpb is not None else ""
            click.echo(f"step {step.step}: loss {step.loss:.4f}, {step.tokens} tokens, {step.seconds:.0f}s{extra}")

    result = run_heal(model_path, teacher_path, documents, budget=Budget(minutes=minutes, steps=steps),
                      tokenizer=tokenizer_path, teacher_tokenizer=teacher_tokenizer, held_out=scored, config=config,
                      device=device, checkpoint_dir=checkpoint_dir or output.with_name(f"{output.name}.heal-checkpoint"),
                      progress=report)
    result.save(output)
    info = result.info
    if as_json:
        click.echo(json.dumps({"output": str(output), **result.to_json()}, ensure_ascii=False, indent=2))
        return
    if "final_bpb" in info:
        click.echo(f"held-out bits per byte: {info['start_bpb']:.4f} -> {info['final_bpb']:.4f} "
                   f"(teacher {info['teacher_bpb']:.4f})")
    click.echo(f"{info['steps']} steps, {info['tokens']} tokens, {info['tokens_per_second']} tokens/s, "
               f"{info['trainable_parameters']} trainable parameters ({info['rows_updated']} rows updated), "
               f"peak memory {info['peak_memory_mb']:.0f} MB")
    click.echo(f"wrote {output}")


def _documents(path: Path, chars: int) -> list[str]:
    """The non-blank pieces (at most ``chars`` characters) of a UTF-8 text file."""
    from lexkit.transfer.evaluate import chunk_text

    try:
        text = path.read_bytes().decode("utf-8")
    except (FileNotFoundError, IsADirectoryError):
        raise LexkitError(f"{path}: no such file (a --corpus or --held-out file); pass an existing text file") \
            from None
    except UnicodeDecodeError as exc:
        raise LexkitError(f"{path}: invalid UTF-8 at byte {exc.start}; convert the file to UTF-8 first") from None
    pieces = [c for c in chunk_text(text, chars) if c.strip()]
    if not pieces:
        raise LexkitError(f"{path}: the file holds no text; pass a non-empty corpus file")
    return pieces
