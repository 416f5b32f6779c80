"""Visual-BPE commands: train on ``.npy`` code grids, encode grids, report visual-token statistics.

Each command parses options and calls one function of this module (`train_codes`, `encode_codes`,
`analyze_codes`), which ``lexkit train visual-bpe --codes ...``, ``lexkit encode --codes ...`` and
``lexkit analyze --codes ...`` can call as well. Errors are lexkit errors; the ``lexkit`` group prints them as one
line with a non-zero exit.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from lexkit.errors import FormatError

__all__ = ["analyze_codes", "encode_codes", "train_codes", "visual_analyze", "visual_encode", "visual_train"]


def train_codes(codes: Path, output: Path, *, vocab_size: int | None = None, num_merges: int = 8192,
                codebook_size: int | None = None, alpha: float = 0.1, sigma: float = 0.5, top_k: int | None = None,
                min_frequency: int = 2, progress: bool = False) -> dict[str, Any]:
    """Train visual BPE on the grids in ``codes`` and write ``output/lexkit.json`` atomically.

    Returns:
        A JSON-ready summary: output, sizes, merges, time, and mean tokens per training grid before and after.

    Raises:
        FormatError: ``codes`` is missing or not ``.npy``.
        CorpusError: the grids are ragged, not integer, or hold codes outside the codebook.
        VocabularyError: a setting is invalid (e.g. a vocabulary size below the codebook size).
    """
    from lexkit.atomic import atomic_directory
    from lexkit.encoders.visual import VisualEncoder
    from lexkit.formats import native
    from lexkit.grids import load_codes
    from lexkit.vocab.visual import VisualBPEConfig, VisualBPETrainer

    config = VisualBPEConfig(vocab_size=vocab_size, num_merges=num_merges, alpha=alpha, sigma=sigma, top_k=top_k,
                             min_frequency=min_frequency)
    grids = load_codes(codes, codebook_size)
    start = time.perf_counter()
    vocabulary = VisualBPETrainer(config).train(grids, codebook_size, progress=progress)
    seconds = time.perf_counter() - start
    encodings = VisualEncoder(vocabulary).encode_grids(grids)
    with atomic_directory(output) as staging:
        native.save(vocabulary, staging / native.FILENAME)
    return {
        "output": str(output), "vocab_size": len(vocabulary), "codebook_size": vocabulary.alphabet.size,
        "merges": len(vocabulary.merges), "grids": len(grids), "stop_reason": vocabulary.metadata["stop_reason"],
        "seconds": round(seconds, 2), "tokens_per_grid_before": sum(g.size for g in grids) / len(grids),
        "tokens_per_grid_after": sum(len(e) for e in encodings) / len(grids),
    }


def _load_visual(tokenizer: Path) -> Any:
    from lexkit.encoders.visual import VisualEncoder
    from lexkit.formats import native

    path = tokenizer / native.FILENAME if tokenizer.is_dir() else tokenizer
    if path.suffix != ".json":
        raise FormatError(f"{tokenizer}: a visual tokenizer is a lexkit.json (or its folder); pass that instead")
    return VisualEncoder(native.load(path))


def encode_codes(codes: Path, tokenizer: Path) -> list[dict[str, Any]]:
    """Encode every grid in ``codes`` with the visual vocabulary at ``tokenizer`` (a folder or lexkit.json).

    Returns:
        Per grid: ``shape``, token ``ids`` and anchor ``positions`` (row, col).

    Raises:
        FormatError: a file is missing or unreadable.
        UnsupportedAlphabetError: the vocabulary is not a visual one.
        CorpusError: bad grids.
    """
    from lexkit.grids import load_codes

    encoder = _load_visual(tokenizer)
    grids = load_codes(codes, encoder.codebook_size)
    return [{"shape": list(e.shape), "ids": e.ids, "positions": [list(p) for p in e.positions]}
            for e in encoder.encode_grids(grids)]


def analyze_codes(codes: Path, output: Path, *, tokenizer: Path | None = None,
                  codebook_size: int | None = None, seed: int = 0) -> dict[str, Any]:
    """Write ``visual_report.{json,md,png}`` into ``output``: raw codes vs visual-BPE tokens on ``codes``.

    Returns:
        The headline figures: tokens per image, entropy, Rényi efficiency, compression, for each token kind.
    """
    from lexkit.analysis.visual_stats import analyze_visual_tokens, plot_visual_report
    from lexkit.atomic import atomic_directory
    from lexkit.grids import load_codes

    encoder = _load_visual(tokenizer) if tokenizer is not None else None
    size = encoder.codebook_size if encoder is not None else codebook_size
    grids = load_codes(codes, size)
    report = analyze_visual_tokens(grids, size, vocabulary=encoder.vocabulary if encoder else None, seed=seed)
    with atomic_directory(output) as staging:
        (staging / "visual_report.json").write_text(json.dumps(report.to_json(), indent=1), encoding="utf-8")
        (staging / "visual_report.md").write_text("\n".join(report.lines()) + "\n", encoding="utf-8")
        plot_visual_report(report, staging / "visual_report.png")
    return {
        s.name: {"tokens_per_image": round(s.tokens_per_image, 2), "entropy_bits": round(s.entropy_bits, 4),
                 "renyi_efficiency": round(s.renyi_efficiency, 4),
                 "compression": {k: round(v, 4) for k, v in s.compression.items()}}
        for s in (report.raw, report.bpe) if s is not None
    }


_CODES = click.option("--codes", type=click.Path(exists=True, path_type=Path), required=True,
                      help="Code grids: an .npy of shape (N, H, W) or (H, W), or a folder of .npy files.")
_JSON = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


@click.command("visual-train")
@_CODES
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder (lexkit.json), written atomically.")
@click.option("-n", "--vocab-size", type=click.IntRange(min=1), default=None,
              help="Stop at this many tokens, codes included (overrides --num-merges).")
@click.option("--num-merges", type=click.IntRange(min=0), default=8192, show_default=True,
              help="Stop after this many merges.")
@click.option("--codebook-size", type=click.IntRange(min=1), default=None,
              help="Codebook size K (default: largest code + 1).")
@click.option("--alpha", type=click.FloatRange(min=0), default=0.1, show_default=True,
              help="Weight of spatial consistency in the merge priority (0: frequency only).")
@click.option("--sigma", type=click.FloatRange(min=0, min_open=True), default=0.5, show_default=True,
              help="Gaussian width in cells of spatial consistency.")
@click.option("--top-k", type=click.IntRange(min=1), default=None, help="Shortlist the k most frequent pairs.")
@click.option("--min-frequency", type=click.IntRange(min=1), default=2, show_default=True,
              help="Stop when the best pair is rarer.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@_JSON
def visual_train(codes: Path, output: Path, vocab_size: int | None, num_merges: int, codebook_size: int | None,
                 alpha: float, sigma: float, top_k: int | None, min_frequency: int, no_progress: bool,
                 as_json: bool) -> None:
    """Train visual BPE (2-D merges, Being-VL) on quantized image grids."""
    result = train_codes(codes, output, vocab_size=vocab_size, num_merges=num_merges, codebook_size=codebook_size,
                         alpha=alpha, sigma=sigma, top_k=top_k, min_frequency=min_frequency,
                         progress=not no_progress)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(f"trained visual-bpe: {result['vocab_size']} tokens ({result['codebook_size']} codes + "
                   f"{result['merges']} merges) on {result['grids']} grids in {result['seconds']}s; tokens per grid "
                   f"{result['tokens_per_grid_before']:.1f} -> {result['tokens_per_grid_after']:.1f} -> {output}")


@click.command("visual-encode")
@_CODES
@click.option("-t", "--tokenizer", type=click.Path(exists=True, path_type=Path), required=True,
              help="A visual lexkit.json or its folder.")
@_JSON
def visual_encode(codes: Path, tokenizer: Path, as_json: bool) -> None:
    """Print the token ids of each grid (one line per grid; --json adds shapes and anchor positions)."""
    encodings = encode_codes(codes, tokenizer)
    if as_json:
        click.echo(json.dumps(encodings))
    else:
        for encoding in encodings:
            click.echo(" ".join(map(str, encoding["ids"])))


@click.command("visual-analyze")
@_CODES
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Report folder: visual_report.json, .md and .png.")
@click.option("-t", "--tokenizer", type=click.Path(exists=True, path_type=Path), default=None,
              help="A visual lexkit.json (or folder) to compare against the raw codes.")
@click.option("--codebook-size", type=click.IntRange(min=1), default=None,
              help="Codebook size K without a tokenizer (default: largest code + 1).")
@click.option("--seed", type=int, default=0, show_default=True, help="Image order of the innovation curves.")
@_JSON
def visual_analyze(codes: Path, output: Path, tokenizer: Path | None, codebook_size: int | None, seed: int,
                   as_json: bool) -> None:
    """Visual-token statistics (Zipf, entropy, innovation, compression, Rényi) of raw codes vs BPE tokens."""
    summary = analyze_codes(codes, output, tokenizer=tokenizer, codebook_size=codebook_size, seed=seed)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        for name, figures in summary.items():
            click.echo(f"{name}: {figures['tokens_per_image']} tokens/image, entropy {figures['entropy_bits']} bits, "
                       f"Rényi efficiency {figures['renyi_efficiency']}")
        click.echo(f"report -> {output}")
