"""Visual-token statistics: raw codebook codes vs visual-BPE tokens, as language-like sequences.

Follows Chan et al., "Analyzing The Language of Visual Tokens" (arXiv 2411.05001): images are read as token
sequences in raster order and compared through rank-frequency (Zipf) fits for n-grams, token innovation,
entropy, compression and Rényi efficiency (Zouhar et al. 2023, "Tokenization and the Noiseless Channel",
which recommends alpha = 2.5). Where the paper leaves a definition open, several labelled variants are
reported:

- compression: ``entropy`` = 1 - H / log2 V; ``huffman`` = 1 - (Huffman mean code length) / ceil(log2 V);
  ``zlib`` and ``lzma`` = 1 - compressed / raw size of a fixed-width big-endian serialization. The paper's
  2.9 % (visual) vs 34.9 % (text) is closest to the ``entropy`` variant, whose definition it does not give;
- Zipf: the least-squares slope of log frequency on log rank, and a maximum-likelihood power-law exponent of
  the type frequencies (Clauset, Shalizi and Newman 2009, continuous approximation with x_min = 1) with its
  Kolmogorov-Smirnov distance and a lognormal alternative compared by Vuong's normalized log-likelihood ratio.

Compute and render are separate: `analyze_visual_tokens` returns a dataclass; `plot_visual_report` draws it
(matplotlib is imported only there). Grammar induction and cross-modal alignment (items 7-8 of the paper) are
out of scope.
"""

from __future__ import annotations

import heapq
import io
import logging
import lzma
import math
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from lexkit.analysis.metrics import rank_frequency_line
from lexkit.encoders.visual import VisualEncoder
from lexkit.grids import check_grids
from lexkit.vocabulary import Vocabulary

logger = logging.getLogger(__name__)

__all__ = [
    "TokenStatistics",
    "VisualTokenReport",
    "ZipfFit",
    "analyze_visual_tokens",
    "plot_visual_report",
    "sequence_statistics",
]


@dataclass(frozen=True)
class ZipfFit:
    """Rank-frequency fit of the n-grams of one order.

    Attributes:
        order: n-gram order ``n``.
        types: distinct n-grams seen.
        slope: least-squares slope of log10 frequency on log10 rank (about -1 for Zipf's law).
        r_squared: coefficient of determination of that line.
        exponent: maximum-likelihood power-law exponent of the type frequencies (Clauset et al.).
        ks_distance: Kolmogorov-Smirnov distance between the frequencies and the fitted power law.
        lognormal_mu: mean of log frequency (the lognormal fit).
        lognormal_sigma: standard deviation of log frequency.
        likelihood_ratio: Vuong's normalized log-likelihood ratio, power law minus lognormal (negative: the
            lognormal fits better).
        p_value: two-sided p-value of that ratio.
    """

    order: int
    types: int
    slope: float
    r_squared: float
    exponent: float
    ks_distance: float
    lognormal_mu: float
    lognormal_sigma: float
    likelihood_ratio: float
    p_value: float


@dataclass(frozen=True)
class TokenStatistics:
    """Statistics of one set of token sequences (one sequence per image).

    Attributes:
        name: label (``"raw codes"``, ``"visual BPE"``).
        vocab_size: the number of possible tokens ``V`` (codebook size, or vocabulary size).
        images: sequences analysed.
        tokens: tokens in all sequences.
        tokens_per_image: mean sequence length.
        distinct: distinct tokens used.
        utilization: ``distinct / V``.
        entropy_bits: unigram Shannon entropy H.
        perplexity: ``2 ** H``.
        normalized_entropy: ``H / log2 V``.
        conditional_entropy_bits: ``H(X_t | X_t-1)`` along the sequences.
        renyi_alpha: order of the Rényi entropy.
        renyi_entropy_bits: ``H_alpha = log2(sum p^alpha) / (1 - alpha)``.
        renyi_efficiency: ``H_alpha / log2 V``.
        huffman_bits: mean Huffman code length of the unigram distribution.
        compression: the labelled compression rates (see the module docstring).
        innovation: distinct tokens seen after each image (images in a seeded random order).
        images_to_90_percent: images needed to reach 90 % of the final distinct count.
        benford_chi2: chi-squared of the leading digits of token counts against Benford's law.
        benford_mad: mean absolute deviation from Benford's law.
        zipf: one fit per n-gram order.
    """

    name: str
    vocab_size: int
    images: int
    tokens: int
    tokens_per_image: float
    distinct: int
    utilization: float
    entropy_bits: float
    perplexity: float
    normalized_entropy: float
    conditional_entropy_bits: float
    renyi_alpha: float
    renyi_entropy_bits: float
    renyi_efficiency: float
    huffman_bits: float
    compression: dict[str, float]
    innovation: list[int]
    images_to_90_percent: int
    benford_chi2: float
    benford_mad: float
    zipf: list[ZipfFit]


@dataclass(frozen=True)
class VisualTokenReport:
    """Raw codes vs visual-BPE tokens on the same grids.

    Attributes:
        raw: statistics of the codes in raster order.
        raw_columns: the same in column-major order (a sensitivity check for the raster choice).
        bpe: statistics of the visual-BPE tokens, when a vocabulary was given.
        bpe_details: merge directions, patch sizes, merge depths, spatial consistency at merge time, and the
            share of learned tokens never used on these grids (empty without a vocabulary).
        frequencies: descending unigram counts of raw codes and of BPE tokens (for plots).
    """

    raw: TokenStatistics
    raw_columns: TokenStatistics
    bpe: TokenStatistics | None
    bpe_details: dict[str, Any]
    frequencies: dict[str, list[int]]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (innovation curves and frequencies included)."""
        return asdict(self)

    def lines(self) -> list[str]:
        """A Markdown table comparing raw codes and BPE tokens."""
        columns = [self.raw, self.raw_columns] + ([self.bpe] if self.bpe is not None else [])
        rows: list[tuple[str, Any]] = [
            ("vocabulary size", lambda s: s.vocab_size),
            ("tokens per image", lambda s: f"{s.tokens_per_image:.1f}"),
            ("distinct tokens (utilization)", lambda s: f"{s.distinct} ({s.utilization:.1%})"),
            ("entropy, bits (normalized)", lambda s: f"{s.entropy_bits:.2f} ({s.normalized_entropy:.3f})"),
            ("conditional entropy, bits", lambda s: f"{s.conditional_entropy_bits:.2f}"),
            ("Rényi efficiency", lambda s: f"{s.renyi_efficiency:.3f} (alpha {s.renyi_alpha})"),
            ("compression entropy / huffman", lambda s: f"{s.compression['entropy']:.3f} / "
                                                          f"{s.compression['huffman']:.3f}"),
            ("compression zlib / lzma", lambda s: f"{s.compression['zlib']:.3f} / {s.compression['lzma']:.3f}"),
            ("images to 90 % of types", lambda s: s.images_to_90_percent),
            ("Zipf slope n=1 (R²)", lambda s: f"{s.zipf[0].slope:.2f} ({s.zipf[0].r_squared:.2f})"),
            ("power-law exponent n=1", lambda s: f"{s.zipf[0].exponent:.2f}"),
            ("power law vs lognormal (p)", lambda s: f"{s.zipf[0].likelihood_ratio:.1f} ({s.zipf[0].p_value:.2g})"),
        ]
        out = ["| metric | " + " | ".join(s.name for s in columns) + " |",
               "|---|" + "---:|" * len(columns)]
        out += [f"| {label} | " + " | ".join(str(get(s)) for s in columns) + " |" for label, get in rows]
        if self.bpe_details:
            details = self.bpe_details
            out.append("")
            out.append(f"merges: {details['merges']} ({details['share_right']:.1%} right, "
                       f"{details['share_below']:.1%} below); learned tokens unused on these grids: "
                       f"{details['unused_share']:.1%}; mean patch size {details['mean_patch_size']:.2f} cells")
        return out


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def _huffman_bits(counts: np.ndarray) -> float:
    """Mean code length of a Huffman code for these counts (0 for a single symbol)."""
    weights = [int(c) for c in counts if c > 0]
    if len(weights) < 2:
        return 0.0
    heap = list(weights)
    heapq.heapify(heap)
    total_length = 0  # the sum of merged weights is the total code length over all symbols
    while len(heap) > 1:
        merged = heapq.heappop(heap) + heapq.heappop(heap)
        total_length += merged
        heapq.heappush(heap, merged)
    return total_length / sum(weights)


def _ngram_counts(sequences: Sequence[np.ndarray], order: int, vocab_size: int) -> np.ndarray:
    """Counts of the distinct n-grams of one order (within sequences), as a descending array."""
    packed = []
    for sequence in sequences:
        if len(sequence) < order:
            continue
        windows = np.zeros(len(sequence) - order + 1, dtype=np.int64)
        for offset in range(order):
            windows = windows * vocab_size + sequence[offset:len(sequence) - order + 1 + offset]
        packed.append(windows)
    if not packed:
        return np.zeros(0, dtype=np.int64)
    _, counts = np.unique(np.concatenate(packed), return_counts=True)
    return np.sort(counts)[::-1]


def _zipf_fit(order: int, counts: np.ndarray) -> ZipfFit:
    """Least-squares rank-frequency line, power-law MLE with KS distance, lognormal fit and Vuong's test."""
    nan = float("nan")
    if len(counts) < 3:
        return ZipfFit(order, len(counts), nan, nan, nan, nan, nan, nan, nan, nan)
    slope, fit = rank_frequency_line(counts.astype(np.float64))
    r_squared = 1.0 if fit is None else fit  # equal counts: a flat line fits them exactly
    values = counts.astype(np.float64)
    shifted = 0.5  # x_min - 1/2: Clauset et al.'s continuous approximation for discrete data, x_min = 1
    logs = np.log(values / shifted)
    exponent = 1.0 + len(values) / float(logs.sum())
    ordered = np.sort(values)
    empirical = np.arange(1, len(ordered) + 1) / len(ordered)
    fitted = 1.0 - (ordered / shifted) ** (1.0 - exponent)
    # both sides of each step of the empirical CDF: above (i / n) and below ((i - 1) / n) the fitted law
    ks = float(max((empirical - fitted).max(), (fitted - (empirical - 1.0 / len(ordered))).max()))
    log_values = np.log(values)
    mu, sigma = float(log_values.mean()), float(max(log_values.std(), 1e-12))
    power = math.log((exponent - 1.0) / shifted) - exponent * logs
    lognormal = -log_values - math.log(sigma * math.sqrt(2 * math.pi)) - (log_values - mu) ** 2 / (2 * sigma ** 2)
    difference = power - lognormal
    spread = float(difference.std())
    ratio = float(difference.sum() / (math.sqrt(len(values)) * spread)) if spread > 0 else 0.0
    return ZipfFit(order, len(counts), slope, r_squared, float(exponent), ks, mu, sigma, ratio,
                   math.erfc(abs(ratio) / math.sqrt(2)))


def sequence_statistics(sequences: Sequence[Sequence[int] | np.ndarray], vocab_size: int, *, name: str, seed: int = 0,
                        renyi_alpha: float = 2.5, max_order: int = 4) -> TokenStatistics:
    """Statistics of token sequences (one per image) over a vocabulary of ``vocab_size`` tokens.

    Args:
        sequences: token ids per image.
        vocab_size: the number of possible tokens ``V``.
        name: label for reports.
        seed: order of images in the innovation curve.
        renyi_alpha: order of the Rényi entropy (Zouhar et al. recommend 2.5).
        max_order: largest n-gram order fitted (orders whose packed ids would overflow 62 bits are skipped).

    Raises:
        ValueError: no tokens, or an id outside ``range(vocab_size)``.

    >>> stats = sequence_statistics([[0, 1, 1, 2], [1, 1, 1, 1]], 4, name="toy")
    >>> stats.distinct, round(stats.entropy_bits, 3), stats.innovation
    (3, 1.061, [3, 3])
    """
    arrays = [np.asarray(s, dtype=np.int64) for s in sequences]
    flat = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)
    if not len(flat):
        raise ValueError(f"{name}: no tokens to analyse; pass at least one non-empty sequence")
    if flat.min() < 0 or flat.max() >= vocab_size:
        raise ValueError(f"{name}: token id {int(flat.max())} is outside range({vocab_size}); pass the right size")
    counts = np.bincount(flat, minlength=vocab_size)
    entropy = _entropy(counts)
    pairs = [np.stack([a[:-1], a[1:]]) for a in arrays if len(a) > 1]
    conditional = 0.0
    if pairs:
        joined = np.concatenate(pairs, axis=1)
        _, pair_counts = np.unique(joined[0] * vocab_size + joined[1], return_counts=True)
        conditional = _entropy(pair_counts) - _entropy(np.bincount(joined[0], minlength=vocab_size))
    p = counts[counts > 0] / counts.sum()
    renyi = float(np.log2((p ** renyi_alpha).sum()) / (1.0 - renyi_alpha))
    capacity = math.log2(vocab_size) if vocab_size > 1 else 1.0
    huffman = _huffman_bits(counts)
    width = 2 if vocab_size <= 1 << 16 else 4
    raw = flat.astype(f">u{width}").tobytes()
    compression = {
        "entropy": 1.0 - entropy / capacity,
        "huffman": 1.0 - huffman / max(math.ceil(capacity), 1),
        "zlib": 1.0 - len(zlib.compress(raw, 9)) / len(raw),
        "lzma": 1.0 - len(lzma.compress(raw)) / len(raw),
    }
    order = np.random.default_rng(seed).permutation(len(arrays))
    seen: set[int] = set()
    innovation = []
    for index in order:
        seen.update(arrays[index].tolist())
        innovation.append(len(seen))
    target = 0.9 * innovation[-1]
    images_to_90 = next(i + 1 for i, value in enumerate(innovation) if value >= target)
    nonzero = counts[counts > 0]
    leading = np.array([int(str(int(c))[0]) for c in nonzero])
    expected = np.log10(1 + 1 / np.arange(1, 10))
    observed = np.bincount(leading, minlength=10)[1:] / len(leading)
    chi2 = float(len(leading) * ((observed - expected) ** 2 / expected).sum())
    fits = [_zipf_fit(n, _ngram_counts(arrays, n, vocab_size)) for n in range(1, max_order + 1)
            if vocab_size ** n < 1 << 62]
    return TokenStatistics(
        name=name, vocab_size=vocab_size, images=len(arrays), tokens=int(len(flat)),
        tokens_per_image=float(len(flat) / len(arrays)), distinct=int((counts > 0).sum()),
        utilization=float((counts > 0).sum() / vocab_size), entropy_bits=entropy, perplexity=2.0 ** entropy,
        normalized_entropy=entropy / capacity, conditional_entropy_bits=float(conditional),
        renyi_alpha=renyi_alpha, renyi_entropy_bits=renyi, renyi_efficiency=renyi / capacity,
        huffman_bits=huffman, compression=compression, innovation=innovation,
        images_to_90_percent=images_to_90, benford_chi2=chi2, benford_mad=float(np.abs(observed - expected).mean()),
        zipf=fits,
    )


def _bpe_details(vocabulary: Vocabulary, encoder: VisualEncoder, used: set[int]) -> dict[str, Any]:
    merges = encoder.merges
    size = vocabulary.alphabet.size
    depth = [0] * len(encoder.patches)
    for merge in merges:
        if not depth[merge.result]:
            depth[merge.result] = 1 + max(depth[merge.left], depth[merge.right])
    learned = range(size, len(encoder.patches))
    consistency = vocabulary.metadata.get("visual", {}).get("consistency", [])
    below = sum(1 for m in merges if m.relation == 1)
    return {
        "merges": len(merges),
        "share_right": (len(merges) - below) / len(merges) if merges else 0.0,
        "share_below": below / len(merges) if merges else 0.0,
        "patch_sizes": dict(sorted(Counter(len(encoder.patches[t]) for t in learned).items())),
        "mean_patch_size": float(np.mean([len(encoder.patches[t]) for t in learned])) if len(learned) else 1.0,
        "merge_depths": dict(sorted(Counter(depth[t] for t in learned).items())),
        "consistency_quantiles": ([float(q) for q in np.quantile(consistency, [0.1, 0.5, 0.9])]
                                  if consistency else []),
        "unused_share": (sum(1 for t in learned if t not in used) / len(learned)) if len(learned) else 0.0,
    }


def analyze_visual_tokens(grids: Any, codebook_size: int | None = None, *, vocabulary: Vocabulary | None = None,
                          seed: int = 0, renyi_alpha: float = 2.5) -> VisualTokenReport:
    """Compare raw codes (raster and column order) and, with a vocabulary, visual-BPE tokens on ``grids``.

    Args:
        grids: an ``(N, H, W)`` integer array or a list of 2-D grids.
        codebook_size: ``K``; default: the vocabulary's codebook size, else the largest code + 1.
        vocabulary: a visual-BPE vocabulary to encode the grids with.
        seed: order of images in the innovation curves.
        renyi_alpha: order of the Rényi entropy.

    Raises:
        CorpusError: bad grids (see `lexkit.grids.check_grids`).
        UnsupportedAlphabetError: ``vocabulary`` is not a visual one.
    """
    if codebook_size is None and vocabulary is not None:
        codebook_size = vocabulary.alphabet.size
    checked = check_grids(grids, codebook_size)
    size = codebook_size if codebook_size is not None else max(int(g.max()) for g in checked) + 1
    raw = sequence_statistics([g.ravel() for g in checked], size, name="raw codes", seed=seed,
                              renyi_alpha=renyi_alpha)
    columns = sequence_statistics([g.T.ravel() for g in checked], size, name="raw codes, column order",
                                  seed=seed, renyi_alpha=renyi_alpha)
    frequencies = {"raw codes": np.sort(np.bincount(np.concatenate([g.ravel() for g in checked])))[::-1]}
    bpe, details = None, {}
    if vocabulary is not None:
        encoder = VisualEncoder(vocabulary)
        sequences = [e.ids for e in encoder.encode_grids(checked)]
        bpe = sequence_statistics(sequences, len(vocabulary), name="visual BPE", seed=seed,
                                  renyi_alpha=renyi_alpha)
        used = {token for sequence in sequences for token in sequence}
        details = _bpe_details(vocabulary, encoder, used)
        frequencies["visual BPE"] = np.sort(np.bincount(np.concatenate([np.asarray(s) for s in sequences])))[::-1]
    return VisualTokenReport(raw=raw, raw_columns=columns, bpe=bpe, bpe_details=details,
                             frequencies={k: [int(c) for c in v if c > 0] for k, v in frequencies.items()})


def plot_visual_report(report: VisualTokenReport, path: str | PathLike[str] | None = None) -> bytes:
    """Draw rank-frequency curves, innovation curves and the headline ratios; return (and save) a PNG.

    Args:
        report: from `analyze_visual_tokens`.
        path: where to write the PNG as well (optional).

    Returns:
        The PNG bytes.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    stats = [s for s in (report.raw, report.bpe) if s is not None]
    figure, (zipf_axis, innovation_axis, bars_axis) = plt.subplots(1, 3, figsize=(15, 4.2))
    for label, counts in report.frequencies.items():
        zipf_axis.loglog(np.arange(1, len(counts) + 1), counts, label=label)
    zipf_axis.set(xlabel="rank", ylabel="frequency", title="rank-frequency (unigrams)")
    zipf_axis.legend()
    for s in stats:
        innovation_axis.plot(np.arange(1, len(s.innovation) + 1), s.innovation, label=s.name)
    innovation_axis.set(xlabel="images", ylabel="distinct tokens", title="token innovation")
    innovation_axis.legend()
    metrics = ["normalized entropy", "Rényi efficiency", "compression (entropy)", "compression (zlib)"]
    values = [[s.normalized_entropy, s.renyi_efficiency, s.compression["entropy"], s.compression["zlib"]]
              for s in stats]
    width = 0.8 / len(stats)
    for i, (s, row) in enumerate(zip(stats, values)):
        bars_axis.bar(np.arange(len(metrics)) + i * width, row, width, label=s.name)
    bars_axis.set_xticks(np.arange(len(metrics)) + width * (len(stats) - 1) / 2, metrics, rotation=15)
    bars_axis.set(title="ratios", ylim=(0, 1))
    bars_axis.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    data = buffer.getvalue()
    if path is not None:
        from lexkit.atomic import atomic_write_bytes

        atomic_write_bytes(Path(path), data)
    return data
