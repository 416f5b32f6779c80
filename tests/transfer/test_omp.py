"""OMP kernel and the omp method: exact sparse recovery, pre-filter, options, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lexkit import LexkitError
from lexkit.transfer import TransferConfig, batched_omp, init_embeddings
from lexkit.transfer.omp import nearest_candidates, omp_coefficients


def sparse_problem(n_atoms=300, dim=128, batch=24, k=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    atoms = torch.randn(n_atoms, dim, generator=generator)
    support = torch.stack([torch.randperm(n_atoms, generator=generator)[:k] for _ in range(batch)])
    coefficients = torch.randn(batch, k, generator=generator)
    targets = (coefficients.unsqueeze(2) * atoms[support]).sum(1)
    return atoms, support, coefficients, targets


def as_dict(indices, coefficients):
    return [dict(zip(i.tolist(), c.tolist())) for i, c in zip(indices, coefficients)]


def test_omp_recovers_an_exactly_k_sparse_combination():
    atoms, support, coefficients, targets = sparse_problem()
    indices, found = batched_omp(targets, atoms, support.shape[1])
    for got, want in zip(as_dict(indices, found), as_dict(support, coefficients)):
        assert got.keys() == want.keys()
        for index, value in want.items():
            assert got[index] == pytest.approx(value, abs=1e-4)


def test_coefficients_are_least_squares_on_the_support():
    atoms, _, _, _ = sparse_problem()
    targets = torch.randn(5, atoms.shape[1], generator=torch.Generator().manual_seed(1))  # not sparse
    indices, found = batched_omp(targets, atoms, 10)
    for row in range(5):
        basis = atoms[indices[row]].T.double()
        solution = torch.linalg.lstsq(basis, targets[row].double()).solution
        np.testing.assert_allclose(found[row].numpy(), solution.numpy(), atol=1e-4)


def test_reorthogonalisation_does_not_change_the_result():
    atoms, support, _, targets = sparse_problem(k=9)
    plain = batched_omp(targets, atoms, 9)
    reorth = batched_omp(targets, atoms, 9, reorth_interval=2)
    assert torch.equal(plain[0], reorth[0])
    torch.testing.assert_close(plain[1], reorth[1], atol=1e-4, rtol=1e-4)


def test_duplicate_atoms_add_nothing_instead_of_exploding():
    atoms, support, coefficients, targets = sparse_problem(batch=8, k=3)
    doubled = torch.cat([atoms, atoms, torch.zeros(1, atoms.shape[1])])  # every atom twice, plus a zero atom
    indices, found = batched_omp(targets, doubled, 12)
    assert torch.isfinite(found).all() and found.abs().max() < 10
    rebuilt = (found.unsqueeze(2) * doubled[indices]).sum(1)
    torch.testing.assert_close(rebuilt, targets, atol=1e-4, rtol=1e-4)
    for row in range(8):  # the true support (in either copy) carries all the weight
        weights: dict[int, float] = {}
        for index, value in zip(indices[row].tolist(), found[row].tolist()):
            weights[index % len(atoms)] = weights.get(index % len(atoms), 0.0) + value
        for index, value in zip(support[row].tolist(), coefficients[row].tolist()):
            assert weights[index] == pytest.approx(value, abs=1e-4)


def test_reorthogonalisation_with_duplicates_keeps_the_solution():
    atoms, _, _, targets = sparse_problem(batch=4, k=3)
    doubled = torch.cat([atoms, atoms])
    plain = batched_omp(targets, doubled, 10)
    reorth = batched_omp(targets, doubled, 10, reorth_interval=3)
    for result in (plain, reorth):
        rebuilt = (result[1].unsqueeze(2) * doubled[result[0]]).sum(1)
        torch.testing.assert_close(rebuilt, targets, atol=1e-4, rtol=1e-4)


def test_normalize_atoms_selects_by_direction_not_norm():
    atoms = torch.tensor([[10.0, 0.0], [0.0, 1.0]])
    target = torch.tensor([[1.0, 1.2]])
    assert batched_omp(target, atoms, 1)[0].item() == 0  # raw correlation: the big atom wins
    assert batched_omp(target, atoms, 1, normalize_atoms=True)[0].item() == 1


def test_candidate_path_matches_exact_when_candidates_hold_the_support():
    atoms, support, coefficients, targets = sparse_problem(batch=6)
    everything = torch.arange(atoms.shape[0]).expand(6, -1)
    exact = batched_omp(targets, atoms, support.shape[1])
    restricted = batched_omp(targets, atoms, support.shape[1], candidates=everything)
    assert torch.equal(exact[0], restricted[0])
    torch.testing.assert_close(exact[1], restricted[1])


def test_prefilter_finds_one_sparse_targets_and_batches_consistently():
    atoms, support, coefficients, targets = sparse_problem(batch=40, k=1)
    nearest = nearest_candidates(targets, atoms, 5, block=7)
    assert (nearest[:, 0] == support[:, 0]).all()  # a scaled atom is its own nearest by cosine
    flipped = nearest_candidates(-targets, atoms, 5)
    assert torch.equal(flipped, nearest)  # absolute cosine: a negated target has the same candidates
    indices, found = omp_coefficients(targets, atoms, 1, prefilter=16, batch_size=7)
    assert (indices[:, 0] == support[:, 0].numpy()).all()
    np.testing.assert_allclose(found[:, 0], coefficients[:, 0].numpy(), atol=1e-4)


# --------------------------------------------------------------------------------------------------------------
# the omp method on tokenizers: synthetic spaces related by a known linear map
def synthetic_spaces(source_tokenizer, target_tokenizer, *, sparsity=3, seed=0, new_scale=1.0):
    """Source rows E; the target's true rows (anchors = source rows, new tokens = sparse anchor combinations);
    a donor space F = true rows @ A, A a scaled isometry into a larger dimension (so OMP's recovery guarantees
    for near-orthogonal atoms hold)."""
    from lexkit.transfer.anchors import match_anchors
    from lexkit.transfer.tokenizer import TransferTokenizer

    source = TransferTokenizer.from_any(source_tokenizer)
    target = TransferTokenizer.from_any(target_tokenizer)
    generator = torch.Generator().manual_seed(seed)
    matrix = torch.randn(len(source), 64, generator=generator) * 0.02
    anchors = match_anchors(source, target, source_rows=len(source))
    truth = torch.zeros(len(target), 64)
    anchor_targets = sorted(anchors.pairs)
    for t in anchor_targets:
        truth[t] = matrix[anchors.pairs[t]]
    for t in range(len(target)):
        if t not in anchors.pairs:
            chosen = torch.randperm(len(anchor_targets), generator=generator)[:sparsity]
            weights = torch.randn(sparsity, generator=generator)
            truth[t] = new_scale * (weights.unsqueeze(1) * truth[[anchor_targets[c] for c in chosen]]).sum(0)
    rotation = torch.linalg.qr(torch.randn(80, 64, generator=generator))[0].T  # (64, 80), orthonormal rows
    donor = truth @ rotation * 7.0
    return matrix, truth, donor, anchors


def test_omp_method_rebuilds_new_rows_exactly_and_copies_anchors(source_tokenizer, target_tokenizer):
    matrix, truth, donor, anchors = synthetic_spaces(source_tokenizer, target_tokenizer)
    rows, report = init_embeddings(matrix, source_tokenizer, target_tokenizer, "omp", donor_matrix=donor,
                                   config=TransferConfig(k=3), device="cpu")
    new = [p.target_id for p in report.provenance if p.status == "approximated"]
    assert len(new) > 50 and report.counts()["fallback"] == 0
    torch.testing.assert_close(rows[new], truth[new], atol=1e-5, rtol=1e-3)
    for target_id, source_id in anchors.pairs.items():
        assert torch.equal(rows[target_id], matrix[source_id])  # copied unchanged, bit for bit
    entry = report.provenance[new[0]]
    assert entry.estimate == "omp" and len(entry.sources) == 3 and entry.coefficient_l1 > 0
    mean_rows, _ = init_embeddings(matrix, source_tokenizer, target_tokenizer, "mean")
    assert (mean_rows[new] - truth[new]).norm() > 100 * (rows[new] - truth[new]).norm()  # mean cannot do this


def test_omp_prefilter_is_reported_and_close_on_sparse_spaces(source_tokenizer, target_tokenizer):
    matrix, truth, donor, _ = synthetic_spaces(source_tokenizer, target_tokenizer, sparsity=1)
    rows, report = init_embeddings(matrix, source_tokenizer, target_tokenizer, "omp", donor_matrix=donor,
                                   config=TransferConfig(k=1, prefilter=8))
    new = [p.target_id for p in report.provenance if p.status == "approximated"]
    torch.testing.assert_close(rows[new], truth[new], atol=1e-5, rtol=1e-3)
    assert any("pre-filter" in note for note in report.notes)


def test_k_is_capped_by_donor_dimension_and_must_not_exceed_anchors(source_tokenizer, target_tokenizer):
    matrix, _, donor, anchors = synthetic_spaces(source_tokenizer, target_tokenizer)
    _, report = init_embeddings(matrix, source_tokenizer, target_tokenizer, "omp", donor_matrix=donor[:, :4],
                                config=TransferConfig(k=6))
    assert any("capped from 6 to the donor dimension 4" in note for note in report.notes)
    with pytest.raises(LexkitError, match=r"k=\d+ exceeds the \d+ anchors"):
        init_embeddings(matrix, source_tokenizer, target_tokenizer, "omp", donor_matrix=donor,
                        config=TransferConfig(k=len(anchors) + 1))


def test_omp_without_donor_and_bad_options_raise_one_line_errors(source_tokenizer, target_tokenizer):
    matrix = torch.zeros(len(source_tokenizer.vocabulary), 8)
    with pytest.raises(LexkitError, match="needs a donor") as info:
        init_embeddings(matrix, source_tokenizer, target_tokenizer, "omp")
    assert "\n" not in str(info.value)
    with pytest.raises(LexkitError, match="prefilter=4 is smaller than k=8"):
        TransferConfig(k=8, prefilter=4)
    with pytest.raises(LexkitError, match="unknown transfer option"):
        TransferConfig.from_options({"kk": 3})
    with pytest.raises(LexkitError, match="unknown transfer method 'magic'"):
        init_embeddings(matrix, source_tokenizer, target_tokenizer, "magic")


def test_donor_shorter_than_the_target_falls_back_for_missing_rows(source_tokenizer, target_tokenizer):
    matrix, _, donor, _ = synthetic_spaces(source_tokenizer, target_tokenizer)
    cut = len(target_tokenizer.vocabulary) - 5
    _, report = init_embeddings(matrix, source_tokenizer, target_tokenizer, "omp", donor_matrix=donor[:cut],
                                config=TransferConfig(k=3))
    fallbacks = [p for p in report.provenance if p.status == "fallback"]
    assert fallbacks and all(p.target_id >= cut and "no donor row" in p.reason for p in fallbacks)


def test_centred_omp_rebuilds_affine_combinations_around_the_means(source_tokenizer, target_tokenizer):
    """Rows that share a large common component: new tokens are affine combinations around the mean, and the
    donor space is offset. Plain OMP must spend atoms on the offset; centred OMP recovers the rows exactly."""
    from lexkit.transfer.anchors import match_anchors
    from lexkit.transfer.tokenizer import TransferTokenizer

    source = TransferTokenizer.from_any(source_tokenizer)
    target = TransferTokenizer.from_any(target_tokenizer)
    anchors = match_anchors(source, target, source_rows=len(source))
    generator = torch.Generator().manual_seed(3)
    matrix = torch.randn(len(source), 64, generator=generator) * 0.02 + torch.randn(64, generator=generator)
    anchor_sources = sorted(anchors.pairs.values())
    mean = matrix[anchor_sources].mean(dim=0)
    others = [s for s in range(len(source)) if s not in set(anchor_sources)]
    matrix[others] = mean  # so that the source mean (all rows) is the anchors' mean
    truth = torch.zeros(len(target), 64)
    anchor_targets = sorted(anchors.pairs)
    for t in anchor_targets:
        truth[t] = matrix[anchors.pairs[t]]
    for t in range(len(target)):
        if t not in anchors.pairs:
            chosen = torch.randperm(len(anchor_targets), generator=generator)[:3]
            weights = torch.randn(3, generator=generator)
            truth[t] = mean + (weights.unsqueeze(1) * (truth[[anchor_targets[c] for c in chosen]] - mean)).sum(0)
    rotation = torch.linalg.qr(torch.randn(80, 64, generator=generator))[0].T
    donor = (truth - mean) @ rotation * 7.0 + 3.0 * torch.randn(80, generator=generator)

    centred, report = init_embeddings(matrix, source_tokenizer, target_tokenizer, "omp", donor_matrix=donor,
                                      config=TransferConfig(k=3, center=True), device="cpu")
    plain, _ = init_embeddings(matrix, source_tokenizer, target_tokenizer, "omp", donor_matrix=donor,
                               config=TransferConfig(k=3), device="cpu")
    new = [p.target_id for p in report.provenance if p.status == "approximated"]
    assert len(new) > 50
    torch.testing.assert_close(centred[new], truth[new], atol=1e-4, rtol=1e-3)
    assert (plain[new] - truth[new]).norm() > 100 * (centred[new] - truth[new]).norm()
    entry = report.provenance[new[0]]
    assert entry.mean_weight == pytest.approx(1.0 - sum(entry.weights), abs=1e-6)
    assert entry.to_json()["mean_weight"] == round(entry.mean_weight, 6)
    assert any("centred OMP" in note for note in report.notes)
