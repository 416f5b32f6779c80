"""``lexkit transplant`` and ``lexkit evaluate``: thin click wrappers around `lexkit.transfer`.

The commands are registered on the main group in ``lexkit.cli.main``, whose error handling turns lexkit's own
errors into one-line messages with a non-zero exit. Outputs are written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from lexkit.errors import LexkitError

__all__ = ["METHODS", "DEVICES", "transplant", "evaluate"]

METHODS = ("omp", "heuristic", "hypernetwork", "mean", "subword-mean", "random", "zero")  # lexkit.transfer.Method values
DEVICES = ("cpu", "cuda", "auto")


@click.command()
@click.option("--model", "model_path", required=True, type=click.Path(path_type=Path),
              help="Source model: an HF folder or a .gguf file.")
@click.option("--tokenizer", "tokenizer_path", required=True, type=click.Path(path_type=Path),
              help="Target tokenizer: tokenizer.json, lexkit.json, .model, .tiktoken, or a folder.")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (model, tokenizer, transplant_report.json), written atomically.")
@click.option("-m", "--method", type=click.Choice(METHODS), default="omp", help="Approximation method.")
@click.option("--donor", default=None,
              help="OMP: a model folder that uses the target tokenizer, or 'auxiliary' (experimental).")
@click.option("--source-tokenizer", type=click.Path(path_type=Path), default=None,
              help="The model's tokenizer (default: read from the model folder or .gguf file).")
@click.option("--aux", type=click.Path(path_type=Path), default=None,
              help="Auxiliary embedding model folder (heuristic, --donor auxiliary); default all-MiniLM-L6-v2.")
@click.option("-k", type=click.IntRange(min=1), default=None,
              help="OMP sparsity: anchors per new token (default 8 on CPU, 64 on CUDA).")
@click.option("--prefilter", type=click.IntRange(min=0), default=None,
              help="OMP: code each token over its M nearest anchors (absolute cosine); 0 = exact OMP over all "
                   "anchors (default 64 on CPU, 1024 on CUDA).")
@click.option("--search-dim", type=click.IntRange(min=0), default=None,
              help="OMP: rank the pre-filter's candidates in the anchors' top DIM principal directions; 0 = all "
                   "dimensions (default 128 on CPU, all on CUDA).")
@click.option("--center/--no-center", default=True,
              help="OMP: centred (affine) OMP, rebuilt around the source mean (default, best measured); "
                   "`--no-center --prefilter 0 -k 64` is mergekit's OMP.")
@click.option("--batch-size", type=click.IntRange(min=1), default=512, help="OMP targets per batch.")
@click.option("--device", type=click.Choice(DEVICES), default="auto", help="Where OMP and embedders run.")
@click.option("--tie", type=click.Choice(("auto", "tied", "untied")), default="auto",
              help="Output head layout (auto keeps the source's).")
@click.option("--pad-to-multiple-of", type=click.IntRange(min=1), default=None, help="Round the row count up.")
@click.option("--clip-norms", is_flag=True, help="Clip approximated rows above the anchors' 99.9th-percentile norm.")
@click.option("--seed", type=int, default=0, help="Seed of the random baseline.")
@click.option("--hypernetwork", "hypernetwork_path", type=click.Path(path_type=Path), default=None,
              help="hypernetwork: the folder written by `lexkit hypernet train`.")
@click.option("--json", "as_json", is_flag=True, help="Print the report summary as JSON.")
def transplant(model_path: Path, tokenizer_path: Path, output: Path, method: str, donor: str | None,
               source_tokenizer: Path | None, aux: Path | None, k: int | None, prefilter: int | None,
               search_dim: int | None, center: bool,
               batch_size: int, device: str, tie: str, pad_to_multiple_of: int | None, clip_norms: bool, seed: int,
               hypernetwork_path: Path | None, as_json: bool) -> None:
    """Give the model at --model the tokenizer at --tokenizer and save the result to -o."""
    from lexkit.transfer import transplant as run_transplant

    donor_arg: Any = donor if donor in (None, "auxiliary") else Path(str(donor))
    options: dict[str, Any] = {"batch_size": batch_size, "clip_norms": clip_norms, "seed": seed}
    if method == "omp":
        options.update(_omp_options(device, k, prefilter, search_dim, center, show=donor is not None))
    result = run_transplant(
        model_path, tokenizer_path, method, donor=donor_arg, source_tokenizer=source_tokenizer, aux=aux,
        device=device, tie=tie, pad_to_multiple_of=pad_to_multiple_of,  # type: ignore[arg-type]
        hypernetwork=hypernetwork_path, **options,
    )
    result.save(output)
    if as_json:
        click.echo(json.dumps({"output": str(output), **result.to_json(provenance=False)}, ensure_ascii=False,
                              indent=2))
    else:
        for line in result.summary_lines():
            click.echo(line)
        click.echo(f"wrote {output}")


def _omp_options(device: str, k: int | None, prefilter: int | None, search_dim: int | None, center: bool, *,
                 show: bool) -> dict[str, Any]:
    """OMP settings with the device's measured defaults filled in; ``show`` prints them (one stderr line) and
    turns on the time estimate (a second line, after a first chunk of rows is timed)."""
    import logging

    from lexkit.device import resolve_device
    from lexkit.transfer.methods import OmpDefaults

    resolved = resolve_device(device)
    defaults = OmpDefaults.for_device(resolved)
    k = defaults.k if k is None else k
    prefilter = max(defaults.prefilter, k) if prefilter is None else prefilter or None
    search_dim = (defaults.search_dim if search_dim is None else search_dim or None) if prefilter else None
    search = "exact OMP over all anchors" if prefilter is None else (
        f"pre-filter {prefilter} nearest anchors" + (f" (searched in {search_dim} dimensions)" if search_dim else ""))
    if show:  # without a donor, transplant fails at once with a one-line error
        click.echo(f"lexkit: omp on {resolved}: k={k}, {search}, {'centred' if center else 'uncentred'}"
                   f"{'' if center else ' (mergekit)'}", err=True)
        logging.getLogger("lexkit.transfer.methods").setLevel(logging.INFO)  # the estimate, timed on a first chunk
    return {"k": k, "prefilter": prefilter, "search_dim": search_dim, "center": center}


def _read_corpus(spec: str, document_chars: int, documents: int | None) -> tuple[str, list[str]]:
    """``NAME=FILE`` or ``FILE`` -> (slice name, documents of at most ``document_chars`` characters)."""
    from lexkit.transfer.evaluate import chunk_text

    name, _, file_name = spec.rpartition("=")
    path = Path(file_name)
    name = name or path.stem
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise LexkitError(f"{path}: no such file (the --corpus of slice {name!r}); pass an existing text file") \
            from None
    except UnicodeDecodeError as exc:
        raise LexkitError(f"{path}: invalid UTF-8 at byte {exc.start}; convert the file to UTF-8 first") from None
    chunks = [c for c in chunk_text(text, document_chars) if c.strip()]
    if not chunks:
        raise LexkitError(f"{path}: the file holds no text to score; pass a non-empty --corpus file")
    return name, chunks[:documents] if documents else chunks


@click.command()
@click.option("--model", "model_path", required=True, type=click.Path(path_type=Path),
              help="Causal LM: an HF folder or a .gguf file.")
@click.option("--tokenizer", "tokenizer_path", type=click.Path(path_type=Path), default=None,
              help="The model's tokenizer (default: read from the model folder).")
@click.option("--corpus", "corpora", multiple=True, required=True,
              help="Text file to score, as FILE or NAME=FILE (NAME = slice; repeatable).")
@click.option("--documents", type=click.IntRange(min=1), default=None,
              help="Score only the first N documents of each file.")
@click.option("--document-chars", type=click.IntRange(min=1), default=2000,
              help="Files are cut into documents of at most this many characters (at whitespace).")
@click.option("--device", type=click.Choice(DEVICES), default=None, help="Move the model here (default: cpu).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def evaluate(model_path: Path, tokenizer_path: Path | None, corpora: tuple[str, ...], documents: int | None,
             document_chars: int, device: str | None, as_json: bool) -> None:
    """Bits per byte of --model on the --corpus files (tokenizer-independent, comparable across tokenizers)."""
    from lexkit.transfer import evaluate as run_evaluate

    slices = dict(_read_corpus(spec, document_chars, documents) for spec in corpora)
    result = run_evaluate(model_path, tokenizer_path, slices, chunk_chars=document_chars, device=device)
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return
    for name, part in [*result.slices.items(), ("overall", result.overall)]:
        click.echo(f"{name}: {part.bpb:.4f} bits per byte ({part.n_bytes} bytes, {len(part.documents)} documents, "
                   f"{part.n_bytes / max(part.n_tokens, 1):.2f} bytes per token)")
