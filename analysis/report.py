"""Analysis reports: compute metrics for many tokenizers over many corpora, render HTML, Markdown and JSON.

Computing returns an `AnalysisReport` (plain data); rendering is separate. Plots (token-length histogram,
rank-frequency on log-log with the Zipf fit, per-corpus bars) are drawn with matplotlib, imported only when a
report is rendered, and embedded in ``index.html`` as PNG so the folder is self-contained. ``index.html`` also
holds the token viewer (`lexkit.analysis.viewer`) on passages picked from each corpus.
"""

from __future__ import annotations

import base64
import html
import io
import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lexkit.analysis.metrics import (
    BATCH_TEXTS,
    CorpusMetrics,
    digit_grouping,
    encoder_segments,
    measure_corpora,
    morph_boundary_f1,
    percent_fewer_tokens,
    prepare_segments,
    segment_differences,
    summarize,
    zipf_fit,
)
from lexkit.analysis.sharding import TextFiles, fork_available
from lexkit.analysis.viewer import ViewerData, build_viewer, render_fragment
from lexkit.analysis.viewer_passages import pick_passages
from lexkit.analysis.workers import measure_shards, start_workers, submit_segments
from lexkit.atomic import atomic_directory, atomic_write_bytes, atomic_write_text
from lexkit.encoders import encoders_for
from lexkit.errors import LexkitError
from lexkit.tokenizer import Tokenizer

__all__ = [
    "HEADLINE", "AnalysisReport", "load_tokenizer", "analyze", "render_markdown", "render_html",
    "write_report",
]

HEADLINE = "bytes_per_token"


@dataclass
class AnalysisReport:
    """Every figure of one analysis run."""

    metrics: list[CorpusMetrics]
    digits: dict[str, dict[str, Any]]
    length_histograms: dict[str, list[int]]  # tokenizer -> vocabulary token counts by length in bytes (0..32+)
    rank_frequency: dict[str, list[int]]  # tokenizer -> sorted non-zero counts over all corpora (top 20,000)
    extra: dict[str, Any] = field(default_factory=dict)
    viewer: ViewerData | None = None  # the token viewer (HTML only: its encoder tables stay out of report.json)
    images: dict[str, bytes] | None = None  # the plot PNGs, once drawn (`analyze` draws them while probes run)

    @property
    def tokenizers(self) -> list[str]:
        """Tokenizer names in the order given."""
        return list(dict.fromkeys(m.tokenizer for m in self.metrics))

    @property
    def corpora(self) -> list[str]:
        """Corpus names in the order given."""
        return list(dict.fromkeys(m.corpus for m in self.metrics))

    def get(self, tokenizer: str, corpus: str) -> CorpusMetrics:
        """The metrics of one pair."""
        return next(m for m in self.metrics if m.tokenizer == tokenizer and m.corpus == corpus)

    def comparison(self) -> dict[str, dict[str, float]]:
        """Cross-tokenizer comparison: % fewer tokens than each other tokenizer, summed over all corpora."""
        totals = {t: sum(m.tokens for m in self.metrics if m.tokenizer == t) for t in self.tokenizers}
        return {a: {b: round(percent_fewer_tokens(totals[a], totals[b]), 2) for b in self.tokenizers if b != a}
                for a in self.tokenizers}

    def to_json(self) -> dict[str, Any]:
        """The whole report as JSON-ready data."""
        return {"metrics": [m.to_json() for m in self.metrics], "digits": self.digits,
                "comparison_percent_fewer_tokens": self.comparison(),
                "length_histograms": self.length_histograms,
                "zipf": {t: vars(zipf_fit(np.array(c))) for t, c in self.rank_frequency.items()},
                **({"viewer_passages": [
                    {"label": p["label"], "tokens": {t["name"]: len(r["tokens"]) for t, r in
                                                     zip(self.viewer.tokenizers, p["runs"])}}
                    for p in self.viewer.passages]} if self.viewer else {}), **self.extra}


def load_tokenizer(spec: str) -> tuple[str, Tokenizer]:
    """``NAME=PATH``, ``PATH`` or ``tiktoken:ENCODING`` (e.g. ``tiktoken:o200k_base``) -> (name, tokenizer).

    ``tiktoken:`` specs load through tiktoken, which finds its cached ranks by its own rules (``TIKTOKEN_CACHE_DIR``;
    the CLI points it at the developer fixture cache when there is one).

    Raises:
        LexkitError: the file or encoding cannot be loaded.
    """
    name, _, target = spec.rpartition("=") if "=" in spec else ("", "", spec)
    if target.startswith("tiktoken:"):
        encoding_name = target.split(":", 1)[1]
        import tiktoken

        from lexkit.formats.tiktoken import from_tiktoken

        try:
            encoding = tiktoken.get_encoding(encoding_name)
        except Exception as exc:  # noqa: BLE001 - tiktoken raises many kinds for a missing cache
            raise LexkitError(
                f"tiktoken encoding {encoding_name!r} could not be loaded ({type(exc).__name__}); set "
                "TIKTOKEN_CACHE_DIR to a folder holding its ranks (make fixtures puts them in cache/fixtures/tiktoken)"
            ) from None
        return name or encoding_name, Tokenizer(from_tiktoken(encoding))
    path = Path(target)
    default = path.parent.name if path.name in ("tokenizer.json", "lexkit.json", "tokenizer.model") else path.stem
    return name or default, Tokenizer.load(path)


def analyze(
    tokenizers: Mapping[str, Tokenizer],
    corpora: Mapping[str, Callable[[], Iterable[str]]],
    *,
    batch_size: int = BATCH_TEXTS,
    progress: bool = True,
    gold: Path | None = None,
    probe_words: int = 5000,
    passages: int = 4,
    live_budget: int | None = None,
    workers: int = 1,
) -> AnalysisReport:
    """Measure every tokenizer on every corpus (each corpus streamed once per tokenizer).

    Args:
        tokenizers: name -> tokenizer.
        corpora: name -> a function returning a fresh iterator of text items (lines or documents); a
            `lexkit.analysis.sharding.TextFiles` of text files is measured in ``workers`` processes.
        batch_size: texts per encode call at most (see `lexkit.analysis.metrics.measure_corpora`).
        progress: report each pass on stderr: a bar on a terminal, one plain line per pass otherwise (logs).
        gold: a gold segmentation file (``word<TAB>morph morph ...``) for morphological boundary F1.
        probe_words: distinct words of the first corpus used to compare inference methods on one vocabulary.
        passages: sample passages per corpus for the token viewer (0: no viewer).
        live_budget: bytes of in-page encoder tables the viewer may embed (default: the viewer's).
        workers: processes that measure a `TextFiles` corpus (1: this process; the counts are the same).
    """
    from tqdm.auto import tqdm

    metrics: list[CorpusMetrics] = []
    totals: dict[str, np.ndarray] = {}
    bars = progress and sys.stderr.isatty()
    words = _distinct_words(next(iter(corpora.values()))(), probe_words) if corpora else []
    # Build every engine now, so the passes below time only the streaming: each in its own thread (fastokens
    # parses a tokenizer.json without the GIL, 2-4 s for o200k), while this thread builds the other encoders and
    # the HF engines the inference-method probes run (`prepare_segments`; o200k's long-first: 3-4 s).
    # subtle: the threads are joined before any fork below (a forked child gets only the forking thread).
    with ThreadPoolExecutor(max_workers=max(len(tokenizers), 1), thread_name_prefix="lexkit-engine") as threads:
        engines = [threads.submit(tok.encode_batch_flat, ["\n"], disallowed_special=())
                   for tok in tokenizers.values()]
        usable = {name: _usable_encoders(tok) for name, tok in tokenizers.items()} if words else {}
        probes = {name: list(built) for name, built in usable.items() if len(built) > 1}
        for name, encoders in probes.items():
            for encoder in encoders:
                prepare_segments(tokenizers[name], encoder, built=usable[name])
        for engine in engines:
            engine.result()
    parallel = workers > 1 and fork_available()
    shards = {name: open_corpus.shards() for name, open_corpus in corpora.items()
              if parallel and isinstance(open_corpus, TextFiles)}
    most = max((len(parts or ()) for parts in shards.values()), default=0)
    # subtle: the pool forks before tqdm starts its monitor thread (forking a threaded process can deadlock).
    pool = start_workers(tokenizers, workers, built=usable) if parallel and (most > 1 or probes) else None
    try:
        for corpus_name, open_corpus in corpora.items():
            # One pass per corpus: each batch is read and counted once and encoded by every tokenizer.
            start = time.perf_counter()
            parts = shards.get(corpus_name)
            with tqdm(desc=f"{len(tokenizers)} tokenizer(s) on {corpus_name}", unit="B", unit_scale=True,
                      total=sum(s.end - s.start for s in parts) if parts else None, disable=not bars,
                      leave=False) as bar:
                if pool is not None and parts:
                    measured = measure_shards(pool, tokenizers, parts, progress=bar.update)
                else:
                    measured = measure_corpora(tokenizers, open_corpus(), batch_size=batch_size,
                                               progress=bar.update)
            for tokenizer_name, counts in measured.items():
                if progress and not bars:
                    print(f"lexkit: measured {tokenizer_name} on {corpus_name}: {counts.bytes / 1e6:.2f} MB, "
                          f"{counts.tokens:,} tokens in {time.perf_counter() - start:.1f}s (one pass for all "
                          "tokenizers)", file=sys.stderr, flush=True)
                metrics.append(summarize(tokenizer_name, corpus_name, tokenizers[tokenizer_name], counts))
                running = totals.setdefault(tokenizer_name, np.zeros_like(counts.counts))
                running += counts.counts
        # the probes after the corpora (beside them, they slowed the streaming): spread over the workers, while
        # this process counts the rest
        pending = {name: {encoder: submit_segments(pool, name, encoder, words) for encoder in encoders}
                   for name, encoders in probes.items()} if pool is not None else {}
        histograms = {}
        for name, tokenizer in tokenizers.items():
            lengths = np.array([min(len(t.content), 32) for t in tokenizer.vocabulary.tokens], dtype=np.int64)
            histograms[name] = np.bincount(lengths, minlength=33).tolist()
        report = AnalysisReport(
            metrics=metrics,
            digits={name: digit_grouping(tok) for name, tok in tokenizers.items()},
            length_histograms=histograms,
            rank_frequency={n: np.sort(c[c > 0])[::-1][:20000].tolist() for n, c in totals.items()},
        )
        if pending:  # subtle: the workers run the probes meanwhile; the plots read nothing they add
            report.images = _plots(report)
        methods = {name: segment_differences({
            encoder: pending[name][encoder].get() if pending else
            encoder_segments(tokenizers[name], encoder, words, built=usable[name]) for encoder in encoders})
            for name, encoders in probes.items()}
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    if methods:
        report.extra["inference_methods"] = methods
    if gold is not None:
        report.extra["morph_alignment"] = {name: morph_boundary_f1(tok, gold) for name, tok in tokenizers.items()}
    if passages:
        samples = [p for name, open_corpus in corpora.items() for p in pick_passages(name, open_corpus(),
                                                                                       limit=passages)]
        budget = {} if live_budget is None else {"live_budget": live_budget}
        report.viewer = build_viewer(tokenizers, samples, **budget)
    return report


def _usable_encoders(tokenizer: Tokenizer) -> dict[str, Tokenizer]:
    """The tokenizer's own encoder first, then every other registered encoder that accepts its vocabulary, built.

    Encoders that run the same ``tokenizer.json`` as the tokenizer's own (``scaffold`` beside ``bpe``: it only
    rewrites scaffold ids afterwards) share its engine instead of building another one.
    """
    usable = {tokenizer.encoder_name: tokenizer}
    for name in encoders_for(tokenizer.vocabulary):
        if name in usable:
            continue
        try:
            other = Tokenizer(tokenizer.vocabulary, encoder=name)
        except LexkitError:
            continue
        usable[name] = other
    return usable


def _distinct_words(texts: Iterable[str], limit: int) -> list[str]:
    """The first ``limit`` distinct whitespace-separated words of a corpus, in order of appearance."""
    seen: dict[str, None] = {}
    for text in texts:
        for word in text.split():
            seen.setdefault(word, None)
            if len(seen) >= limit:
                return list(seen)
    return list(seen)


# ---------------------------------------------------------------------------------------------------------------
# rendering
def _plots(report: AnalysisReport) -> dict[str, bytes]:
    """The plot PNGs: drawn on matplotlib's Agg canvas without pyplot (no global figure state to import and close)."""
    if report.images is not None:
        return report.images
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    images: dict[str, bytes] = {}

    def figure() -> tuple[Any, Any]:
        fig = Figure(figsize=(7, 3.6))
        FigureCanvasAgg(fig)
        return fig, fig.subplots()

    def save(name: str, fig: Any) -> None:
        buffer = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buffer, format="png", dpi=110)
        images[name] = buffer.getvalue()

    fig, ax = figure()
    for name, hist in report.length_histograms.items():
        counts = np.array(hist, dtype=np.float64)
        ax.step(np.arange(len(counts)), counts / max(counts.sum(), 1), where="mid", label=name)
    ax.set(xlabel="token length (bytes; 32 = 32 or more)", ylabel="share of vocabulary",
           title="Token-length distribution")
    ax.legend(fontsize=7)
    save("token_lengths.png", fig)

    fig, ax = figure()
    for name, freqs in report.rank_frequency.items():
        if not freqs:
            continue
        fit = zipf_fit(np.array(freqs))
        ax.loglog(np.arange(1, len(freqs) + 1), freqs, label=f"{name} (Zipf s={fit.exponent:.2f})", lw=1)
    ax.set(xlabel="rank", ylabel="frequency", title="Rank-frequency (log-log) with Zipf exponent")
    ax.legend(fontsize=7)
    save("rank_frequency.png", fig)

    fig, ax = figure()
    width = 0.8 / max(len(report.tokenizers), 1)
    for i, name in enumerate(report.tokenizers):
        values = [report.get(name, c).bytes_per_token for c in report.corpora]
        ax.bar(np.arange(len(report.corpora)) + i * width, values, width, label=name)
    ax.set_xticks(np.arange(len(report.corpora)) + width * (len(report.tokenizers) - 1) / 2, report.corpora)
    ax.set(ylabel="bytes per token (higher = fewer tokens)", title="Compression per corpus")
    ax.legend(fontsize=7)
    save("bytes_per_token.png", fig)
    return images


_COLUMNS = [("tokens", "tokens", "{:,}"), ("bytes_per_token", "bytes/token", "{:.3f}"),
            ("chars_per_token", "chars/token", "{:.3f}"), ("fertility", "tokens/word", "{:.3f}"),
            ("renyi_efficiency", "Rényi eff. (α=2.5)", "{:.3f}"), ("utilisation", "vocab used", "{:.1%}"),
            ("gini", "Gini", "{:.3f}"), ("rarer_half_share", "rarer half's share", "{:.1%}"),
            ("mean_token_bytes", "mean token bytes", "{:.2f}"), ("zipf_exponent", "Zipf s", "{:.2f}")]


def _headline_rows(report: AnalysisReport) -> list[list[str]]:
    rows = [["tokenizer", "vocab", *(f"{c} bytes/token" for c in report.corpora)]]
    for name in report.tokenizers:
        first = report.get(name, report.corpora[0])
        rows.append([name, f"{first.vocab_size:,}",
                     *(f"{report.get(name, c).bytes_per_token:.3f}" for c in report.corpora)])
    return rows


def _corpus_rows(report: AnalysisReport, corpus: str) -> list[list[str]]:
    rows = [["tokenizer", *(label for _, label, _ in _COLUMNS)]]
    for name in report.tokenizers:
        m = report.get(name, corpus)
        rows.append([name, *(fmt.format(getattr(m, key)) for key, _, fmt in _COLUMNS)])
    return rows


def _extra_tables(report: AnalysisReport) -> list[tuple[str, list[list[str]]]]:
    """Inference-method comparison and morphological alignment, when computed."""
    tables = []
    for name, methods in report.extra.get("inference_methods", {}).items():
        first = next(iter(methods))
        rows = [["encoder", "tokens/word", f"words segmented differently from {first}"]]
        rows += [[m, f"{v['tokens_per_word']:.3f}", f"{v['differs_from_' + first]:.1%}"] for m, v in methods.items()]
        tables.append((f"Inference methods on {name}'s vocabulary", rows))
    morph = report.extra.get("morph_alignment")
    if morph:
        rows = [["tokenizer", "boundary F1", "words", "tp", "fp", "fn"]]
        rows += [[n, f"{r['f1']:.3f}", *(str(r[k]) for k in ("words", "tp", "fp", "fn"))] for n, r in morph.items()]
        tables.append(("Morphological boundary alignment", rows))
    return tables


def render_markdown(report: AnalysisReport) -> str:
    """The report as Markdown (tables; long lists folded in ``<details>``)."""

    def table(rows: list[list[str]]) -> str:
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows[1:]])

    parts = ["# Token-efficiency report", "", "## Headline: bytes per token (higher = fewer tokens)", "",
             table(_headline_rows(report)), ""]
    for corpus in report.corpora:
        parts += [f"## Corpus `{corpus}`", "", table(_corpus_rows(report, corpus)), ""]
    parts += ["## Digit grouping", "", table([["tokenizer", "single", "left-to-right", "right-to-left", "other"]] + [
        [n, *(str(d["kinds"][k]) for k in ("single", "l2r", "r2l", "other"))] for n, d in report.digits.items()]), ""]
    parts += [f"## {title}\n\n{table(rows)}\n" for title, rows in _extra_tables(report)]
    if report.viewer is not None:
        labels = ", ".join(p["label"] for p in report.viewer.passages)
        parts += ["## Token viewer", "", f"`index.html` shows these passages token by token ({labels}) and a box "
                  "that tokenizes your own text.", ""]
    comparison = report.comparison()
    parts += ["<details><summary>% fewer tokens than each other tokenizer (all corpora)</summary>", "",
              table([["tokenizer", *report.tokenizers]] + [
                  [a, *(f"{comparison[a][b]:+.1f}%" if b != a else "—" for b in report.tokenizers)]
                  for a in report.tokenizers]), "", "</details>", ""]
    return "\n".join(parts)


def render_html(report: AnalysisReport, images: Mapping[str, bytes]) -> str:
    """The report as one self-contained HTML page (the token viewer's script is inline; nothing is fetched)."""

    def table(rows: list[list[str]]) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    sections = [f"<h2>Headline: bytes per token</h2>{table(_headline_rows(report))}"]
    sections += [f"<h2>Corpus <code>{html.escape(c)}</code></h2>{table(_corpus_rows(report, c))}"
                 for c in report.corpora]
    digit_rows = [["tokenizer", "single", "left-to-right", "right-to-left", "other", "1234567 splits as"]] + [
        [n, *(str(d["kinds"][k]) for k in ("single", "l2r", "r2l", "other")),
         " | ".join(d["pieces"].get("1234567", []))] for n, d in report.digits.items()]
    sections.append(f"<h2>Digit grouping</h2>{table(digit_rows)}")
    sections += [f"<h2>{html.escape(title)}</h2>{table(rows)}" for title, rows in _extra_tables(report)]
    figures = "".join(
        f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'
        f"</figure>" for name, data in images.items())
    sections.append(f"<h2>Plots</h2>{figures}")
    if report.viewer is not None:
        sections.append("<h2>Token viewer</h2><p>Passages picked from each corpus to show where the tokenizers "
                        f"differ.</p>{render_fragment(report.viewer)}")
    style = ("body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px;color:#222}"
             "table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.9rem}"
             "th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}"
             "th:first-child,td:first-child{text-align:left}thead{background:#f3f3f3}"
             "figure{display:inline-block;margin:.5rem}img{max-width:560px}")
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>lexkit token-efficiency report"
            f"</title><style>{style}</style></head><body><h1>lexkit token-efficiency report</h1>"
            f"<p>{len(report.tokenizers)} tokenizers × {len(report.corpora)} corpora.</p>{''.join(sections)}"
            "</body></html>\n")


def write_report(report: AnalysisReport, output: Path) -> Path:
    """Write ``index.html``, ``report.md``, ``report.json`` and the plot PNGs into ``output`` atomically."""
    images = _plots(report)
    with atomic_directory(Path(output)) as staging:
        atomic_write_text(staging / "index.html", render_html(report, images))
        atomic_write_text(staging / "report.md", render_markdown(report))
        atomic_write_text(staging / "report.json", json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
        for name, data in images.items():
            atomic_write_bytes(staging / name, data)
    return Path(output) / "index.html"
