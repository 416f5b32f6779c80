"""`StickyTokenDetector`: steps 0-8 over one embedding model, with caching, chunked batches and checkpoints."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from lexkit.analysis.sticky.categories import categorize, raw_vocab_strings
from lexkit.analysis.sticky.checkpoint import append_checkpoint, load_checkpoint
from lexkit.analysis.sticky.config import METRICS, MODES, SCORE_CONSTANTS, Embedder, StickyConfig
from lexkit.analysis.sticky.progress import RunEstimate, candidate_count, text_tokens, verify_texts_per_token
from lexkit.analysis.sticky.results import (
    PairSets,
    ScoreRow,
    SentencePair,
    SimilarityStats,
    StickyEntry,
    StickyTokenReport,
    TokenInfo,
    VerificationRow,
)
from lexkit.analysis.sticky.scoring import (
    distances,
    draw_positions,
    final_cut,
    insertion_texts,
    pair_mode_scores,
    rank_entries,
    shortlist_threshold,
    similarity_stats,
    verification_successes,
)
from lexkit.analysis.sticky.sentences import (
    pick_below_mean,
    sample_sentences,
    spread_pairs,
)
from lexkit.errors import LexkitError
from lexkit.tokenizer import Tokenizer

__all__ = ["FirstChunk", "StickyTokenDetector"]

logger = logging.getLogger(__name__)


# (tokens, texts embedded, seconds, tokens left) of the first computed chunk of a stage
FirstChunk = Callable[[int, int, float, int], None]


class StickyTokenDetector:
    """The Sticky Token Detector pipeline over one embedding model and its tokenizer.

    Args:
        embedder: turns texts into vectors (`TransformersEmbedder` for a checkpoint folder; any object with
            ``encode(texts) -> (N, D)`` works, which is how the tests plant a sticky token).
        tokenizer: the model's tokenizer as a lexkit `Tokenizer`; token filtering and kinds use it.
        config: the settings (paper defaults).
        raw_vocab: the raw base-vocabulary strings for μ (default: from the tokenizer's HF export).
        progress: show tqdm progress bars.
        model_name: a label for the report.
        on_estimate: called once per `run` with the `RunEstimate` from the first timed batch (the CLI prints
            it); the estimate is also logged at INFO.

    Typical use: ``embedder = TransformersEmbedder(folder)``, then
    ``StickyTokenDetector(embedder, Tokenizer.load(embedder.tokenizer_file),
    raw_vocab=embedder.base_vocab_strings()).run(sentences=split_sentences(text))``.
    """

    def __init__(self, embedder: Embedder, tokenizer: Tokenizer, config: StickyConfig | None = None, *,
                 raw_vocab: Sequence[str] | None = None, progress: bool = True, model_name: str = "model",
                 on_estimate: Callable[[RunEstimate], None] | None = None) -> None:
        self.embedder = embedder
        self.on_estimate = on_estimate
        self.estimate: RunEstimate | None = None
        self.tokenizer = tokenizer
        self.config = config or StickyConfig()
        self.progress = progress
        self.model_name = model_name
        self._raw_vocab = list(raw_vocab) if raw_vocab is not None else None
        self._rng = random.Random(self.config.seed)
        self._tokens: dict[int, TokenInfo] | None = None
        self.texts_embedded: Counter[str] = Counter()
        # the sticky scores of every token scored by the last `run` (the report keeps the shortlist only)
        self.scores: dict[int, ScoreRow] = {}

    # -- step 0 ---------------------------------------------------------------------------------------------
    def mean_similarity(self) -> SimilarityStats:
        """Step 0: μ, median and std of the cosine similarity over all ordered pairs of the vocabulary
        strings embedded alone (``mu_source``; a seeded random ``mu_sample`` of them in quick runs)."""
        if self.config.mu_source == "raw_vocab":
            texts = self._raw_vocab if self._raw_vocab is not None else raw_vocab_strings(self.tokenizer)
        else:
            texts = [t.text for t in self.categorize_tokens().values() if t.category.scored]
        if self.config.mu_sample is not None and self.config.mu_sample < len(texts):
            picked = np.random.default_rng(self.config.seed).choice(len(texts), self.config.mu_sample, replace=False)
            texts = [texts[i] for i in sorted(picked)]
        vectors = self._embed(texts, "mu")
        return similarity_stats(vectors)

    # -- steps 1-3 ------------------------------------------------------------------------------------------
    def select_pairs(self, *, mean: float, sentences: Sequence[str] | None = None,
                     pairs: Sequence[tuple[str, str]] | None = None, source: str = "") -> PairSets:
        """Steps 1-3: sample sentences, spread pairs over the similarity range, pick pairs below ``mean``.

        Args:
            mean: μ from `mean_similarity`.
            sentences: a sentence pool (sampled down to ``config.sentences``).
            pairs: ready pairs ``(sentence1, sentence2)`` such as the authors' CSV (steps 1-2 skipped).
            source: a description of where the sentences came from, for the report.

        Returns:
            The scoring and verification pairs.

        Raises:
            LexkitError: neither or both of ``sentences`` and ``pairs`` given, or too few sentences.
        """
        config = self.config
        if (sentences is None) == (pairs is None):
            raise LexkitError("select_pairs needs exactly one of sentences= (a pool to sample from) or pairs= "
                              "(e.g. read_pairs_csv(path)); pass one of them")
        if pairs is not None:
            first = [a for a, _ in pairs]
            second = [b for _, b in pairs]
            vectors = self._embed(first + second, "pairs")
            sims = 1.0 - distances(vectors[:len(first)], vectors[len(first):])["cos"]
            spread = [SentencePair(a, b, float(s)) for a, b, s in zip(first, second, sims)]
            comparable = True
        else:
            assert sentences is not None
            sample = sample_sentences(sentences, config.sentences, config.seed)
            vectors = self._embed(sample, "pairs")
            unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            chosen = spread_pairs(unit @ unit.T, config.sentences)
            spread = [SentencePair(sample[i], sample[j], s) for i, j, s in chosen]
            comparable = False
        scoring, low, high = pick_below_mean(spread, mean, config.scoring_pairs, pair_range=config.pair_range,
                                             allow_repeats=config.allow_repeated_pairs)
        verification, _, _ = pick_below_mean(spread, mean, config.verification_pairs, pair_range=config.pair_range,
                                             allow_repeats=config.allow_repeated_pairs)
        return PairSets(scoring=tuple(scoring), verification=tuple(verification), spread_pairs=len(spread),
                        low=low, high=high, source=source, comparable=comparable)

    # -- step 4 ---------------------------------------------------------------------------------------------
    def categorize_tokens(self) -> dict[int, TokenInfo]:
        """Step 4 over the whole vocabulary (cached); see `categorize`."""
        if self._tokens is None:
            self._tokens = categorize(self.tokenizer, special_roles=self.config.special_roles)
        return self._tokens

    def scorable_tokens(self) -> list[TokenInfo]:
        """Tokens of category OK or OK_SPECIAL in id order, sampled (``config.sample``) and cut
        (``config.max_tokens``)."""
        tokens = [t for t in self.categorize_tokens().values() if t.category.scored]
        if self.config.sample is not None and self.config.sample < len(tokens):
            picked = np.random.default_rng(self.config.seed).choice(len(tokens), self.config.sample, replace=False)
            tokens = [tokens[i] for i in sorted(picked)]
        return tokens[:self.config.max_tokens] if self.config.max_tokens else tokens

    # -- steps 5 and 7 --------------------------------------------------------------------------------------
    def score(self, tokens: Sequence[TokenInfo], pairs: Sequence[SentencePair], *,
              checkpoint: Path | None = None, on_first_chunk: FirstChunk | None = None) -> dict[int, ScoreRow]:
        """Step 5: the sticky score of each token on the scoring pairs, for the three distances.

        Args:
            tokens: the tokens (from `scorable_tokens`). pairs: the scoring pairs.
            checkpoint: a JSON-lines file; finished chunks are appended and reused by a rerun with the same
                model, precision, configuration and pairs.
            on_first_chunk: called after the first computed chunk with (tokens, texts embedded, seconds,
                tokens left); `run` turns it into the time estimate.

        Returns:
            ``{token_id: ScoreRow}``.
        """
        positions = self._draw("score", tokens, pairs)
        d0, anchors = self._pair_baseline(pairs)
        alone = self._embed([t.text for t in tokens], "score")
        token_distance = distances(anchors[None], alone[:, None])  # per metric (T, P)

        def compute(chunk: range) -> dict[int, dict[str, float]]:
            d = self._insertion_distances([tokens[i] for i in chunk], pairs, [positions[i] for i in chunk],
                                          anchors, "score")
            rows: dict[int, dict[str, float]] = {}
            for metric, (alpha, beta, gamma) in SCORE_CONSTANTS.items():
                per_mode = pair_mode_scores(d0[metric][None, :, None], d[metric],
                                            token_distance[metric][list(chunk)][:, :, None],
                                            alpha=alpha, beta=beta, gamma=gamma)  # (T, P, M)
                values = (per_mode * np.asarray(self.config.score_weights)).sum(-1).mean(-1)
                for offset, i in enumerate(chunk):
                    rows.setdefault(tokens[i].token_id, {})[metric] = float(values[offset])
            return rows

        rows = self._run_chunks("score", tokens, pairs, self.config.chunk_tokens, compute, checkpoint,
                                on_first_chunk)
        return {tid: ScoreRow(token_id=tid, **values) for tid, values in rows.items()}

    def verify(self, tokens: Sequence[TokenInfo], pairs: Sequence[SentencePair], *,
               checkpoint: Path | None = None, on_first_chunk: FirstChunk | None = None
               ) -> dict[int, VerificationRow]:
        """Step 7: the weighted share of (pair, mode) cases where the mean distance after insertion fell.

        Args:
            tokens: the candidates. pairs: the verification pairs (repeats allowed; their prefix and suffix
                texts are embedded once, random insertions are drawn per occurrence).
            checkpoint, on_first_chunk: as in `score`.

        Returns:
            ``{token_id: VerificationRow}``.
        """
        positions = self._draw("verify", tokens, pairs)
        d0, anchors = self._pair_baseline(pairs)
        weights = np.asarray(self.config.mode_weights)

        def compute(chunk: range) -> dict[int, dict[str, float]]:
            d = self._insertion_distances([tokens[i] for i in chunk], pairs, [positions[i] for i in chunk],
                                          anchors, "verify")
            rows: dict[int, dict[str, float]] = {}
            for metric in METRICS:
                success = verification_successes(d0[metric][None, :, None], d[metric])  # (T, P, M)
                values = (success * weights).sum(-1).sum(-1) / len(pairs)
                for offset, i in enumerate(chunk):
                    rows.setdefault(tokens[i].token_id, {})[metric] = float(values[offset])
            return rows

        rows = self._run_chunks("verify", tokens, pairs, max(1, self.config.chunk_tokens // 8), compute, checkpoint,
                                on_first_chunk)
        return {tid: VerificationRow(token_id=tid, **values) for tid, values in rows.items()}

    # -- everything -----------------------------------------------------------------------------------------
    def run(self, *, sentences: Sequence[str] | None = None, pairs: Sequence[tuple[str, str]] | None = None,
            source: str = "", checkpoint_dir: Path | None = None) -> StickyTokenReport:
        """Steps 0-8: μ, pairs, filtering, scores, shortlist, verification and the final cut, with timings.

        Args:
            sentences, pairs, source: see `select_pairs`.
            checkpoint_dir: a folder for resumable partial results (``scores.jsonl``, ``verification.jsonl``);
                a rerun with the same model, precision, configuration and pairs skips what it holds.

        Returns:
            The report.
        """
        config = self.config
        timings: dict[str, float] = {}
        self.estimate = None
        start = clock = time.perf_counter()
        stats = self.mean_similarity()
        timings["mean_similarity"] = time.perf_counter() - clock
        clock = time.perf_counter()
        pair_sets = self.select_pairs(mean=stats.mean, sentences=sentences, pairs=pairs, source=source)
        timings["pairs"] = time.perf_counter() - clock
        clock = time.perf_counter()
        infos = self.categorize_tokens()
        tokens = self.scorable_tokens()
        timings["categorize"] = time.perf_counter() - clock
        logger.info("mu=%.4f; %d tokens to score on %d pairs", stats.mean, len(tokens), len(pair_sets.scoring))
        clock = time.perf_counter()
        if checkpoint_dir is not None:
            checkpoint_dir.mkdir(parents=True, exist_ok=True)
        verify_checkpoint = checkpoint_dir / "verification.jsonl" if checkpoint_dir else None
        verified_before = (len(load_checkpoint(verify_checkpoint, self._fingerprint("verify", pair_sets.verification)))
                           if verify_checkpoint else 0)
        candidates_left = max(candidate_count(len(tokens), config.shortlist_percentile) - verified_before, 0)
        per_candidate = verify_texts_per_token([p.s2 for p in pair_sets.verification], config.insertions)
        verify_cost = (self._text_tokens(pair_sets.verification) / self._text_tokens(pair_sets.scoring)
                       if pair_sets.scoring else 1.0)

        def first_score_chunk(done: int, texts: int, seconds: float, left: int) -> None:
            self._announce(RunEstimate("score", done, texts, seconds, round(texts / done * left),
                                       candidates_left * per_candidate, time.perf_counter() - start, verify_cost))

        def first_verify_chunk(done: int, texts: int, seconds: float, left: int) -> None:
            if self.estimate is None:  # every score came from the checkpoint
                self._announce(RunEstimate("verify", done, texts, seconds, 0, round(texts / done * left),
                                           time.perf_counter() - start))

        scores = self.score(tokens, pair_sets.scoring,
                            checkpoint=checkpoint_dir / "scores.jsonl" if checkpoint_dir else None,
                            on_first_chunk=first_score_chunk)
        self.scores = scores
        timings["score"] = time.perf_counter() - clock
        threshold = shortlist_threshold([scores[t.token_id].cos for t in tokens], config.shortlist_percentile)
        shortlisted = [t for t in tokens if scores[t.token_id].cos >= threshold]
        clock = time.perf_counter()
        verified = self.verify(shortlisted, pair_sets.verification, checkpoint=verify_checkpoint,
                               on_first_chunk=first_verify_chunk)
        timings["verify"] = time.perf_counter() - clock
        cut = final_cut([verified[t.token_id].cos for t in shortlisted], config.iqr_factor)
        candidates = rank_entries(shortlisted, scores, verified)
        final = [e for e in candidates if e.verification["cos"] > cut.cut]
        final = [StickyEntry(**{**asdict(e), "rank": rank}) for rank, e in enumerate(final, start=1)]
        timings["total"] = sum(timings.values())
        notes = [] if pair_sets.comparable else [
            "pairs not comparable to the paper's: sampled from " + (source or "a user-supplied sentence pool")]
        return StickyTokenReport(
            model=self.model_name, mean_similarity=stats,
            category_counts=dict(sorted(Counter(t.category.value for t in infos.values()).items())),
            kind_counts=dict(sorted(Counter(t.kind for t in tokens).items())), scored=len(tokens),
            threshold=threshold, candidates=candidates, cut=cut, final=final,
            pairs={"source": pair_sets.source, "comparable": pair_sets.comparable,
                   "spread_pairs": pair_sets.spread_pairs, "low": pair_sets.low, "high": pair_sets.high,
                   "scoring": len(pair_sets.scoring), "verification": len(pair_sets.verification),
                   "distinct_verification": len(set(pair_sets.verification))},
            timings={k: round(v, 3) for k, v in timings.items()}, texts_embedded=dict(self.texts_embedded),
            config=asdict(config), device=str(getattr(self.embedder, "device", "cpu")), notes=notes,
            precision=self._precision(), estimate=self.estimate.to_json() if self.estimate else {})

    # -- internals ------------------------------------------------------------------------------------------
    def _announce(self, estimate: RunEstimate) -> None:
        self.estimate = estimate
        logger.info("sticky: %s", estimate.describe())
        if self.on_estimate is not None:
            self.on_estimate(estimate)

    def _text_tokens(self, pairs: Sequence[SentencePair]) -> float:
        """Mean tokens of the insertion texts built on ``pairs`` (see `text_tokens`)."""
        return text_tokens([len(self.tokenizer.encode_ordinary(p.s2)) for p in pairs], self.config.insertions)

    def _precision(self) -> str:
        return str(getattr(self.embedder, "precision", "fp32"))

    def _embed(self, texts: Sequence[str], stage: str) -> np.ndarray:
        self.texts_embedded[stage] += len(texts)
        return np.asarray(self.embedder.encode(list(texts)), dtype=np.float32)

    def _draw(self, stage: str, tokens: Sequence[TokenInfo], pairs: Sequence[SentencePair]) -> list[list[list[int]]]:
        """Insertion positions ``[token][pair][k]``, drawn in plain-loop order before anything is embedded."""
        out = []
        for token in tokens:
            rng = (self._rng if self.config.seed_scope == "process"
                   else random.Random(f"{self.config.seed}/{stage}/{token.token_id}"))
            out.append([draw_positions(rng, pair.s2, self.config.insertions) for pair in pairs])
        return out

    def _pair_baseline(self, pairs: Sequence[SentencePair]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Distances d0 (per metric, ``(P,)``) and the s1 embeddings ``(P, D)``; distinct sentences embedded once."""
        texts = sorted({p.s1 for p in pairs} | {p.s2 for p in pairs})
        lookup = dict(zip(texts, self._embed(texts, "pairs")))
        anchors = np.stack([lookup[p.s1] for p in pairs])
        return distances(anchors, np.stack([lookup[p.s2] for p in pairs])), anchors

    def _insertion_distances(self, tokens: Sequence[TokenInfo], pairs: Sequence[SentencePair],
                             positions: Sequence[Sequence[Sequence[int]]], anchors: np.ndarray,
                             stage: str) -> dict[str, np.ndarray]:
        """Distances ``(T, P, M, K)`` per metric of s1 to the insertion texts of a chunk of tokens."""
        index: dict[str, int] = {}
        slots = np.empty((len(tokens), len(pairs), len(MODES), self.config.insertions), dtype=np.int64)
        for t, token in enumerate(tokens):
            for p, pair in enumerate(pairs):
                texts = insertion_texts(token.text, pair.s2, positions[t][p],
                                        separator=self.config.insertion_separator)
                for m, mode in enumerate(MODES):
                    for k, text in enumerate(texts[mode]):
                        slots[t, p, m, k] = index.setdefault(text, len(index))
        vectors = self._embed(list(index), stage)
        return distances(anchors[None, :, None, None, :], vectors[slots])

    def _run_chunks(self, stage: str, tokens: Sequence[TokenInfo], pairs: Sequence[SentencePair], size: int,
                    compute: Callable[[range], dict[int, dict[str, float]]], checkpoint: Path | None,
                    on_first_chunk: FirstChunk | None = None) -> dict[int, dict[str, float]]:
        """Run ``compute`` over chunks of ``tokens`` with a progress bar, resuming from ``checkpoint``; the first
        computed chunk is timed for ``on_first_chunk``."""
        from tqdm.auto import tqdm

        done = load_checkpoint(checkpoint, self._fingerprint(stage, pairs)) if checkpoint else {}
        todo = [i for i, t in enumerate(tokens) if t.token_id not in done]
        rows = {t.token_id: done[t.token_id] for t in tokens if t.token_id in done}
        with tqdm(total=len(tokens), initial=len(tokens) - len(todo), desc=f"sticky {stage}", unit="tok",
                  disable=not self.progress) as bar:
            left = len(todo)
            for chunk in _chunks(todo, size):
                texts, clock = self.texts_embedded[stage], time.perf_counter()
                new = compute(chunk)
                left -= len(chunk)
                if on_first_chunk is not None:
                    on_first_chunk(len(chunk), self.texts_embedded[stage] - texts, time.perf_counter() - clock, left)
                    on_first_chunk = None
                rows.update(new)
                if checkpoint is not None:
                    append_checkpoint(checkpoint, self._fingerprint(stage, pairs), new)
                bar.update(len(chunk))
        return rows

    def _fingerprint(self, stage: str, pairs: Sequence[SentencePair]) -> str:
        payload = json.dumps([stage, self.model_name, self._precision(), asdict(self.config),
                              [asdict(p) for p in pairs]], sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _chunks(indices: Sequence[int], size: int) -> Iterator[range]:
    """Consecutive runs of ``indices`` (which are sorted) of at most ``size``, as ranges of token positions."""
    start = 0
    while start < len(indices):
        stop = start + 1
        while stop < len(indices) and stop - start < size and indices[stop] == indices[stop - 1] + 1:
            stop += 1
        yield range(indices[start], indices[stop - 1] + 1)
        start = stop
