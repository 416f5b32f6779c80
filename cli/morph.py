"""``lexkit morph``: build morphological lexicons; the ``--lexicon`` options of ``lexkit train morph``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from lexkit.errors import LexkitError

__all__ = ["morph_options", "morph_fields", "morph", "build_lexicon"]

F = TypeVar("F", bound=Callable[..., Any])


def morph_options(func: F) -> F:
    """Attach the ``morph`` trainer's options to ``lexkit train morph``."""
    options = [
        click.option("--lexicon", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="The lexicon file (`lexkit morph build-lexicon`; format in lexkit.vocab.morph.lexicon)."),
        click.option("--root-share", type=click.FloatRange(0, 1, max_open=True), default=0.6,
                     help="At most this share of --vocab-size goes to roots."),
        click.option("--roots-only-at-word-start", is_flag=True,
                     help="Match roots only at word start (default: anywhere, as the released tokenizer)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def morph_fields(shared: dict[str, Any], values: dict[str, Any], output: Path) -> dict[str, Any]:
    """`MorphConfig`'s fields from the shared train options and the morph ones in ``values``.

    Raises:
        LexkitError: ``--lexicon`` is missing.
    """
    if values["lexicon"] is None:
        raise LexkitError("lexkit train morph needs --lexicon PATH; build one with `lexkit morph build-lexicon`")
    return {**shared, "lexicon": str(values["lexicon"]), "root_share": values["root_share"],
            "roots_only_at_word_start": values["roots_only_at_word_start"]}


@click.group()
def morph() -> None:
    """Morphological hybrid tokenizer: lexicon building (train with `lexkit train morph`)."""


@morph.command("build-lexicon")
@click.option("--dic", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="hunspell word list (tr_TR.dic from Debian hunspell-tr).")
@click.option("--aff", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="hunspell affix rules (tr_TR.aff).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Lexicon file to write (JSON, atomically).")
@click.option("--language", type=click.Choice(("tr",)), default="tr", help="Builder to use (other languages: "
              "write a lexicon file by hand, see lexkit.vocab.morph.lexicon).")
@click.option("--treebank", "treebanks", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CoNLL-U file whose lemmas the roots are checked against (repeatable).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Read only the first N dictionary entries.")
@click.option("--min-root-length", type=click.IntRange(min=1), default=2, help="Shortest root kept (characters).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def build_lexicon(dic: Path, aff: Path, output: Path, language: str, treebanks: tuple[Path, ...], limit: int | None,
                  min_root_length: int, as_json: bool) -> None:
    """Build a lexicon file (roots, altered root forms, affix allomorph classes, phonology) from hunspell."""
    from lexkit.formats.hunspell import Hunspell
    from lexkit.vocab.morph.turkish import build_turkish_lexicon, conllu_lemmas

    for path in treebanks:
        if not path.is_file():
            raise LexkitError(f"{path}: no such treebank file; pass CoNLL-U files to --treebank")
    start = time.perf_counter()
    hunspell = Hunspell(dic, aff, limit=limit)
    lemmas = [lemma for _, lemma in conllu_lemmas([str(path) for path in treebanks])]
    lexicon = build_turkish_lexicon(hunspell, min_root_length=min_root_length, treebank_lemmas=lemmas)
    lexicon.save(output)
    stats = dict(lexicon.extra.get("stats", {}))
    result = {"output": str(output), "language": language, "seconds": round(time.perf_counter() - start, 2), **stats}
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        click.echo(f"wrote {output}: {stats['roots']:,} roots ({stats['roots_with_variants']:,} with altered forms), "
                   f"{stats['affix_classes']} affix classes ({stats['affix_forms']} allomorphs) "
                   f"in {result['seconds']} s")
