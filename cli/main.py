"""The ``lexkit`` command: parses options, calls one library function, prints or writes the result.

Errors lexkit raises on purpose print as one line and exit with status 1 (``-v`` shows the traceback);
outputs are written atomically.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from lexkit import LexkitError, Tokenizer
from lexkit._version import __version__

F = TypeVar("F", bound=Callable[..., Any])
ALGORITHMS = ("bpe",)
PRE_TOKENIZERS = ("gpt2", "cl100k", "o200k", "whitespace", "metaspace", "none")
NORMALIZERS = ("none", "nfkc", "lowercase", "nfkc-lowercase")


class LexkitGroup(click.Group):
    """Turns lexkit's own errors into one-line messages with a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (LexkitError, OSError) as exc:
            if ctx.obj and ctx.obj.get("verbose"):
                raise
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            click.echo(f"lexkit: error: {message}", err=True)
            sys.exit(1)


@click.group(cls=LexkitGroup, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="lexkit")
@click.option("-v", "--verbose", is_flag=True, help="Show debug logs and full tracebacks.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """lexkit: train, convert, inspect and analyse tokenizers."""
    ctx.obj = {"verbose": verbose}
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="lexkit: %(message)s")


def _emit(result: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        for line in lines:
            click.echo(line)


def json_option(func: F) -> F:
    """``--json``: print a machine-readable result instead of text."""
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")(func)


# --------------------------------------------------------------------------------------------------------------
@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-a", "--algorithm", type=click.Choice(ALGORITHMS), default="bpe", help="Training algorithm.")
@click.option("-n", "--vocab-size", type=click.IntRange(min=1), required=True, help="Target vocabulary size.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder (lexkit.json + tokenizer.json), written atomically.")
@click.option("--min-frequency", type=click.IntRange(min=0), default=2, help="Stop when the best pair is rarer.")
@click.option("--special-token", "special_tokens", multiple=True, help="A special token (repeatable).")
@click.option("--pre-tokenizer", type=click.Choice(PRE_TOKENIZERS), default="gpt2", help="Pre-tokenization.")
@click.option("--normalizer", type=click.Choice(NORMALIZERS), default="none", help="Normalization.")
@click.option("--max-token-length", type=click.IntRange(min=1), default=None, help="Longest token (characters).")
@click.option("--text-column", default="text", help="Column to read from HF datasets.")
@click.option("--utf8-errors", type=click.Choice(("error", "replace", "skip")), default="error",
              help="What to do with invalid UTF-8 in the corpus.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Counting processes (default: all cores).")
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
@json_option
def train(inputs: tuple[str, ...], algorithm: str, vocab_size: int, output: Path, min_frequency: int,
          special_tokens: tuple[str, ...], pre_tokenizer: str, normalizer: str, max_token_length: int | None,
          text_column: str, utf8_errors: str, workers: int | None, no_progress: bool, as_json: bool) -> None:
    """Train a vocabulary on INPUTS (files, globs, folders, or HF datasets as `hf:NAME_OR_PATH`)."""
    from lexkit.vocab import BPEConfig
    from lexkit.vocab import train as train_vocabulary

    from lexkit.corpus import Corpus

    config = BPEConfig(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=special_tokens,
        pre_tokenizer=pre_tokenizer, normalizer=normalizer, max_token_length=max_token_length,
    )
    start = time.perf_counter()
    vocabulary = train_vocabulary(
        Corpus(*inputs), config, algorithm=algorithm, text_column=text_column, errors=utf8_errors,
        workers=workers, progress=not no_progress,
    )
    Tokenizer(vocabulary).save(output)
    seconds = time.perf_counter() - start
    result = {"output": str(output), "vocab_size": len(vocabulary), "merges": len(vocabulary.merges),
              "seconds": round(seconds, 2)}
    _emit(result, as_json, [f"trained {algorithm}: {len(vocabulary)} tokens, {len(vocabulary.merges)} merges "
                            f"in {seconds:.1f}s -> {output}"])


# --------------------------------------------------------------------------------------------------------------
def _read_text(text: str | None, input_file: Path | None) -> str:
    if input_file is not None:
        data = input_file.read_bytes()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LexkitError(
                f"{input_file}: invalid UTF-8 at byte {exc.start}; convert the file to UTF-8 first"
            ) from None
    if text is not None:
        return text
    return sys.stdin.read()


@main.command()
@click.option("-t", "--tokenizer", "tokenizer_path", required=True, type=click.Path(path_type=Path),
              help="lexkit.json, tokenizer.json, .model or .tiktoken (or a folder).")
@click.argument("text", required=False)
@click.option("-i", "--input", "input_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Read the text from a file (default: TEXT or standard input).")
@click.option("--encoder", default=None, help="Encoder name (default: the vocabulary's).")
@click.option("--allow-special", is_flag=True, help="Encode special-token text as special tokens.")
@json_option
def encode(tokenizer_path: Path, text: str | None, input_file: Path | None, encoder: str | None,
           allow_special: bool, as_json: bool) -> None:
    """Print the token ids of TEXT."""
    tokenizer = Tokenizer.load(tokenizer_path, encoder=encoder)
    ids = tokenizer.encode(_read_text(text, input_file), allowed_special="all" if allow_special else frozenset())
    if as_json:
        click.echo(json.dumps({"ids": ids, "tokens": [tokenizer.token_to_bytes(i).decode("utf-8", "replace")
                                                       for i in ids]}, ensure_ascii=False))
    else:
        click.echo(" ".join(map(str, ids)))


@main.command()
@click.option("-t", "--tokenizer", "tokenizer_path", required=True, type=click.Path(path_type=Path),
              help="lexkit.json, tokenizer.json, .model or .tiktoken (or a folder).")
@click.argument("ids", nargs=-1)
@click.option("--skip-special", is_flag=True, help="Leave special tokens out.")
def decode(tokenizer_path: Path, ids: tuple[str, ...], skip_special: bool) -> None:
    """Print the text of token IDS (arguments, or whitespace-separated on standard input)."""
    tokenizer = Tokenizer.load(tokenizer_path)
    words = list(ids) or sys.stdin.read().split()
    try:
        numbers = [int(w) for w in words]
    except ValueError:
        raise LexkitError(f"token ids must be integers; got {words[:5]}") from None
    sys.stdout.write(tokenizer.decode(numbers, skip_special_tokens=skip_special))
    sys.stdout.write("\n")


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="File or folder to write.")
@click.option("--to", "target", type=click.Choice(("hf", "tiktoken", "lexkit")), required=True,
              help="Output format.")
@click.option("--allow-lossy", is_flag=True, help="Export even if the format drops information.")
def convert(source: Path, output: Path, target: str, allow_lossy: bool) -> None:
    """Convert a tokenizer file between formats."""
    from lexkit.formats import load_vocabulary, native
    from lexkit.formats.hf import save_hf

    vocabulary = load_vocabulary(source)
    if target == "hf":
        path = save_hf(vocabulary, output if output.suffix else output / "tokenizer.json", allow_lossy=allow_lossy)
    elif target == "tiktoken":
        from lexkit.formats.tiktoken import to_tiktoken

        path = output if output.suffix else output / "vocab.tiktoken"
        to_tiktoken(vocabulary, path, allow_lossy=allow_lossy)
    else:
        path = native.save(vocabulary, output)
    click.echo(f"wrote {path}")


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--top", type=click.IntRange(min=0), default=10, help="How many longest tokens and merges to list.")
@json_option
def inspect(source: Path, top: int, as_json: bool) -> None:
    """Summarise a vocabulary: size, kinds, longest tokens, merges, pipeline."""
    from lexkit.analysis.summary import describe

    summary = describe(Tokenizer.load(source).vocabulary, top=top)
    _emit(summary.to_json(), as_json, summary.lines())


@main.command()
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-out"),
              help="Where the trained tokenizer and the summary go.")
@click.option("-n", "--vocab-size", type=click.IntRange(min=300), default=8000, help="Vocabulary size to train.")
@json_option
def demo(output: Path, vocab_size: int, as_json: bool) -> None:
    """Train BPE on the embedded corpus and compare its efficiency with GPT-2 and o200k when available."""
    from lexkit.analysis.demo import run_demo

    report = run_demo(output, vocab_size=vocab_size, echo=click.echo if not as_json else None)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))


def _register() -> None:
    """Attach the commands that live in their own modules."""
    from lexkit.cli.analyze import analyze

    main.add_command(analyze)


_register()
