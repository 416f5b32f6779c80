"""``lexkit train`` options of the KL3M recipes (``--algorithm domain`` and ``--algorithm char``).

The options are attached to the ``train`` command by `recipe_options`; `recipe_config_options` turns the parsed
values into `lexkit.vocab.DomainConfig` / `lexkit.vocab.CharConfig` fields.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from lexkit.errors import LexkitError

F = TypeVar("F", bound=Callable[..., Any])
RECIPES = ("domain", "char")
# The value of each recipe option when it is not given.
_DEFAULTS: dict[str, Any] = {
    "uncased": False, "term_files": (), "term_sets": (), "no_term_sets": False, "no_space_variants": False,
    "max_term_chars": 64, "max_chars": None, "hf_length_rule": False, "no_padding": False, "padding": "whitespace",
}


def recipe_options(func: F) -> F:
    """Attach the domain/char options (all prefixed in help by the recipe they belong to)."""
    from lexkit.vocab.kl3m import TERM_SETS

    options = [
        click.option("--uncased", is_flag=True, help="domain/char: lowercase text and terms (KL3M's uncased model)."),
        click.option("--terms", "term_files", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
                     help="domain: a term file to add (one term per line, UTF-8; '# ' comments; escapes \\s \\t "
                          "\\n \\r \\\\); repeatable."),
        click.option("--term-set", "term_sets", multiple=True, type=click.Choice(TERM_SETS),
                     help="domain: built-in term sets to add (repeatable; default: all)."),
        click.option("--no-term-sets", is_flag=True, help="domain: add no built-in term set (only --terms files)."),
        click.option("--no-space-variants", is_flag=True,
                     help="domain: do not add the ' term' variant of each term (KL3M adds none)."),
        click.option("--max-term-chars", type=click.IntRange(min=2), default=_DEFAULTS["max_term_chars"],
                     help="domain: longest allowed term in characters."),
        click.option("--max-chars", type=click.IntRange(min=2), default=None,
                     help="char: longest learned token in byte-level symbols (default: KL3M's, 3 up to 8192 "
                          "tokens, else 4)."),
        click.option("--hf-length-rule", is_flag=True,
                     help="char: train with HF's exclusive max_token_length = max-chars + 1 (KL3M's exact setting)."),
        click.option("--no-padding", is_flag=True, help="domain/char: do not pad to a power of two."),
        click.option("--padding", type=click.Choice(("whitespace", "reserved")), default="whitespace",
                     help="domain/char: power-of-two filler: runs of spaces/newlines, or <|reserved_N|> specials."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def recipe_config_options(algorithm: str, options: dict[str, Any], recipe: dict[str, Any]) -> dict[str, Any]:
    """The configuration fields for ``algorithm`` from the shared ``options`` and the recipe's CLI values.

    The shared defaults that the recipes replace (normalizer ``none``, no special tokens) are dropped so the
    recipe's own defaults (NFKC, KL3M's 13 specials) apply.

    Raises:
        LexkitError: a recipe option given to an algorithm that does not take it.
    """
    if algorithm not in RECIPES:
        used = [name for name, default in _DEFAULTS.items() if recipe.get(name, default) != default]
        if used:
            raise LexkitError(
                f"--{used[0].replace('_', '-')} belongs to --algorithm domain or char, not {algorithm}; "
                "drop it or pick one of those algorithms"
            )
        return options
    fields = dict(options)
    if fields.get("normalizer") == "none":
        del fields["normalizer"]
    if not fields.get("special_tokens"):
        fields.pop("special_tokens", None)
    fields.update(cased=not recipe["uncased"], pad_to_power_of_two=not recipe["no_padding"],
                  padding=recipe["padding"])
    if algorithm == "domain":
        if recipe["max_chars"] is not None or recipe["hf_length_rule"]:
            raise LexkitError("--max-chars and --hf-length-rule belong to --algorithm char; drop them for domain")
        if recipe["no_term_sets"] and recipe["term_sets"]:
            raise LexkitError("--no-term-sets contradicts --term-set; pass one of them")
        if recipe["no_term_sets"]:
            fields["term_sets"] = ()
        elif recipe["term_sets"]:
            fields["term_sets"] = tuple(recipe["term_sets"])
        fields.update(term_files=tuple(str(path) for path in recipe["term_files"]),
                      space_variants=not recipe["no_space_variants"], max_term_chars=recipe["max_term_chars"])
    else:
        if recipe["term_files"] or recipe["term_sets"] or recipe["no_term_sets"]:
            raise LexkitError("--terms/--term-set belong to --algorithm domain; the char recipe adds no terms")
        fields.update(max_chars=recipe["max_chars"], hf_length_rule=recipe["hf_length_rule"])
    return fields
