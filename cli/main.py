"""The ``lexkit`` command: parses options, calls one library function, prints or writes the result.

Errors lexkit raises on purpose print as one line and exit with status 1 (``-v`` shows the traceback);
outputs are written atomically.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from lexkit import EncodingError, LexkitError, Tokenizer
from lexkit._version import __version__

__all__ = ["LexkitGroup", "main", "json_option", "encode", "decode", "convert", "inspect", "view", "demo"]

F = TypeVar("F", bound=Callable[..., Any])


class LexkitGroup(click.Group):
    """Turns lexkit's own errors into one-line messages with a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # The reader went away (`lexkit inspect x | head`): stop quietly, as cat or grep do. Point stdout at
            # /dev/null so the interpreter's final flush cannot raise again.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(141)  # 128 + SIGPIPE, the status shells report for a writer killed by a closed pipe
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
    data = sys.stdin.buffer.read()  # bytes: invalid UTF-8 is named by offset, not turned into lone surrogates
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LexkitError(f"standard input: invalid UTF-8 at byte {exc.start} (0x{data[exc.start]:02x}); convert "
                          "it to UTF-8 first (e.g. iconv -f LATIN1 -t UTF-8)") from None


@main.command()
@click.option("-t", "--tokenizer", "tokenizer_path", required=True, type=click.Path(path_type=Path),
              help="lexkit.json, tokenizer.json, .model or .tiktoken (or a folder).")
@click.argument("text", required=False)
@click.option("-i", "--input", "input_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Read the text from a file (default: TEXT or standard input); streamed in blocks with the ids "
                   "of the whole text, in bounded memory, with a progress bar on a terminal (--json reads it whole).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the ids to this file (atomically) instead of standard output.")
@click.option("--encoder", default=None, help="Encoder name (default: the vocabulary's).")
@click.option("--allow-special", is_flag=True, help="Encode special-token text as special tokens.")
@click.option("--disallowed-special", type=click.Choice(["all", "none"]), default="all", show_default=True,
              help="Special-token text that is an error (the API's disallowed_special): 'all' stops at text such "
                   "as <s> or <|endoftext|>; 'none' encodes it as ordinary text (disallowed_special=()), e.g. a "
                   "corpus that mentions <s>. --allow-special wins over both.")
@click.option("--codes", type=click.Path(path_type=Path), default=None,
              help="Encode the code grids of this .npy with a visual-bpe vocabulary (one line per grid).")
@click.option("--color", is_flag=True, help="Print the text with token boundaries in alternating colours instead.")
@json_option
@click.pass_context
def encode(ctx: click.Context, tokenizer_path: Path, text: str | None, input_file: Path | None,
           output: Path | None, encoder: str | None, allow_special: bool, disallowed_special: str,
           codes: Path | None, color: bool, as_json: bool) -> None:
    """Print the token ids of TEXT (or of code grids with --codes).

    Output: the ids as decimal numbers separated by single spaces on one line, then a newline (an empty text
    gives an empty line); with --json, an object with "ids" and "tokens".
    """
    if codes is not None:
        from lexkit.cli.visual import visual_encode

        ctx.invoke(visual_encode, codes=codes, tokenizer=tokenizer_path, as_json=as_json)
        return
    tokenizer = Tokenizer.load(tokenizer_path, encoder=encoder)
    if color:
        from lexkit.analysis.viewer import color_tokens

        click.echo(color_tokens(tokenizer, _read_text(text, input_file)), color=True)
        return
    allowed: Any = "all" if allow_special else frozenset()
    disallowed: Any = "all" if disallowed_special == "all" else ()
    try:
        if input_file is not None and not as_json:
            _encode_file(tokenizer, input_file, allowed, disallowed, output)
            return
        ids = tokenizer.encode(_read_text(text, input_file), allowed_special=allowed, disallowed_special=disallowed)
    except EncodingError as exc:
        if "special token" not in str(exc):
            raise
        raise EncodingError(f"{exc} (here: --allow-special, or --disallowed-special none)") from None
    if as_json:
        result = json.dumps({"ids": ids, "tokens": [tokenizer.token_to_bytes(i).decode("utf-8", "replace")
                                                     for i in ids]}, ensure_ascii=False) + "\n"
    else:
        result = " ".join(map(str, ids)) + "\n"
    if output is None:
        click.echo(result, nl=False)
    else:
        from lexkit.atomic import atomic_write_text

        atomic_write_text(output, result)


def _encode_file(tokenizer: Tokenizer, path: Path, allowed: Any, disallowed: Any, output: Path | None) -> None:
    """Stream the ids of a file (`lexkit.stream.encode_file`) to ``output`` (atomically) or standard output."""
    import contextlib

    from tqdm import tqdm

    from lexkit.atomic import atomic_writer
    from lexkit.stream import encode_file, format_ids

    with contextlib.ExitStack() as stack:
        sink = (stack.enter_context(atomic_writer(output)) if output is not None
                else sys.stdout.buffer)
        bar = stack.enter_context(tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc="encode",
                                       disable=None, file=sys.stderr))
        separator = b""
        for ids in encode_file(tokenizer, path, allowed_special=allowed, disallowed_special=disallowed,
                               progress=bar.update):
            if len(ids):
                sink.write(separator + format_ids(ids))
                separator = b" "
        sink.write(b"\n")
        sink.flush()


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
@click.option("-t", "--tokenizer", "tokenizers", multiple=True, required=True,
              help="NAME=PATH, PATH, or tiktoken:ENCODING (repeatable; shown side by side in this order).")
@click.argument("text", required=False)
@click.option("-i", "--input", "input_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Show this file's text (default: TEXT, else English, code, Turkish and number samples).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The HTML page to write (self-contained: no network, no CDN).")
@click.option("--open", "open_page", is_flag=True, help="Open the page in the default browser.")
@click.option("--live-budget-mb", type=click.FloatRange(min=0), default=16.0,
              help="Encoder tables the page may embed for its typing box; tokenizers past it are shown "
                   "on the samples only.")
@click.option("--codes", type=click.Path(exists=True, path_type=Path),
              help="Visual tokenizers: sample code grids (.npy of N x H x W, or a folder); the first 4 are drawn.")
def view(tokenizers: tuple[str, ...], text: str | None, input_file: Path | None, output: Path, open_page: bool,
         live_budget_mb: float, codes: Path | None) -> None:
    """Write a token viewer page: TEXT (or a file, or built-in samples) cut by each tokenizer side by side."""
    from lexkit.analysis.report import load_tokenizer
    from lexkit.analysis.viewer import Passage, build_viewer, render_page
    from lexkit.analysis.viewer_passages import MAX_VIEW_BYTES, default_passages
    from lexkit.atomic import atomic_write_text
    from lexkit.cli._fixtures import use_fixture_tiktoken_cache

    use_fixture_tiktoken_cache()
    loaded = dict(load_tokenizer(spec) for spec in tokenizers)
    if input_file is not None or text is not None:
        body = _read_text(text, input_file)
        if len(body.encode("utf-8")) > MAX_VIEW_BYTES:
            source = input_file or "TEXT"
            raise LexkitError(f"{source}: the viewer shows at most {MAX_VIEW_BYTES:,} bytes; pass an excerpt "
                              f"(e.g. head -c {MAX_VIEW_BYTES} FILE > part.txt)")
        passages = [Passage(input_file.name if input_file else "your text", body)]
    else:
        passages = default_passages()
    grids = {}
    if codes is not None:
        from lexkit.grids import load_codes

        grids = {name: load_codes(codes)[:4] for name, tok in loaded.items() if tok.encoder_name == "visual"}
    data = build_viewer(loaded, passages, live_budget=int(live_budget_mb * 1e6), grids=grids)
    atomic_write_text(output, render_page(data, title="lexkit token viewer: " + ", ".join(loaded)))
    runnable = [t["name"] for t in data.tokenizers if t["live"]]
    click.echo(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB; typing box runs "
               f"{', '.join(runnable) or 'none'})")
    if open_page:
        import webbrowser

        webbrowser.open(output.resolve().as_uri())


@main.command()
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-out"),
              help="Where the trained tokenizer and the summary go.")
@click.option("-n", "--vocab-size", type=click.IntRange(min=300), default=8000, help="Vocabulary size to train.")
@json_option
def demo(output: Path, vocab_size: int, as_json: bool) -> None:
    """Train BPE on the embedded corpus and compare its efficiency with GPT-2 and o200k when available."""
    from lexkit.cli.demo import run_demo

    report = run_demo(output, vocab_size=vocab_size, echo=click.echo if not as_json else None)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))


def _register() -> None:
    """Attach the commands that live in their own modules."""
    from lexkit.cli.adapt import adapt_command
    from lexkit.cli.analyze import analyze
    from lexkit.cli.heal import heal
    from lexkit.cli.hypernet import hypernet
    from lexkit.cli.morph import morph
    from lexkit.cli.sample import sample
    from lexkit.cli.sticky import sticky
    from lexkit.cli.train import train
    from lexkit.cli.transfer import evaluate, transplant
    from lexkit.cli.visual import visual_analyze

    for command in (adapt_command, analyze, evaluate, heal, hypernet, morph, sample, sticky, train, transplant,
                    visual_analyze):
        main.add_command(command)


_register()
