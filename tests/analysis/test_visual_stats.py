"""Visual-token statistics: hand-computed values, Zipf fits on known laws, raw codes vs BPE on real digits."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import scipy.stats
from _image_grids import digit_images

from lexkit.analysis.visual_stats import analyze_visual_tokens, plot_visual_report, sequence_statistics
from lexkit.vocab.visual import VisualBPEConfig, VisualBPETrainer


def test_hand_computed_entropies_and_compression():
    # 8 tokens over V = 4: counts 4, 2, 1, 1 -> H = 1.75 bits; Huffman lengths 1, 2, 3, 3 -> also 1.75 bits
    stats = sequence_statistics([[0, 0, 1, 2], [0, 0, 1, 3]], 4, name="toy")
    assert stats.entropy_bits == pytest.approx(1.75)
    assert stats.huffman_bits == pytest.approx(1.75)
    assert stats.normalized_entropy == pytest.approx(1.75 / 2)
    assert stats.compression["entropy"] == pytest.approx(1 - 1.75 / 2)
    assert stats.compression["huffman"] == pytest.approx(1 - 1.75 / 2)
    p = np.array([4, 2, 1, 1]) / 8
    assert stats.renyi_entropy_bits == pytest.approx(math.log2((p ** 2.5).sum()) / (1 - 2.5))
    assert stats.renyi_efficiency == pytest.approx(stats.renyi_entropy_bits / 2)
    # H(X_t | X_t-1): pairs 00, 01, 12, 00, 01, 13 -> H(pairs) - H(first) = log2(6) - 2/3*1 ... computed directly
    pairs = np.array([2, 2, 1, 1]) / 6
    first = np.array([4, 2]) / 6
    expected = -(pairs * np.log2(pairs)).sum() + (first * np.log2(first)).sum()
    assert stats.conditional_entropy_bits == pytest.approx(expected)
    assert stats.tokens_per_image == 4 and stats.distinct == 4 and stats.utilization == 1.0
    assert sorted(stats.innovation) == stats.innovation and stats.innovation[-1] == 4


def test_innovation_and_benford():
    stats = sequence_statistics([[0]] * 9 + [[1, 2, 3]], 4, name="late", seed=1)
    assert stats.innovation[-1] == 4 and len(stats.innovation) == 10
    assert stats.images_to_90_percent == stats.innovation.index(4) + 1
    benford = sequence_statistics([[int(t) for t in np.repeat(np.arange(9), [1, 2, 3, 4, 5, 6, 7, 8, 9])]], 9,
                                  name="digits")
    # counts 1..9: each leading digit once, a uniform 1/9 against Benford's log10(1 + 1/d)
    law = np.log10(1 + 1 / np.arange(1, 10))
    assert benford.benford_mad == pytest.approx(np.abs(1 / 9 - law).mean())
    assert benford.benford_chi2 == pytest.approx(9 * ((1 / 9 - law) ** 2 / law).sum())


def test_zipf_fit_recovers_a_zipf_law():
    counts = np.rint(10_000 / np.arange(1, 401)).astype(int)
    sequence = np.repeat(np.arange(400), counts)
    fit = sequence_statistics([sequence], 400, name="zipf", max_order=1).zipf[0]
    assert fit.slope == pytest.approx(-1.0, abs=0.05) and fit.r_squared > 0.99
    assert fit.types == 400
    # Clauset et al.: the continuous MLE with x_min = 1 (shift 1/2), the KS distance to that law (scipy's
    # two-sided statistic) and Vuong's test against a lognormal fitted by its log moments (scipy's densities).
    values = counts.astype(np.float64)
    exponent = 1 + len(values) / np.log(values / 0.5).sum()
    assert fit.exponent == pytest.approx(exponent)
    ks = scipy.stats.kstest(values, lambda x: 1 - (x / 0.5) ** (1 - exponent)).statistic
    assert fit.ks_distance == pytest.approx(ks)
    logs = np.log(values)
    power = np.log((exponent - 1) / 0.5) - exponent * np.log(values / 0.5)
    lognormal = scipy.stats.lognorm(s=logs.std(), scale=np.exp(logs.mean())).logpdf(values)
    ratio = (power - lognormal).sum() / (np.sqrt(len(values)) * (power - lognormal).std())
    assert fit.likelihood_ratio == pytest.approx(ratio)
    assert fit.p_value == pytest.approx(2 * scipy.stats.norm.sf(abs(ratio)), rel=1e-6, abs=1e-300)


def test_raw_codes_vs_bpe_on_real_digits(tmp_path):
    grids = np.rint(digit_images()[..., 0] * 16).astype(np.int64)
    vocabulary = VisualBPETrainer(VisualBPEConfig(num_merges=100)).train(grids[:1000], 17)
    report = analyze_visual_tokens(grids[1000:], vocabulary=vocabulary)
    assert report.raw.tokens_per_image == 64 and report.bpe is not None
    assert report.bpe.tokens_per_image < 40
    assert report.bpe.vocab_size == len(vocabulary) and report.raw.vocab_size == 17
    assert report.raw.entropy_bits == report.raw_columns.entropy_bits  # same unigrams, other order
    assert [f.order for f in report.raw.zipf] == [1, 2, 3, 4]
    details = report.bpe_details
    assert details["merges"] == 100 and details["share_right"] + details["share_below"] == pytest.approx(1)
    assert 0 <= details["unused_share"] <= 1 and sum(details["patch_sizes"].values()) == len(vocabulary) - 17
    json.dumps(report.to_json())
    assert report.lines()[0].startswith("| metric | raw codes")
    png = plot_visual_report(report, tmp_path / "plot.png")
    assert png.startswith(b"\x89PNG") and (tmp_path / "plot.png").read_bytes() == png


def test_raw_only_report_and_errors():
    report = analyze_visual_tokens([np.array([[0, 1], [1, 0]])])
    assert report.bpe is None and report.raw.vocab_size == 2 and report.bpe_details == {}
    with pytest.raises(ValueError, match="outside range"):
        sequence_statistics([[5]], 4, name="bad")


def test_matplotlib_is_imported_only_to_plot(tmp_path):
    code = ("import sys, lexkit.analysis.visual_stats, lexkit.vocab.visual; "
            "print(sorted(m for m in ('matplotlib', 'torch', 'skimage', 'sklearn') if m in sys.modules))")
    # subtle: run outside the repository so the bare source folders cannot shadow the installed package
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip() == "[]"
