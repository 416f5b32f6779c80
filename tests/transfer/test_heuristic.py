"""The TokenAdapt-style heuristic against a hand computation, its branches, and the default auxiliary model."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch
from _resources import minilm_dir

from lexkit import LexkitError
from lexkit.transfer import TransferConfig, auxiliary_embedder, init_embeddings
from lexkit.transfer.auxiliary import default_auxiliary_model, resolve_auxiliary
from lexkit.transfer.tokenizer import TEXT_KINDS, TransferTokenizer


class HashEmbedder:
    """A deterministic fake auxiliary space: each string gets its own seeded Gaussian vector (no ties)."""

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts):
        self.calls += 1
        return np.stack([np.random.default_rng(zlib.crc32(t.encode())).standard_normal(32) for t in texts]
                        ).astype(np.float32)


def unit(vector):
    return vector / np.linalg.norm(vector)


def softmax(values):
    values = np.exp(values - values.max())
    return values / values.sum()


def expected_row(token_id, matrix, source, target, *, tau=0.3, weight=0.3, top_k=3, threshold=0.0, shrink=0.4):
    """TokenAdapt's heuristic, written out directly, then pulled ``shrink`` toward the mean row."""
    embed = HashEmbedder()
    text = target.text(token_id)
    query = unit(embed.embed([text])[0])
    pieces = source.decompose(target.vocabulary.tokens[token_id].content)
    tau = tau + 1e-5
    local = None
    if pieces:
        strings = [source.text(p) for p in pieces]
        sims = np.array([unit(v) @ query for v in embed.embed(strings)])
        lengths = np.array([len(s) / len(text) for s in strings])
        weights = softmax(((softmax(sims) + lengths) / 2) / tau)
        local = (torch.from_numpy(weights).float().unsqueeze(1) * matrix[pieces]).sum(0)
    indexed = [t.id for t in source.vocabulary.tokens if t.kind in TEXT_KINDS]
    cosines = np.array([unit(v) @ query for v in embed.embed([source.text(i) for i in indexed])])
    order = np.argsort(-cosines)[:top_k]
    top = cosines[order]
    glob = None
    if (top >= threshold).any():
        weights = softmax(top / tau) * (top >= threshold)
        weights = weights / weights.sum()
        glob = (torch.from_numpy(weights).float().unsqueeze(1) * matrix[[indexed[j] for j in order]]).sum(0)
    if local is not None and glob is not None:
        estimate = (1 - weight) * local + weight * glob
    else:
        estimate = local if local is not None else glob
    return (1 - shrink) * estimate + shrink * matrix.mean(0)


@pytest.fixture
def matrix(source_tokenizer):
    return torch.randn(len(source_tokenizer.vocabulary), 8, generator=torch.Generator().manual_seed(0))


def test_heuristic_matches_a_hand_computation(matrix, source_tokenizer, target_tokenizer):
    embedder = HashEmbedder()
    rows, report = init_embeddings(matrix, source_tokenizer, target_tokenizer, "heuristic", aux=embedder)
    assert embedder.calls == 1  # every string embedded in one call
    source = TransferTokenizer.from_any(source_tokenizer)
    target = TransferTokenizer.from_any(target_tokenizer)
    approximated = [p for p in report.provenance if p.status == "approximated"]
    assert len(approximated) > 50 and all(p.estimate == "local+global" for p in approximated)
    for entry in approximated[:25]:
        torch.testing.assert_close(rows[entry.target_id], expected_row(entry.target_id, matrix, source, target),
                                   atol=1e-5, rtol=1e-4)
        assert entry.mean_weight == pytest.approx(0.4)
        assert sum(entry.weights) + entry.mean_weight == pytest.approx(1.0, abs=1e-5)


def test_heuristic_options_and_branches(matrix, source_tokenizer, target_tokenizer, ascii_source):
    source = TransferTokenizer.from_any(source_tokenizer)
    target = TransferTokenizer.from_any(target_tokenizer)
    options = TransferConfig(temperature=0.6, global_weight=0.5, top_k=5, shrink=0.0)  # 0: TokenAdapt's rows
    rows, report = init_embeddings(matrix, source_tokenizer, target_tokenizer, "heuristic", aux=HashEmbedder(),
                                   config=options)
    entry = next(p for p in report.provenance if p.status == "approximated")
    assert entry.mean_weight == 0.0 and sum(entry.weights) == pytest.approx(1.0, abs=1e-5)
    torch.testing.assert_close(rows[entry.target_id], expected_row(entry.target_id, matrix, source, target, tau=0.6,
                                                                   weight=0.5, top_k=5, shrink=0.0), atol=1e-5, rtol=1e-4)
    with pytest.raises(LexkitError, match="shrink=1.5"):
        TransferConfig(shrink=1.5)
    # no neighbour reaches the threshold: local only
    rows, report = init_embeddings(matrix, source_tokenizer, target_tokenizer, "heuristic", aux=HashEmbedder(),
                                   config=TransferConfig(similarity_threshold=1.1))
    entry = next(p for p in report.provenance if p.status == "approximated")
    assert entry.estimate == "local"
    torch.testing.assert_close(rows[entry.target_id], expected_row(entry.target_id, matrix, source, target,
                                                                   threshold=1.1), atol=1e-5, rtol=1e-4)
    # a byte the source cannot decompose: global only, or a fallback when the threshold removes the neighbours
    byte_e9 = target_tokenizer.vocabulary.byte_ids[0xE9]
    ascii_rows = torch.randn(129, 8)
    _, report = init_embeddings(ascii_rows, ascii_source, target_tokenizer, "heuristic", aux=HashEmbedder(),
                                config=TransferConfig(similarity_threshold=-1.0))
    assert report.provenance[byte_e9].estimate == "global"
    rows, report = init_embeddings(ascii_rows, ascii_source, target_tokenizer, "heuristic",
                                   aux=HashEmbedder(), config=TransferConfig(similarity_threshold=1.1))
    assert report.provenance[byte_e9].status == "fallback" and "no global neighbour" in report.provenance[byte_e9].reason
    torch.testing.assert_close(rows[byte_e9], ascii_rows.mean(0))


def test_default_auxiliary_model_is_minilm_with_mean_pooling():
    embedder = auxiliary_embedder(minilm_dir(), device="cpu")
    vectors = embedder.embed(["The cat sat on the mat.", "A feline rested on a rug.", "The cat sat on the mat."])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert float(unit(vectors[0]) @ unit(vectors[1])) == pytest.approx(0.553, abs=0.01)  # measured
    assert np.array_equal(vectors[0], vectors[2])  # cached by string


def test_auxiliary_lookup_errors(monkeypatch, tmp_path):
    monkeypatch.delenv("LEXKIT_AUX_MODEL", raising=False)
    # library code never looks in the developer fixture cache, here a ./cache/fixtures/minilm that looks complete
    (tmp_path / "cache" / "fixtures" / "minilm").mkdir(parents=True)
    (tmp_path / "cache" / "fixtures" / "minilm" / "config.json").write_text("{}")
    monkeypatch.setenv("LEXKIT_FIXTURES", str(tmp_path / "cache" / "fixtures"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LexkitError, match="no auxiliary embedding model found"):
        default_auxiliary_model()
    with pytest.raises(LexkitError, match="cannot embed token strings"):
        resolve_auxiliary(3.5)
    with pytest.raises(LexkitError, match="no config.json, so this is not a transformers checkpoint"):
        auxiliary_embedder(tmp_path)
