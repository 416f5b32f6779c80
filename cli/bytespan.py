"""``lexkit train bytespan`` options: the byte LM and ByteSpan's grouping and fill settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = ["bytespan_options", "bytespan_fields"]

F = TypeVar("F", bound=Callable[..., Any])

_DEFAULTS: dict[str, Any] = {
    "byte_lm": "ngram", "signal": "entropy", "constraint": "combined", "fill": "frequency", "seed_proportion": 0.5,
    "percentile": 30.0, "ngram_order": 5, "lm_steps": 1000, "device": "cpu", "max_bytes": None,
    "save_byte_lm": None,
}


def bytespan_options(func: F) -> F:
    """Attach the ByteSpan options."""
    options = [
        click.option("--byte-lm", default="ngram", metavar="ngram|transformer|PATH",
                     help="The byte LM: an n-gram LM or a small transformer trained on the corpus, or a "
                          "saved one (a folder from --save-byte-lm, or an HF causal LM over bytes)."),
        click.option("--signal", type=click.Choice(("entropy", "surprisal")), default="entropy",
                     help="Per-byte signal."),
        click.option("--constraint", type=click.Choice(("combined", "monotonic", "global")), default="combined",
                     help="When a byte joins the span before it."),
        click.option("--fill", type=click.Choice(("frequency", "seeding")), default="frequency",
                     help="Spans by count (then BPE), or top spans up to --seed-proportion then BPE."),
        click.option("--seed-proportion", type=click.FloatRange(0.0, 1.0), default=0.5,
                     help="Share of the vocabulary from spans under --fill seeding."),
        click.option("--percentile", type=click.FloatRange(0.0, 100.0, min_open=True, max_open=True), default=30.0,
                     help="The combined constraint's threshold, as a percentile of the signals."),
        click.option("--ngram-order", type=click.IntRange(1, 7), default=5, help="The n of the n-gram LM."),
        click.option("--lm-steps", type=click.IntRange(min=1), default=1000,
                     help="Training steps of --byte-lm transformer."),
        click.option("--device", type=click.Choice(("cpu", "cuda", "auto")), default="cpu",
                     help="Where a torch byte LM runs."),
        click.option("--max-bytes", type=click.IntRange(min=1), default=None,
                     help="Train on the first this-many bytes of the corpus."),
        click.option("--save-byte-lm", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Save the byte LM trained here for reuse with --byte-lm PATH (default for "
                          "--byte-lm transformer: OUTPUT/byte_lm)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def bytespan_fields(shared: dict[str, Any], values: dict[str, Any], output: Path) -> dict[str, Any]:
    """The `ByteSpanConfig` fields from the shared train options plus the ByteSpan ones in ``values``."""
    given = {name: values[name] for name in _DEFAULTS}
    if given["save_byte_lm"] is None and given["byte_lm"] == "transformer":
        given["save_byte_lm"] = output / "byte_lm"
    if given["save_byte_lm"] is not None:
        given["save_byte_lm"] = str(given["save_byte_lm"])
    out = dict(shared)
    if not out.get("special_tokens"):
        out.pop("special_tokens", None)  # ByteSpan's own <|padding|>, <|endoftext|>
    out.update(given)
    return out
