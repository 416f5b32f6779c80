"""Sticky runs say how long they will take, checkpoint by default and resume after an interruption; ``--fast``.

Unit tests use a tiny WordPiece tokenizer with a bag-of-tokens embedder (one planted sticky token); the
real-model tests use all-MiniLM-L6-v2 from the fixture cache.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lexkit import Tokenizer
from lexkit.analysis.sticky import StickyConfig, StickyTokenDetector, split_sentences
from lexkit.analysis.sticky.progress import (
    RunEstimate,
    candidate_count,
    default_checkpoint_dir,
    text_tokens,
    verify_texts_per_token,
)
from lexkit.cli.main import main
from lexkit.cli.sticky import sticky
from lexkit.embedded import prose_documents
from lexkit.embedders import CPU_FAST_FALLBACK, FAST_AGREEMENT, TransformersEmbedder

WORDS = ("the of and to a in is that for it as with be on by this are or an not from at which can if you will "
         "function value object class name type module return list string file python data used when any other "
         "all has have new only use also may one two set each must code method attribute statement").split()
PLANTED = "="
CONFIG = StickyConfig(sentences=80, scoring_pairs=3, verification_pairs=24, insertions=4, chunk_tokens=16,
                      shortlist_percentile=90.0, pair_range=0.5)


@pytest.fixture(scope="module")
def hf_folder(make_tiny_bert):
    """A tiny BERT checkpoint folder (WordPiece tokenizer, 2-layer BertModel, mean pooling, normalized)."""
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    return make_tiny_bert(list(".,;:!?'()-\"=_/0123456789") + letters + ["##" + c for c in letters] + WORDS)


class Interrupted(Exception):
    """Stands for Ctrl-C in the middle of a run."""


class BagEmbedder:
    """Mean of random token vectors plus a pull toward a centre that the planted token strengthens (sticky).

    ``seconds_per_token`` makes it cost time like an encoder (per token, two special tokens added per text);
    ``fail_after`` raises `Interrupted` in the call that would take the texts embedded so far past that many.
    """

    def __init__(self, tokenizer: Tokenizer, *, seconds_per_token: float = 0.0, fail_after: int | None = None):
        rng = np.random.default_rng(7)
        self.tokenizer = tokenizer
        self.centre = rng.normal(size=24)
        self.centre /= np.linalg.norm(self.centre)
        self.table = rng.normal(size=(len(tokenizer.vocabulary), 24)) / np.sqrt(24)
        self.planted = tokenizer.vocabulary.id_of(PLANTED.encode())
        self.table[self.planted] = 0.0
        self.seconds_per_token = seconds_per_token
        self.fail_after = fail_after
        self.texts = 0

    def encode(self, texts):
        self.texts += len(texts)
        if self.fail_after is not None and self.texts > self.fail_after:
            raise Interrupted
        out, tokens = [], 0
        for text in texts:
            ids = self.tokenizer.encode(text, allowed_special="all") or [1]
            tokens += len(ids) + 2
            pull = 0.3 + 2.0 / len(ids) + 0.5 * ids.count(self.planted)
            out.append(self.table[ids].mean(0) + pull * self.centre)
        time.sleep(self.seconds_per_token * tokens)
        vectors = np.stack(out)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _comparable(report) -> dict:
    data = asdict(report)
    for key in ("timings", "estimate", "texts_embedded"):
        data.pop(key)
    return data


# -- the estimate ---------------------------------------------------------------------------------------------
def test_estimate_comes_from_the_first_batch_and_predicts_the_work(tokenizer, sentences):
    seen: list[RunEstimate] = []
    embedder = BagEmbedder(tokenizer, seconds_per_token=2e-5)
    detector = StickyTokenDetector(embedder, tokenizer, CONFIG, progress=False, on_estimate=seen.append)
    report = detector.run(sentences=sentences)
    assert len(seen) == 1 and seen[0] is detector.estimate and report.estimate == seen[0].to_json()
    estimate = seen[0]
    assert estimate.stage == "score" and estimate.batch_tokens == CONFIG.chunk_tokens
    assert candidate_count(report.scored, CONFIG.shortlist_percentile) == len(report.candidates)
    # texts: the projection against what the run then embedded in its scoring chunks and in verification
    score_chunks = report.texts_embedded["score"] - report.scored  # minus each token embedded alone
    assert abs(estimate.batch_texts + estimate.score_texts_left - score_chunks) <= 0.1 * score_chunks
    assert 0.8 * estimate.verify_texts_left <= report.texts_embedded["verify"] <= estimate.verify_texts_left
    # time: tokens cost 20 us each here, so the projection must land near the measured remaining time
    measured = report.timings["score"] + report.timings["verify"] - estimate.batch_seconds
    assert 0.6 * measured <= estimate.seconds_left <= 1.4 * measured, (estimate.seconds_left, measured)
    assert "estimated" in estimate.describe() and "texts/s" in estimate.describe()
    assert estimate.verify_cost != 1.0  # the verification pairs have other sentence lengths than the scoring pairs


def test_estimate_helpers():
    assert candidate_count(23699, 98.0) == 474 and candidate_count(10, 98.0) == 1 and candidate_count(0, 98.0) == 0
    assert verify_texts_per_token(["a", "b", "a"], 8) == 2 * 8 * 2 + 8 * 3
    assert text_tokens([10, 20], 8) == 15 + 4.5 + 2
    assert default_checkpoint_dir(Path("out/minilm.json")).as_posix() == "out/minilm.checkpoint"
    hours = RunEstimate("score", 64, 7680, 20.0, 2_860_000, 2_300_000, 30.0)
    assert hours.texts_per_second == 384.0 and "3.7 h" in hours.describe() and "5.2M texts" in hours.describe()


# -- resuming -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stop_in", ["score", "verify"])
def test_interrupted_run_resumes_to_the_same_report(tokenizer, sentences, tmp_path, stop_in):
    """The default (process-wide) seed scope: a resumed run redraws every position in the same order."""
    whole = StickyTokenDetector(BagEmbedder(tokenizer), tokenizer, CONFIG, progress=False).run(sentences=sentences)
    before_chunks = whole.texts_embedded["mu"] + whole.texts_embedded["pairs"] + whole.scored + 1500
    fail_after = before_chunks if stop_in == "score" else sum(whole.texts_embedded.values()) - 200
    with pytest.raises(Interrupted):
        StickyTokenDetector(BagEmbedder(tokenizer, fail_after=fail_after), tokenizer, CONFIG,
                            progress=False).run(sentences=sentences, checkpoint_dir=tmp_path)
    assert (tmp_path / "scores.jsonl").exists()
    seen: list[RunEstimate] = []
    resumed_detector = StickyTokenDetector(BagEmbedder(tokenizer), tokenizer, CONFIG, progress=False,
                                           on_estimate=seen.append)
    resumed = resumed_detector.run(sentences=sentences, checkpoint_dir=tmp_path)
    assert _comparable(resumed) == _comparable(whole)
    if stop_in == "score":
        assert resumed.texts_embedded["score"] < whole.texts_embedded["score"]
        assert seen[0].stage == "score"
    else:
        assert resumed.texts_embedded["verify"] < whole.texts_embedded["verify"]
        assert seen[0].stage == "verify" and seen[0].score_texts_left == 0
    # a finished checkpoint makes the rerun embed no insertion text at all, and announces nothing
    again = StickyTokenDetector(BagEmbedder(tokenizer), tokenizer, CONFIG, progress=False, on_estimate=seen.append)
    assert _comparable(again.run(sentences=sentences, checkpoint_dir=tmp_path)) == _comparable(whole)
    assert again.texts_embedded["verify"] == 0 and again.estimate is None


def test_checkpoints_of_another_precision_are_not_reused(tokenizer, sentences, tmp_path):
    class Bf16Bag(BagEmbedder):
        precision = "bf16"

    StickyTokenDetector(BagEmbedder(tokenizer), tokenizer, CONFIG, progress=False).run(
        sentences=sentences, checkpoint_dir=tmp_path)
    other = StickyTokenDetector(Bf16Bag(tokenizer), tokenizer, CONFIG, progress=False)
    report = other.run(sentences=sentences, checkpoint_dir=tmp_path)
    assert other.estimate is not None and other.estimate.batch_texts > 0  # scored again, nothing reused
    assert report.precision == "bf16"


# -- the command ----------------------------------------------------------------------------------------------
def test_cli_checkpoints_by_default_prints_the_estimate_and_resumes(hf_folder, tmp_path):
    main.add_command(sticky)
    pool = tmp_path / "s.txt"
    pool.write_text("\n".join(split_sentences("\n\n".join(prose_documents()))[:200]), encoding="utf-8")
    common = ["sticky", "--model", str(hf_folder), "--sentences", str(pool), "--max-tokens", "40",
              "--scoring-pairs", "2", "--verification-pairs", "4", "--insertions", "2", "--no-progress"]
    out = tmp_path / "reports" / "r.json"
    out.parent.mkdir()
    first = CliRunner().invoke(main, [*common, "-o", str(out)])
    assert first.exit_code == 0, first.output
    assert "sticky: estimated" in first.stderr and "texts/s" in first.stderr
    assert f"checkpoint in {out.parent / 'r.checkpoint'}" in first.stderr
    lines = (out.parent / "r.checkpoint" / "scores.jsonl").read_text().splitlines()
    assert len(lines) == 40
    report = json.loads(out.read_text())
    assert report["estimate"]["stage"] == "score" and report["precision"] == "fp32"
    again = CliRunner().invoke(main, [*common, "-o", str(out)])
    assert again.exit_code == 0 and "estimated" not in again.stderr  # everything came from the checkpoint
    resumed = json.loads(out.read_text())
    assert [e["token_id"] for e in resumed["final"]] == [e["token_id"] for e in report["final"]]
    assert resumed["candidates"] == report["candidates"]
    assert resumed["texts_embedded"]["score"] < report["texts_embedded"]["score"]
    bare = CliRunner().invoke(main, [*common, "--no-checkpoint", "-o", str(tmp_path / "b.json")])
    assert bare.exit_code == 0 and not (tmp_path / "b.checkpoint").exists()


def test_cli_fast_says_when_it_keeps_fp32(hf_folder, tmp_path, monkeypatch):
    """On a CPU without native bf16 ``--fast`` keeps fp32, says so on stderr and in the report's notes; the stub
    stands in for such a CPU (and for a bf16 one) so both branches run on any machine."""
    import lexkit.embedders

    main.add_command(sticky)
    pool = tmp_path / "s.txt"
    pool.write_text("\n".join(split_sentences("\n\n".join(prose_documents()))[:120]), encoding="utf-8")
    common = ["sticky", "--model", str(hf_folder), "--sentences", str(pool), "--max-tokens", "10", "--fast",
              "--scoring-pairs", "1", "--verification-pairs", "2", "--insertions", "1", "--no-progress",
              "--no-checkpoint"]
    for native in (False, True):
        monkeypatch.setattr(lexkit.embedders, "native_bf16", lambda native=native: native)
        result = CliRunner().invoke(main, [*common, "-o", str(tmp_path / f"{native}.json")])
        assert result.exit_code == 0, result.output
        report = json.loads((tmp_path / f"{native}.json").read_text())
        assert report["precision"] == ("bf16" if native else "fp32")
        assert (CPU_FAST_FALLBACK in result.stderr) == (not native)
        assert any(CPU_FAST_FALLBACK in note for note in report["notes"]) == (not native)


def test_cli_help_states_the_fast_agreement():
    main.add_command(sticky)
    text = CliRunner().invoke(main, ["sticky", "--help"], terminal_width=1000).output
    assert "--fast" in text and " ".join(FAST_AGREEMENT.split()) in " ".join(text.split())
    assert "PENDING" not in FAST_AGREEMENT


# -- the real model -------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_minilm_interrupted_run_resumes_to_the_same_report(tmp_path):
    from _resources import corpus_path, minilm_dir

    embedder = TransformersEmbedder(minilm_dir(), device="cpu")
    tokenizer = Tokenizer.load(embedder.tokenizer_file)
    raw = embedder.base_vocab_strings()[:2000]
    config = StickyConfig(sentences=120, scoring_pairs=2, verification_pairs=8, insertions=3, sample=60,
                          chunk_tokens=16, shortlist_percentile=90.0)
    with open(corpus_path(), encoding="utf-8") as handle:
        pool = split_sentences(handle.read(500_000))

    class Stopping:
        """The real embedder, stopped like Ctrl-C after ``limit`` texts."""

        def __init__(self, limit: int | None) -> None:
            self.limit, self.texts = limit, 0

        def encode(self, texts):
            self.texts += len(texts)
            if self.limit is not None and self.texts > self.limit:
                raise Interrupted
            return embedder.encode(texts)

    def detector(limit: int | None) -> StickyTokenDetector:
        return StickyTokenDetector(Stopping(limit), tokenizer, config, raw_vocab=raw, progress=False,
                                   model_name="all-MiniLM-L6-v2")

    whole = detector(None).run(sentences=pool)
    with pytest.raises(Interrupted):  # stop after about half of the scoring chunks
        detector(2000 + 120 + 60 + 30 * 2 * 3 * 3).run(sentences=pool, checkpoint_dir=tmp_path)
    scored_before = len((tmp_path / "scores.jsonl").read_text().splitlines())
    assert 0 < scored_before < 60
    resumed_detector = detector(None)
    resumed = resumed_detector.run(sentences=pool, checkpoint_dir=tmp_path)
    assert resumed_detector.estimate is not None and resumed_detector.estimate.stage == "score"
    assert [e.token_id for e in resumed.candidates] == [e.token_id for e in whole.candidates]
    assert [e.token_id for e in resumed.final] == [e.token_id for e in whole.final]
    for a, b in zip(resumed.candidates, whole.candidates):
        assert a.score == pytest.approx(b.score, rel=1e-5) and a.verification == b.verification
    assert resumed.texts_embedded["score"] < whole.texts_embedded["score"]


@pytest.mark.slow
def test_minilm_fast_embeddings_stay_close_to_fp32():
    """``fast=True`` on the real model: bf16 vectors within the measured error of fp32."""
    from _resources import corpus_path, minilm_dir

    with open(corpus_path(), encoding="utf-8") as handle:
        texts = split_sentences(handle.read(200_000))[:300]
    texts += ["=" * k + texts[k] for k in range(1, 9)]  # insertion-like texts
    exact = TransformersEmbedder(minilm_dir(), device="cpu").encode(texts)
    fast = TransformersEmbedder(minilm_dir(), device="cpu", fast=True, emulated_bf16=True)  # any CPU
    approx = fast.encode(texts)
    assert fast.precision == "bf16"  # compile is opt-in on CPU
    cosine_error = 1.0 - (exact * approx).sum(1)
    assert cosine_error.max() < 5e-3 and np.median(cosine_error) < 1e-3  # bench: p99 1.8e-3, max 3.0e-3
