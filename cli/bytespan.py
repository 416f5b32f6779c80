"""``lexkit train --algorithm bytespan`` options: the byte LM and ByteSpan's grouping and fill settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from lexkit import LexkitError

F = TypeVar("F", bound=Callable[..., Any])

_DEFAULTS: dict[str, Any] = {
    "byte_lm": "ngram", "signal": "entropy", "constraint": "combined", "fill": "frequency", "seed_proportion": 0.5,
    "percentile": 30.0, "ngram_order": 5, "lm_steps": 1000, "device": "cpu", "max_bytes": None,
    "save_byte_lm": None,
}


def bytespan_options(func: F) -> F:
    """Attach the ByteSpan options (each help text starts with ``bytespan:``)."""
    options = [
        click.option("--byte-lm", default="ngram", metavar="ngram|transformer|PATH",
                     help="bytespan: the byte LM: an n-gram LM or a small transformer trained on the corpus, or a "
                          "saved one (a folder from --save-byte-lm, or an HF causal LM over bytes)."),
        click.option("--signal", type=click.Choice(("entropy", "surprisal")), default="entropy",
                     help="bytespan: per-byte signal."),
        click.option("--constraint", type=click.Choice(("combined", "monotonic", "global")), default="combined",
                     help="bytespan: when a byte joins the span before it."),
        click.option("--fill", type=click.Choice(("frequency", "seeding")), default="frequency",
                     help="bytespan: spans by count (then BPE), or top spans up to --seed-proportion then BPE."),
        click.option("--seed-proportion", type=click.FloatRange(0.0, 1.0), default=0.5,
                     help="bytespan: share of the vocabulary from spans under --fill seeding."),
        click.option("--percentile", type=click.FloatRange(0.0, 100.0, min_open=True, max_open=True), default=30.0,
                     help="bytespan: the combined constraint's threshold, as a percentile of the signals."),
        click.option("--ngram-order", type=click.IntRange(1, 7), default=5, help="bytespan: n of the n-gram LM."),
        click.option("--lm-steps", type=click.IntRange(min=1), default=1000,
                     help="bytespan: training steps of --byte-lm transformer."),
        click.option("--device", type=click.Choice(("cpu", "cuda", "auto")), default="cpu",
                     help="bytespan: where a torch byte LM runs."),
        click.option("--max-bytes", type=click.IntRange(min=1), default=None,
                     help="bytespan: train on the first this-many bytes of the corpus."),
        click.option("--save-byte-lm", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="bytespan: save the byte LM trained here for reuse with --byte-lm PATH (default for "
                          "--byte-lm transformer: OUTPUT/byte_lm)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def pop_bytespan_options(algorithm: str, values: dict[str, Any], output: Path) -> dict[str, Any]:
    """Remove the ByteSpan options from ``values`` and return the `ByteSpanConfig` fields they set.

    Raises:
        LexkitError: a ByteSpan option was given to another algorithm.
    """
    given = {name: values.pop(name) for name in _DEFAULTS}
    if algorithm != "bytespan":
        used = [name for name, value in given.items() if value != _DEFAULTS[name]]
        if used:
            raise LexkitError(
                f"--{used[0].replace('_', '-')} belongs to --algorithm bytespan, not {algorithm}; drop it or pass "
                "--algorithm bytespan"
            )
        return {}
    if given["save_byte_lm"] is None and given["byte_lm"] == "transformer":
        given["save_byte_lm"] = output / "byte_lm"
    if given["save_byte_lm"] is not None:
        given["save_byte_lm"] = str(given["save_byte_lm"])
    return given


def bytespan_config_options(options: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """The `ByteSpanConfig` fields from the shared train options plus the ByteSpan ones.

    Raises:
        LexkitError: a shared option ByteSpan does not take (``--max-token-length``, ``--pre-tokenizer`` other
            than a byte-level pattern).
    """
    out = dict(options)
    if out.pop("max_token_length", None) is not None:
        raise LexkitError("--max-token-length does not apply to --algorithm bytespan (spans have no length cap); "
                          "drop it")
    if out.get("pre_tokenizer") not in ("gpt2", "cl100k", "o200k"):
        raise LexkitError(f"--pre-tokenizer {out.get('pre_tokenizer')} does not apply to bytespan, which needs a "
                          "byte-level pattern; pass gpt2, cl100k or o200k")
    if not out.get("special_tokens"):
        out.pop("special_tokens", None)  # ByteSpan's own <|padding|>, <|endoftext|>
    out.update(fields)
    return out
