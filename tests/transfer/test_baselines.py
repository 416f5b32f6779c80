"""Baselines (mean, subword-mean, random, zero), provenance, fallbacks and norm flags of `init_embeddings`."""

from __future__ import annotations

import pytest
import torch

from lexkit.formats.hf import from_hf, to_hf
from lexkit.transfer import TransferConfig, init_embeddings
from lexkit.transfer.anchors import match_anchors
from lexkit.transfer.tokenizer import TransferTokenizer
from lexkit.vocabulary import TokenKind


@pytest.fixture
def matrix(source_tokenizer):
    generator = torch.Generator().manual_seed(0)
    return torch.randn(len(source_tokenizer.vocabulary), 16, generator=generator) * 0.02 + 0.01


@pytest.mark.parametrize("method", ["mean", "subword-mean", "random", "zero"])
def test_anchors_copied_unchanged_every_token_has_provenance_and_shapes_are_right(
        method, matrix, source_tokenizer, target_tokenizer):
    rows, report = init_embeddings(matrix, source_tokenizer, target_tokenizer, method)
    target_size = len(target_tokenizer.vocabulary)
    assert rows.shape == (target_size, 16) and rows.dtype == matrix.dtype
    assert [p.target_id for p in report.provenance] == list(range(target_size))
    anchors = match_anchors(TransferTokenizer.from_any(source_tokenizer), TransferTokenizer.from_any(target_tokenizer),
                            source_rows=len(matrix))
    assert report.counts()["copied"] == len(anchors) == report.anchors["total"]
    for entry in report.provenance:
        if entry.status == "copied":
            assert torch.equal(rows[entry.target_id], matrix[entry.source_id])
    assert report.counts()["approximated"] > 50 and report.method == method


def test_dtype_and_device_of_the_source_are_kept(matrix, source_tokenizer, target_tokenizer):
    rows, _ = init_embeddings(matrix.to(torch.bfloat16), source_tokenizer, target_tokenizer, "subword-mean")
    assert rows.dtype == torch.bfloat16


def test_mean_rows_are_the_mean_source_row(matrix, source_tokenizer, target_tokenizer):
    rows, report = init_embeddings(matrix, source_tokenizer, target_tokenizer, "mean")
    new = [p.target_id for p in report.provenance if p.status == "approximated"]
    assert all(report.provenance[t].estimate == "mean" for t in new)
    torch.testing.assert_close(rows[new], matrix.mean(0).expand(len(new), -1))


def test_zero_rows_are_zero_and_anchors_kept(matrix, source_tokenizer, target_tokenizer):
    rows, report = init_embeddings(matrix, source_tokenizer, target_tokenizer, "zero")
    new = [p.target_id for p in report.provenance if p.status == "approximated"]
    assert new and all(report.provenance[t].estimate == "zero" for t in new)
    assert not rows[new].any() and rows.abs().sum() > 0


def test_subword_mean_averages_the_source_decomposition(matrix, source_tokenizer, target_tokenizer):
    rows, report = init_embeddings(matrix, source_tokenizer, target_tokenizer, "subword-mean")
    source = TransferTokenizer.from_any(source_tokenizer)
    checked = 0
    for entry in report.provenance:
        if entry.status != "approximated":
            continue
        content = target_tokenizer.vocabulary.tokens[entry.target_id].content
        pieces = source.decompose(content)
        assert b"".join(source.vocabulary.tokens[p].content for p in pieces) == content
        assert list(entry.sources) == pieces and entry.estimate == "subword"
        torch.testing.assert_close(rows[entry.target_id], matrix[pieces].mean(0))
        checked += 1
    assert checked > 50


def test_random_is_seeded_and_scaled_like_the_source(matrix, source_tokenizer, target_tokenizer):
    first, report = init_embeddings(matrix, source_tokenizer, target_tokenizer, "random",
                                    config=TransferConfig(seed=3))
    again, _ = init_embeddings(matrix, source_tokenizer, target_tokenizer, "random", config=TransferConfig(seed=3))
    other, _ = init_embeddings(matrix, source_tokenizer, target_tokenizer, "random", config=TransferConfig(seed=4))
    new = [p.target_id for p in report.provenance if p.status == "approximated"]
    assert torch.equal(first, again) and not torch.equal(first[new], other[new])
    assert first[new].std().item() == pytest.approx(matrix.std().item(), rel=0.2)  # not unscaled N(0, 1)
    assert first[new].mean().item() == pytest.approx(0.01, abs=0.005)


def target_with_hole_and_unmatched_special(target_tokenizer):
    """The target vocabulary plus an unused id (a hole) and a special token the source lacks."""
    data = to_hf(target_tokenizer.vocabulary)
    size = len(target_tokenizer.vocabulary)
    data["added_tokens"].append({"id": size + 1, "content": "<|new|>", "single_word": False, "lstrip": False,
                                 "rstrip": False, "normalized": False, "special": True})
    vocabulary = from_hf(data)
    assert vocabulary.tokens[size].kind == TokenKind.UNUSED
    return vocabulary


def test_every_fallback_branch_of_the_baselines(matrix, source_tokenizer, target_tokenizer, ascii_source):
    target = target_with_hole_and_unmatched_special(target_tokenizer)
    size = len(target_tokenizer.vocabulary)
    _, report = init_embeddings(matrix, source_tokenizer, target, "subword-mean")
    assert report.provenance[size].status == "fallback" and "unused id" in report.provenance[size].reason
    assert report.provenance[size + 1].status == "fallback"
    assert "special token with no source match" in report.provenance[size + 1].reason
    _, report = init_embeddings(matrix, source_tokenizer, target, "mean")
    assert report.provenance[size + 1].status == "approximated"  # mean needs no text
    accented = target_tokenizer.vocabulary.byte_ids[0xE9]
    ascii_rows = torch.randn(129, 16)
    rows, report = init_embeddings(ascii_rows, ascii_source, target_tokenizer, "subword-mean")
    entry = report.provenance[accented]
    assert entry.status == "fallback" and entry.reason == "no decomposition under the source tokenizer"
    torch.testing.assert_close(rows[accented], ascii_rows.mean(0))  # fallback rows are the mean row


def test_unusually_large_rows_are_flagged_and_can_be_clipped(matrix, source_tokenizer, target_tokenizer):
    from lexkit.transfer import init_embeddings as run

    generator = torch.Generator().manual_seed(1)
    donor = torch.randn(len(target_tokenizer.vocabulary), 40, generator=generator)
    _, plain = run(matrix, source_tokenizer, target_tokenizer, "omp", donor_matrix=donor,
                   config=TransferConfig(k=30))
    flagged = plain.flagged
    assert flagged, "least-squares coefficients over 30 random atoms overshoot the anchors' norms"
    assert all(plain.provenance[t].norm > plain.norm_threshold for t in flagged)
    assert plain.to_json(provenance=False)["norms"]["flagged"] == list(flagged)
    rows, clipped = run(matrix, source_tokenizer, target_tokenizer, "omp", donor_matrix=donor,
                        config=TransferConfig(k=30, clip_norms=True))
    assert clipped.flagged == flagged
    norms = rows[list(flagged)].norm(dim=1)
    torch.testing.assert_close(norms, torch.full_like(norms, clipped.norm_threshold))


def test_report_json_round_trips_the_table(matrix, source_tokenizer, target_tokenizer):
    import json

    _, report = init_embeddings(matrix, source_tokenizer, target_tokenizer, "subword-mean")
    data = json.loads(json.dumps(report.to_json()))
    assert data["counts"] == report.counts() and len(data["provenance"]) == len(report.provenance)
    copied = next(p for p in data["provenance"] if p["status"] == "copied")
    assert {"id", "status", "match", "source", "norm"} <= copied.keys()
