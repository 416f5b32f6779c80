"""``lexkit hypernet train``: train a ZeTT-style hypernetwork for one source model (thin wrapper).

The trained folder is what ``lexkit transplant --method hypernetwork --hypernetwork HN`` reads. Registered on the
main group in ``lexkit.cli.main``; lexkit's own errors print as one line with a non-zero exit.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["DEVICES", "PRESET_NAMES", "hypernet", "train"]

DEVICES = ("cpu", "cuda", "auto")
PRESET_NAMES = ("tiny", "smollm2-cpu", "smollm2-gpu")  # keys of lexkit.transfer.hypernetwork.PRESETS


@click.group()
def hypernet() -> None:
    """Hypernetworks that predict embeddings for any target tokenizer (ZeTT-style)."""


@hypernet.command("train")
@click.option("--model", "model_path", required=True, type=click.Path(path_type=Path),
              help="The frozen source model: an HF folder or a .gguf file.")
@click.option("--corpus", "corpora", multiple=True, required=True, type=click.Path(path_type=Path),
              help="Training text file (repeatable).")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder: the hypernetwork, checkpoint.pt and training_log.json (resumed if present).")
@click.option("--preset", type=click.Choice(PRESET_NAMES), default="smollm2-cpu",
              help="Network shape and training settings (tiny: tests; smollm2-cpu / smollm2-gpu: SmolLM2-135M).")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Override the preset's step count.")
@click.option("--max-corpus-bytes", type=click.IntRange(min=1), default=None,
              help="Read only the first N bytes of each corpus file (keep held-out text out of training).")
@click.option("--source-tokenizer", type=click.Path(path_type=Path), default=None,
              help="The model's tokenizer (default: read from the model folder or .gguf file).")
@click.option("--device", type=click.Choice(DEVICES), default="auto", help="Where training runs.")
@click.option("--no-resume", is_flag=True, help="Start over even if the output folder holds a checkpoint.")
@click.option("--seed", type=int, default=None, help="Override the preset's seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the training summary as JSON.")
def train(model_path: Path, corpora: tuple[Path, ...], output: Path, preset: str, steps: int | None,
          max_corpus_bytes: int | None, source_tokenizer: Path | None, device: str, no_resume: bool,
          seed: int | None, as_json: bool) -> None:
    """Train a hypernetwork for --model on --corpus text and save it to -o."""
    from lexkit.transfer.hypernetwork import PRESETS
    from lexkit.transfer.hypernetwork import train as run_train

    network, config = PRESETS[preset]
    changes = {k: v for k, v in (("steps", steps), ("seed", seed)) if v is not None}
    if steps is not None and config.identity_steps >= steps:
        changes["identity_steps"] = max(0, steps // 20)
    config = config.replace(**changes)
    trained = run_train(model_path, list(corpora), output, config=config, network=network,
                        source_tokenizer=source_tokenizer, max_corpus_bytes=max_corpus_bytes, device=device,
                        resume=not no_resume, progress=not as_json)
    summary = trained.training
    if as_json:
        click.echo(json.dumps({"output": str(output), **summary}, indent=2))
        return
    click.echo(f"trained {summary['steps']} steps ({summary['tokens']} LM tokens) in {summary['seconds']:.0f}s on "
               f"{summary['device']}: {summary['tokens_per_second']:.0f} tokens/s")
    click.echo(f"wrote {output}")
