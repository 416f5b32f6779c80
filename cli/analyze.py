"""``lexkit analyze``: token-efficiency report for several tokenizers over several corpora."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lexkit.corpus import Corpus
from lexkit.errors import LexkitError

__all__ = ["analyze"]


@click.command()
@click.option("-t", "--tokenizer", "tokenizers", multiple=True, required=True,
              help="NAME=PATH, PATH, or tiktoken:ENCODING (repeatable).")
@click.option("-c", "--corpus", "corpora", multiple=True, required=True,
              help="NAME=PATH (file, folder or glob; streamed line by line; repeatable).")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Report folder: index.html, report.md, report.json, plots.")
@click.option("--max-bytes", type=click.IntRange(min=1), default=None,
              help="Read at most this many bytes of each corpus.")
@click.option("--gold", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Gold segmentations (word<TAB>morph morph ...) for morphological boundary F1.")
@click.option("--passages", type=click.IntRange(min=0), default=4,
              help="Sample passages per corpus in the report's token viewer (0: no viewer).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes that measure a corpus of text files (default: one per CPU core; 1: this process "
                   "only). The figures are the same for any number.")
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
@click.option("--json", "as_json", is_flag=True, help="Print the headline figures as JSON.")
def analyze(tokenizers: tuple[str, ...], corpora: tuple[str, ...], output: Path, max_bytes: int | None,
            gold: Path | None, passages: int, workers: int | None, no_progress: bool, as_json: bool) -> None:
    """Compare tokenizers on corpora: bytes/chars per token, fertility, Rényi efficiency, imbalance, digits."""
    from lexkit.analysis.report import analyze as run_analysis
    from lexkit.analysis.report import load_tokenizer, write_report
    from lexkit.analysis.sharding import TextFiles, default_workers
    from lexkit.cli._fixtures import use_fixture_tiktoken_cache

    use_fixture_tiktoken_cache()
    loaded = dict(load_tokenizer(spec) for spec in tokenizers)
    sources = {}
    for spec in corpora:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise LexkitError(f"--corpus {spec!r} must be NAME=PATH, e.g. --corpus prose=corpus.txt")
        sources[name] = TextFiles(Corpus(path), max_bytes)
    report = run_analysis(loaded, sources, progress=not no_progress, gold=gold, passages=passages,
                          workers=workers or default_workers())
    index = write_report(report, output)
    if as_json:
        click.echo(json.dumps([m.to_json() for m in report.metrics], indent=2, ensure_ascii=False))
    else:
        click.echo(f"report: {index} (also report.md, report.json)")

