"""Render a `StickyTokenReport` as JSON data, a Markdown fragment or an HTML fragment.

Rendering is kept apart from computation so the analysis-report issue can embed the fragments in its
pages; nothing here computes a statistic. Fragments have no ``<html>``/``<body>`` wrapper.
"""

from __future__ import annotations

import html
from typing import Any

from lexkit.analysis.sticky.results import StickyEntry, StickyTokenReport

__all__ = ["KIND_RULES", "to_json", "render_markdown", "render_html"]

KIND_RULES = ("special: a special token of the tokenizer (CLS included); unused: a placeholder such as [unused3] "
              "or <extra_id_0>; fragment: a continuation piece (##x), a single non-letter character or a piece "
              "that does not start a word; word: letters only, two or more, word-initial; other: the rest "
              "(numbers, mixed pieces).")
_COLUMNS = ("rank", "token", "id", "kind", "category", "score", "verification")


def to_json(report: StickyTokenReport) -> dict[str, Any]:
    """The report as JSON-ready data (`StickyTokenReport.to_json`'s fields), with the kind rules."""
    data = report.to_json()
    data["kind_rules"] = KIND_RULES
    return data


def _row(entry: StickyEntry) -> tuple[str, ...]:
    return (str(entry.rank), repr(entry.token), str(entry.token_id), entry.kind, entry.category,
            f"{entry.score:.4f}", f"{entry.verification['cos']:.4f}")


def render_markdown(report: StickyTokenReport, *, max_candidates: int = 200) -> str:
    """A Markdown fragment: summary, the ranked sticky tokens, and the candidates in a ``<details>`` block.

    Args:
        report: the detector's report.
        max_candidates: candidate rows shown at most.

    Returns:
        Markdown text.
    """
    mu = report.mean_similarity
    lines = [
        f"### Sticky tokens of {report.model}",
        "",
        f"{len(report.final)} sticky tokens among {len(report.candidates)} candidates "
        f"({report.scored} tokens scored). μ = {mu.mean:.4f} (median {mu.median:.4f}, std {mu.std:.4f}); "
        f"shortlist threshold {report.threshold:.4f}; cut Q3 + {report.config['iqr_factor']} · IQR = "
        f"{report.cut.cut:.4f} (Q1 {report.cut.q1:.4f}, Q3 {report.cut.q3:.4f}).",
        "",
        "| " + " | ".join(_COLUMNS) + " |",
        "|" + "---|" * len(_COLUMNS),
    ]
    lines += ["| " + " | ".join(_md_cell(c) for c in _row(e)) + " |" for e in report.final]
    lines += ["", "<details><summary>All candidates, best verification first</summary>", "",
              "| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    lines += ["| " + " | ".join(_md_cell(c) for c in _row(e)) + " |" for e in report.candidates[:max_candidates]]
    lines += ["", "</details>", "", f"Kinds: {KIND_RULES}",
              "Timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in report.timings.items()) + "."
              + _estimate_text(report),
              "Categories: " + ", ".join(f"{k} {v}" for k, v in report.category_counts.items()) + "."]
    lines += [f"Note: {note}." for note in report.notes]
    return "\n".join(lines) + "\n"


def _estimate_text(report: StickyTokenReport) -> str:
    """The start-of-run projection next to the measured timings, and the precision when it is not fp32."""
    text = ""
    if report.estimate:
        text += (f" Estimated from the first {report.estimate['stage']} batch: {report.estimate['seconds_left']:.0f} s "
                 f"more after {report.estimate['elapsed']:.0f} s ({report.estimate['texts_per_second']:.0f} texts/s).")
    if report.precision != "fp32":
        text += f" Embeddings in {report.precision}."
    return text


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "\\n")


def render_html(report: StickyTokenReport, *, max_candidates: int = 200) -> str:
    """An HTML fragment with the same content as `render_markdown` (escaped, no page wrapper)."""
    mu = report.mean_similarity

    def table(entries: list[StickyEntry]) -> str:
        head = "".join(f"<th>{c}</th>" for c in _COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in _row(e)) + "</tr>" for e in entries)
        return f"<table class=\"lexkit-sticky\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    notes = "".join(f"<p>Note: {html.escape(n)}.</p>" for n in report.notes)
    return (
        f"<section class=\"lexkit-sticky\"><h3>Sticky tokens of {html.escape(report.model)}</h3>"
        f"<p>{len(report.final)} sticky tokens among {len(report.candidates)} candidates ({report.scored} tokens "
        f"scored). μ = {mu.mean:.4f} (median {mu.median:.4f}, std {mu.std:.4f}); shortlist threshold "
        f"{report.threshold:.4f}; cut {report.cut.cut:.4f} (Q1 {report.cut.q1:.4f}, Q3 {report.cut.q3:.4f}).</p>"
        f"{table(report.final)}<details><summary>All candidates</summary>"
        f"{table(report.candidates[:max_candidates])}</details>"
        f"<p>Kinds: {html.escape(KIND_RULES)}</p>{notes}</section>\n"
    )
