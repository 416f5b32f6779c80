"""Downstream check for sticky tokens: how much does inserting them hurt a small retrieval task?

The task is built from real text: licence retrieval from ScanCode's licence texts (the ``legal`` fixture,
``licensedcode/data/licenses/*.LICENSE``). Each licence's first paragraph is the query and the rest of the
licence is its document; a query is answered correctly when its own licence ranks first by cosine
similarity among all documents. Inserting tokens into the queries (or the documents) and measuring recall@1
and MRR@10 against the clean run shows whether a model's sticky tokens do more harm than the same number of
random OK-category tokens. Any list of query/document pairs works through
`RetrievalTask`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from lexkit.analysis.sticky.config import Embedder
from lexkit.errors import LexkitError

__all__ = [
    "Target", "DOCUMENT_INSERT_WINDOW", "RetrievalTask", "RetrievalScores", "DownstreamRow",
    "DownstreamReport", "licence_retrieval_task", "retrieval_scores", "insert_words", "downstream_check",
]

Target = Literal["queries", "documents"]
# Documents are truncated by the model (256 tokens for all-MiniLM-L6-v2); insertions go into the first words
# so that they survive truncation.
DOCUMENT_INSERT_WINDOW = 128


@dataclass(frozen=True)
class RetrievalTask:
    """Queries and documents; query i belongs to document i.

    Attributes:
        name: a description of the source. queries, documents: the texts.
    """

    name: str
    queries: tuple[str, ...]
    documents: tuple[str, ...]


@dataclass(frozen=True)
class RetrievalScores:
    """Recall@1 and MRR@10 of a retrieval run, in [0, 1]."""

    recall_at_1: float
    mrr_at_10: float


@dataclass(frozen=True)
class DownstreamRow:
    """One condition of the check: which tokens were inserted and what the task scored.

    Attributes:
        condition: ``clean``, ``sticky`` or ``random``. tokens: the inserted strings (for random, the pool
        size). scores: the metrics (for random, the mean over trials). recall_drop, mrr_drop: relative drop
        against clean (0.25 = a quarter lower).
    """

    condition: str
    tokens: str
    scores: RetrievalScores
    recall_drop: float
    mrr_drop: float


@dataclass(frozen=True)
class DownstreamReport:
    """The check's result table."""

    task: str
    size: int
    target: str
    insertions: int
    rows: tuple[DownstreamRow, ...]

    def markdown(self) -> str:
        """The table as Markdown."""
        lines = [f"Retrieval on {self.task} ({self.size} queries), {self.insertions} tokens inserted into the "
                 f"{self.target}:", "", "| condition | inserted | recall@1 | MRR@10 | recall drop | MRR drop |",
                 "|---|---|---|---|---|---|"]
        lines += [f"| {r.condition} | {r.tokens.replace('|', '¦')} | {r.scores.recall_at_1:.3f} | "
                  f"{r.scores.mrr_at_10:.3f} | {r.recall_drop:.1%} | {r.mrr_drop:.1%} |" for r in self.rows]
        return "\n".join(lines) + "\n"


_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)


def licence_retrieval_task(folder: str | Path, *, size: int = 300, seed: int = 0, min_words: int = 12,
                           max_words: int = 80, min_document_words: int = 40) -> RetrievalTask:
    """Build the licence retrieval task from a folder of ScanCode ``*.LICENSE`` files.

    Args:
        folder: the ``licenses`` folder (YAML front matter, then the licence text).
        size: how many licences to keep (sampled with ``seed`` after sorting by file name).
        seed: sampling seed.
        min_words, max_words: the first paragraph's length window (it becomes the query).
        min_document_words: the rest of the licence must be at least this long.

    Returns:
        The task; duplicate queries (licences that share their opening paragraph) are dropped.

    Raises:
        LexkitError: fewer than two usable licences in ``folder``.
    """
    folder = Path(folder)
    pairs: dict[str, str] = {}
    for path in sorted(folder.glob("*.LICENSE")):
        text = _FRONT_MATTER.sub("", path.read_text(encoding="utf-8", errors="replace"))
        paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]
        if len(paragraphs) < 2:
            continue
        query, document = paragraphs[0], " ".join(paragraphs[1:])
        if min_words <= len(query.split()) <= max_words and len(document.split()) >= min_document_words:
            pairs.setdefault(query, document)
    if len(pairs) < 2:
        raise LexkitError(f"{folder}: fewer than two usable *.LICENSE files (first paragraph of {min_words}-"
                          f"{max_words} words plus a longer body); pass the licensedcode 'licenses' folder "
                          "(make fixtures puts it in cache/fixtures/legal/licenses)")
    items = sorted(pairs.items())
    picked = sorted(random.Random(seed).sample(range(len(items)), min(size, len(items))))
    return RetrievalTask(name=f"licence retrieval ({folder})", queries=tuple(items[i][0] for i in picked),
                         documents=tuple(items[i][1] for i in picked))


def retrieval_scores(queries: np.ndarray, documents: np.ndarray) -> RetrievalScores:
    """Recall@1 and MRR@10 when query i's answer is document i, ranked by cosine similarity.

    Args:
        queries: ``(N, D)``. documents: ``(N, D)``.
    """
    q = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    d = documents / np.maximum(np.linalg.norm(documents, axis=1, keepdims=True), 1e-12)
    sims = q @ d.T
    own = np.diag(sims)
    rank = (sims > own[:, None]).sum(1) + 1
    return RetrievalScores(recall_at_1=float((rank == 1).mean()),
                           mrr_at_10=float(np.where(rank <= 10, 1.0 / rank, 0.0).mean()))


def insert_words(text: str, tokens: Sequence[str], rng: random.Random, *, window: int | None = None) -> str:
    """Insert each of ``tokens`` as a separate word at a random position (among the first ``window`` words)."""
    words = text.split()
    for token in tokens:
        limit = len(words) if window is None else min(len(words), window)
        words.insert(rng.randint(0, limit), token)
    return " ".join(words)


def downstream_check(embedder: Embedder, task: RetrievalTask, sticky_tokens: Sequence[str],
                     random_pool: Sequence[str], *, insertions: int = 8, target: Target = "queries",
                     random_trials: int = 3, seed: int = 0) -> DownstreamReport:
    """Compare the task's scores clean, with sticky tokens inserted, and with random tokens inserted.

    Every text of ``target`` gets ``insertions`` tokens: the sticky tokens in turn (cycled), or
    ``insertions`` distinct tokens drawn from ``random_pool`` (per text, ``random_trials`` times, averaged).

    Args:
        embedder: the model. task: the retrieval task.
        sticky_tokens: the strings to insert (e.g. the top of the detector's final list).
        random_pool: the strings random insertions come from (e.g. all OK-category tokens).
        insertions: tokens inserted per text. target: ``"queries"`` or ``"documents"``.
        random_trials: repetitions of the random condition. seed: seeds every draw.

    Returns:
        The table with rows clean, sticky, random.

    Raises:
        LexkitError: no sticky tokens or too small a random pool.
    """
    if not sticky_tokens:
        raise LexkitError("downstream_check got no sticky tokens to insert; pass the detector's final list "
                          "(report.final) or any token strings")
    if len(random_pool) < insertions:
        raise LexkitError(f"the random pool has {len(random_pool)} tokens, fewer than insertions={insertions}; "
                          "pass the OK-category tokens of the tokenizer")
    queries = np.asarray(embedder.encode(list(task.queries)))
    documents = np.asarray(embedder.encode(list(task.documents)))
    clean = retrieval_scores(queries, documents)
    texts = task.queries if target == "queries" else task.documents
    window = None if target == "queries" else DOCUMENT_INSERT_WINDOW

    def scored(new_texts: list[str]) -> RetrievalScores:
        vectors = np.asarray(embedder.encode(new_texts))
        return retrieval_scores(vectors, documents) if target == "queries" else retrieval_scores(queries, vectors)

    rng = random.Random(seed)
    cycle = [sticky_tokens[i % len(sticky_tokens)] for i in range(insertions)]
    sticky = scored([insert_words(t, cycle, rng, window=window) for t in texts])
    trials = [scored([insert_words(t, rng.sample(list(random_pool), insertions), rng, window=window)
                      for t in texts]) for _ in range(random_trials)]
    random_scores = RetrievalScores(recall_at_1=float(np.mean([s.recall_at_1 for s in trials])),
                                    mrr_at_10=float(np.mean([s.mrr_at_10 for s in trials])))

    def row(condition: str, tokens: str, scores: RetrievalScores) -> DownstreamRow:
        return DownstreamRow(condition=condition, tokens=tokens, scores=scores,
                             recall_drop=1 - scores.recall_at_1 / max(clean.recall_at_1, 1e-12),
                             mrr_drop=1 - scores.mrr_at_10 / max(clean.mrr_at_10, 1e-12))

    return DownstreamReport(task=task.name, size=len(task.queries), target=target, insertions=insertions, rows=(
        row("clean", "-", clean), row("sticky", " ".join(repr(t) for t in sticky_tokens), sticky),
        row("random", f"{insertions} of {len(random_pool)} OK tokens, {random_trials} trials", random_scores)))
