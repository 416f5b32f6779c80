"""``lexkit train domain`` and ``lexkit train char`` options: the KL3M recipes.

`domain_options` and `char_options` attach each recipe's options to its subcommand; `recipe_fields` turns the
parsed values into `lexkit.vocab.DomainConfig` / `lexkit.vocab.CharConfig` fields.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from lexkit.errors import LexkitError

__all__ = ["domain_options", "char_options", "recipe_fields"]

F = TypeVar("F", bound=Callable[..., Any])


def _shared_options() -> list[Callable[[Any], Any]]:
    return [
        click.option("--uncased", is_flag=True, help="Lowercase text and terms (KL3M's uncased model)."),
        click.option("--no-padding", is_flag=True, help="Do not pad to a power of two."),
        click.option("--padding", type=click.Choice(("whitespace", "reserved")), default="whitespace",
                     help="Power-of-two filler: runs of spaces/newlines, or <|reserved_N|> specials."),
    ]


def _attach(func: F, options: list[Callable[[Any], Any]]) -> F:
    for option in reversed(options):
        func = option(func)
    return func


def domain_options(func: F) -> F:
    """Attach the options of ``lexkit train domain``: curated terms and padding."""
    from lexkit.vocab.kl3m import TERM_SETS

    return _attach(func, [
        click.option("--terms", "term_files", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
                     help="A term file to add (one term per line, UTF-8; '# ' comments; escapes \\s \\t "
                          "\\n \\r \\\\); repeatable."),
        click.option("--term-set", "term_sets", multiple=True, type=click.Choice(TERM_SETS),
                     help="Built-in term sets to add (repeatable; default: all)."),
        click.option("--no-term-sets", is_flag=True, help="Add no built-in term set (only --terms files)."),
        click.option("--no-space-variants", is_flag=True,
                     help="Do not add the ' term' variant of each term (KL3M adds none)."),
        click.option("--max-term-chars", type=click.IntRange(min=2), default=64,
                     help="Longest allowed term in characters."),
        *_shared_options(),
    ])


def char_options(func: F) -> F:
    """Attach the options of ``lexkit train char``: the token length cap and padding."""
    return _attach(func, [
        click.option("--max-chars", type=click.IntRange(min=2), default=None,
                     help="Longest learned token in byte-level symbols (default: KL3M's, 3 up to 8192 tokens, "
                          "else 4)."),
        click.option("--hf-length-rule", is_flag=True,
                     help="Train with HF's exclusive max_token_length = max-chars + 1 (KL3M's exact setting)."),
        *_shared_options(),
    ])


def recipe_fields(algorithm: str, shared: dict[str, Any], recipe: dict[str, Any]) -> dict[str, Any]:
    """The configuration fields of ``algorithm`` (``domain`` or ``char``) from the shared options and its own.

    The shared defaults that the recipes replace (normalizer ``none``, no special tokens) are dropped so the
    recipe's own defaults (NFKC, KL3M's 13 specials) apply.

    Raises:
        LexkitError: ``--no-term-sets`` together with ``--term-set``.
    """
    fields = dict(shared)
    if fields.get("normalizer") == "none":
        del fields["normalizer"]
    if not fields.get("special_tokens"):
        fields.pop("special_tokens", None)
    fields.update(cased=not recipe["uncased"], pad_to_power_of_two=not recipe["no_padding"],
                  padding=recipe["padding"])
    if algorithm == "domain":
        if recipe["no_term_sets"] and recipe["term_sets"]:
            raise LexkitError("--no-term-sets contradicts --term-set; pass one of them")
        if recipe["no_term_sets"]:
            fields["term_sets"] = ()
        elif recipe["term_sets"]:
            fields["term_sets"] = tuple(recipe["term_sets"])
        fields.update(term_files=tuple(str(path) for path in recipe["term_files"]),
                      space_variants=not recipe["no_space_variants"], max_term_chars=recipe["max_term_chars"])
    else:
        fields.update(max_chars=recipe["max_chars"], hf_length_rule=recipe["hf_length_rule"])
    return fields
