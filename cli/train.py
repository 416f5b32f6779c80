"""``lexkit train ALGORITHM``: one subcommand per `lexkit.vocab.TRAINERS` entry, each with only its own options.

Every text subcommand takes the corpus (INPUTS), ``--vocab-size``, ``--output``, ``--min-frequency`` and the
reading options; trainers that count pre-tokens also take the counting options. Both are built once into a
`lexkit.corpus.CountConfig` here and passed down. An algorithm's own options come from `_OWN_OPTIONS`; a
trainer that reads code grids (visual-bpe) gets the grid command of `lexkit.cli.visual`.

The older flat form ``lexkit train --algorithm NAME ...`` (no ``--algorithm`` meant ``bpe``) still works:
`TrainGroup` rewrites it to ``lexkit train NAME ...``. An option of another algorithm fails with one line naming
the subcommands it belongs to.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from lexkit import LexkitError, Tokenizer
from lexkit.cli.bytespan import bytespan_fields, bytespan_options
from lexkit.cli.kl3m import char_options, domain_options, recipe_fields
from lexkit.cli.morph import morph_fields, morph_options
from lexkit.vocab import TRAINERS

__all__ = ["TrainGroup", "train"]

F = TypeVar("F", bound=Callable[..., Any])
PRE_TOKENIZERS = ("gpt2", "cl100k", "o200k", "whitespace", "metaspace", "none")
NORMALIZERS = ("none", "nfkc", "lowercase", "nfkc-lowercase")
_COUNTING = ("workers", "engine", "scheduler", "reduce_min_count")


def _apply(func: F, options: Sequence[Callable[[F], F]]) -> F:
    """``func`` with ``options`` attached, the first listed first in ``--help``."""
    for option in reversed(options):
        func = option(func)
    return func


def _reading_options(func: F) -> F:
    """The corpus reading options every text trainer takes."""
    return _apply(func, [
        click.option("--text-column", default="text", help="Column to read from HF datasets."),
        click.option("--utf8-errors", type=click.Choice(("error", "replace", "skip")), default="error",
                     help="What to do with invalid UTF-8 in the corpus."),
        click.option("--skip-binary", is_flag=True, help="Leave out files that look binary instead of stopping."),
    ])


def _counting_options(func: F) -> F:
    """Where pre-tokens are counted; the Dask details stay out of ``--help`` (``docs/scaling.md``)."""
    return _apply(func, [
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Counting processes (default: all cores)."),
        click.option("--engine", type=click.Choice(("local", "dask")), default="local",
                     help="Where pre-tokens are counted: a local process pool, or a Dask cluster (same counts; "
                          "its scheduler address and pruning options are in docs/scaling.md)."),
        click.option("--scheduler", default=None, metavar="ADDRESS", hidden=True,
                     help="dask: scheduler address tcp://HOST:PORT (default: start a local cluster of --workers)."),
        click.option("--reduce-min-count", type=click.IntRange(min=1), default=1, hidden=True,
                     help="dask: prune rarer pre-tokens while reducing counts (saves memory; approximate above 1)."),
    ])


def _pipeline_options(pre_tokenizers: Sequence[str] = PRE_TOKENIZERS, *, max_length: bool = True
                      ) -> list[Callable[[F], F]]:
    """Special tokens, pre-tokenizer, normalizer and (optionally) the longest token."""
    options: list[Callable[[F], F]] = [
        click.option("--special-token", "special_tokens", multiple=True, help="A special token (repeatable)."),
        click.option("--pre-tokenizer", type=click.Choice(pre_tokenizers), default="gpt2", help="Pre-tokenization."),
        click.option("--normalizer", type=click.Choice(NORMALIZERS), default="none", help="Normalization."),
    ]
    if max_length:
        options.append(click.option("--max-token-length", type=click.IntRange(min=1), default=None,
                                    help="Longest token (characters)."))
    return options


def _scaffold_fields(shared: dict[str, Any], own: dict[str, Any], output: Path) -> dict[str, Any]:
    return {**shared, "reactivate": not own["no_reactivation"]}


def _lbpe_fields(shared: dict[str, Any], own: dict[str, Any], output: Path) -> dict[str, Any]:
    return {**shared, "inference": own["lbpe_inference"]}


def _domain_fields(shared: dict[str, Any], own: dict[str, Any], output: Path) -> dict[str, Any]:
    return recipe_fields("domain", shared, own)


def _char_fields(shared: dict[str, Any], own: dict[str, Any], output: Path) -> dict[str, Any]:
    return recipe_fields("char", shared, own)


def _plain_fields(shared: dict[str, Any], own: dict[str, Any], output: Path) -> dict[str, Any]:
    return shared


Fields = Callable[[dict[str, Any], dict[str, Any], Path], dict[str, Any]]

Option = Callable[[Any], Any]

#: Algorithm -> (its own options and pipeline options, the configuration fields from shared + own values).
_OWN_OPTIONS: dict[str, tuple[list[Option], Fields]] = {
    "bpe": (_pipeline_options(), _plain_fields),
    "scaffold-bpe": (_pipeline_options() + [
        click.option("--no-reactivation", is_flag=True,
                     help="Mark scaffold tokens for good instead of re-activating them."),
    ], _scaffold_fields),
    "lbpe": (_pipeline_options() + [
        click.option("--lbpe-inference", type=click.Choice(("fewest-tokens", "longest-token", "longest-pair",
                                                             "long-first")), default="fewest-tokens",
                     help="Encoder: fewest tokens, ties to later tokens (measured default; no tokenizer.json); the "
                          "longest token anywhere; the longest adjacent pair; or merges re-ranked by length (plain "
                          "BPE file)."),
    ], _lbpe_fields),
    "domain": (_pipeline_options() + [domain_options], _domain_fields),
    "char": (_pipeline_options() + [char_options], _char_fields),
    "bytespan": (_pipeline_options(("gpt2", "cl100k", "o200k"), max_length=False) + [bytespan_options],
                 bytespan_fields),
    "morph": ([morph_options], morph_fields),
}


class TrainCommand(click.Command):
    """A ``lexkit train`` subcommand: an option of another algorithm fails with one line naming its owners."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            siblings = ctx.parent.command.commands if ctx.parent and isinstance(ctx.parent.command, click.Group) else {}
            owners = [name for name, command in siblings.items()
                      if any(exc.option_name in param.opts for param in command.params)]
            where = (f"it belongs to {', '.join(f'`lexkit train {name}`' for name in owners)}" if owners
                     else f"see `lexkit train {self.name} --help`")
            raise LexkitError(f"{exc.option_name} is not an option of `lexkit train {self.name}`; {where}") from None


def _summary(trainer_type: type[Any]) -> str:
    """The first line of a trainer's docstring, without reST markup."""
    line = (trainer_type.__doc__ or "").strip().splitlines()[0] if trainer_type.__doc__ else ""
    return re.sub(r"`+| \(see the module docstring\)", "", line)


def _text_command(algorithm: str, config_type: type[Any], trainer_type: type[Any]) -> click.Command:
    """The subcommand of a text trainer: shared options, reading (and counting) options, then its own."""
    own, fields = _OWN_OPTIONS.get(algorithm, ([], _plain_fields))
    counts = hasattr(trainer_type, "train_from_counts")

    def run(inputs: tuple[str, ...], vocab_size: int, output: Path, min_frequency: int, text_column: str,
            utf8_errors: Any, skip_binary: bool, no_progress: bool, as_json: bool, **values: Any) -> None:
        if not inputs:
            raise LexkitError("no INPUTS given: pass corpus files, folders, globs or hf:DATASET after the options")
        from lexkit.corpus import Corpus, CountConfig
        from lexkit.vocab import train as train_vocabulary

        counting_values = {name: values.pop(name) for name in _COUNTING if name in values}
        if counting_values.get("engine", "local") == "local" and (
            counting_values.get("scheduler") is not None or counting_values.get("reduce_min_count", 1) != 1
        ):
            raise LexkitError("--scheduler and --reduce-min-count go with --engine dask; add --engine dask")
        counting = CountConfig(text_column=text_column, errors=utf8_errors,
                               binary="skip" if skip_binary else "error", **counting_values)
        shared = {"vocab_size": vocab_size, "min_frequency": min_frequency}
        shared.update({name: values.pop(name) for name in
                       ("special_tokens", "pre_tokenizer", "normalizer", "max_token_length") if name in values})
        config = config_type(**fields(shared, values, output))
        start = time.perf_counter()
        bars = not no_progress and sys.stderr.isatty()  # bars on a terminal; in logs one line before, one after
        if not no_progress and not bars and not as_json:
            click.echo(f"lexkit: training {algorithm} ({vocab_size} tokens) on {', '.join(inputs)} ...", err=True)
        vocabulary = train_vocabulary(Corpus(*inputs), config, algorithm=algorithm, counting=counting, progress=bars)
        tokenizer = Tokenizer(vocabulary)
        tokenizer.save(output)
        written = sorted(p.name for p in output.iterdir() if p.name in ("lexkit.json", "tokenizer.json"))
        seconds = time.perf_counter() - start
        result = {"output": str(output), "algorithm": algorithm, "encoder": tokenizer.encoder_name,
                  "vocab_size": vocabulary.model_size, "scaffold_tokens": len(vocabulary) - vocabulary.model_size,
                  "merges": len(vocabulary.merges), "files": written, "seconds": round(seconds, 2)}
        scaffolds = f" (+{result['scaffold_tokens']} scaffold)" if result["scaffold_tokens"] else ""
        _emit(result, as_json, f"trained {algorithm}: {vocabulary.model_size} tokens{scaffolds}, "
                               f"{len(vocabulary.merges)} merges in {seconds:.1f}s -> {output} ({', '.join(written)})")

    shared_options = [
        click.argument("inputs", nargs=-1),
        click.option("-n", "--vocab-size", type=click.IntRange(min=1), required=True,
                     help="Target vocabulary size (embedding rows"
                          f"{'; scaffold tokens come on top' if algorithm == 'scaffold-bpe' else ''})."),
        click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
                     help="Output folder (lexkit.json + tokenizer.json where expressible), written atomically."),
        click.option("--min-frequency", type=click.IntRange(min=0), default=2, help="Stop when the best pair is rarer."),
        *own,
        _reading_options,
        *([_counting_options] if counts else []),
        click.option("--no-progress", is_flag=True, help="Hide progress bars."),
        click.option("--json", "as_json", is_flag=True, help="Print the result as JSON."),
    ]
    summary = _summary(trainer_type)
    return click.command(algorithm, cls=TrainCommand, help=f"{summary}\n\nINPUTS: files, globs, folders, or HF "
                         "datasets as `hf:NAME_OR_PATH`.", short_help=summary)(_apply(run, shared_options))


def _grid_command(algorithm: str) -> click.Command:
    """The subcommand of a code-grid trainer: the grid training command of `lexkit.cli.visual`, renamed."""
    from lexkit.cli.visual import visual_train

    summary = _summary(TRAINERS[algorithm][1])
    return TrainCommand(algorithm, params=list(visual_train.params), callback=visual_train.callback,
                        help=f"{summary}\n\n{visual_train.help}", short_help=summary)


def _emit(result: dict[str, Any], as_json: bool, line: str) -> None:
    import json

    click.echo(json.dumps(result, ensure_ascii=False, indent=2) if as_json else line)


def _flat_to_subcommand(args: list[str], names: Sequence[str]) -> list[str]:
    """``--algorithm NAME REST`` (the older flat form; no ``--algorithm`` means ``bpe``) as ``NAME REST``."""
    if not args or args[0] in names or args[0] in ("-h", "--help"):
        return args
    rest = list(args)
    algorithm = "bpe"
    for index, arg in enumerate(rest):
        if arg == "--":
            break
        if arg in ("-a", "--algorithm") and index + 1 < len(rest):
            algorithm = rest[index + 1]
            del rest[index:index + 2]
            break
        if arg.startswith("--algorithm="):
            algorithm = arg.split("=", 1)[1]
            del rest[index]
            break
    return [algorithm, *rest]


class TrainGroup(click.Group):
    """``lexkit train``: accepts the older ``lexkit train --algorithm NAME ...`` form as ``lexkit train NAME ...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _flat_to_subcommand(args, list(self.commands)))


@click.group(cls=TrainGroup)
def train() -> None:
    """Train a vocabulary: `lexkit train ALGORITHM [OPTIONS] INPUTS...` (`lexkit train ALGORITHM --help` lists
    that algorithm's options)."""


def _add_trainers(group: click.Group) -> None:
    """One subcommand per `TRAINERS` entry: text trainers read a corpus, the others (visual-bpe) code grids."""
    for name, (config_type, trainer_type) in TRAINERS.items():
        is_text = hasattr(trainer_type, "train_from_counts") or hasattr(trainer_type, "train_from_texts")
        group.add_command(_text_command(name, config_type, trainer_type) if is_text else _grid_command(name))


_add_trainers(train)
