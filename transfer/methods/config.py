"""The transfer methods' names and options: `Method`, `TransferConfig` and the CLI's measured `OmpDefaults`."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from lexkit.errors import LexkitError

if TYPE_CHECKING:
    import torch

__all__ = ["Method", "OmpDefaults", "TransferConfig"]


class Method(str, enum.Enum):
    """Approximation methods; the values are also the CLI choices."""

    OMP = "omp"
    HEURISTIC = "heuristic"
    MEAN = "mean"
    SUBWORD_MEAN = "subword-mean"
    RANDOM = "random"
    ZERO = "zero"
    HYPERNETWORK = "hypernetwork"

    @classmethod
    def parse(cls, value: str | Method) -> Method:
        """The method named ``value``.

        Raises:
            LexkitError: no method has that name.
        """
        try:
            return cls(value)
        except ValueError:
            raise LexkitError(
                f"unknown transfer method {value!r}; lexkit implements {', '.join(m.value for m in cls)}; "
                "pass one of those as method="
            ) from None


@dataclass(frozen=True)
class OmpDefaults:
    """The OMP settings `lexkit transplant` uses when none are given, per device, chosen by measurement.

    CPU: on the Qwen2.5 tokenizer -> SmolLM2-135M swap (donor Qwen2.5-Coder-0.5B, 112k new rows, 39k anchors, 2
    cores, `bench/bench_omp_defaults.py`) k=8 inside 64 candidates ranked in 128 principal directions gave 2.06 bits
    per byte in a 45 s matrix stage, 89 s for the whole CLI command (64 directions: 2.11; mean init 2.46); the
    exact search of 256 candidates (1.91) took 296 s. CUDA: the exact search is cheap on a GPU, so the best setting
    measured regardless of time (k=64, pre-filter 1024, full-dimension search: 1.87) is used; it was not timed on a
    GPU here.
    """

    k: int
    prefilter: int
    search_dim: int | None
    center: bool = True

    @classmethod
    def for_device(cls, device: torch.device | str) -> OmpDefaults:
        """The defaults for ``device`` (``cuda`` or anything else, which gets the CPU settings)."""
        return cls(64, 1024, None) if str(device).startswith("cuda") else cls(8, 64, 128)


@dataclass(frozen=True)
class TransferConfig:
    """Options of the approximation methods, validated before any work starts.

    Args:
        k: OMP sparsity (atoms per token); capped at the donor dimension, must not exceed the anchor count.
        batch_size: OMP targets per batch.
        prefilter: OMP only: search each token's nearest ``prefilter`` anchors by absolute cosine and run OMP
            inside that set; None runs exact OMP over all anchors (mergekit). `OmpDefaults` holds the CLI's
            measured defaults per device.
        search_dim: OMP pre-filter only: rank the candidates inside the anchors' top ``search_dim`` principal
            directions instead of all donor dimensions (a cheaper, approximate search); None searches exactly.
        normalize_atoms: OMP only: select atoms by correlation with unit-norm atoms (mergekit: off).
        center: OMP only: affine OMP. Code each new token's donor row minus the anchors' donor mean, and
            rebuild it around the source matrix's mean, E'[t] = μ + Σ c_j (E[s_j] − μ), so the sparse
            combination need not carry the component every row shares. Off matches mergekit; on the Qwen2.5 →
            SmolLM2 swap it took bits per byte from 2.54 to about 1.9 (`bench/bench_transfer_qwen.py`).
        temperature: heuristic softmax temperature τ (TokenAdapt default 0.3).
        global_weight: heuristic weight W of the global estimate (default 0.3).
        top_k: heuristic global neighbours K (default 3).
        similarity_threshold: heuristic: global neighbours below this cosine get no weight (default 0.0).
        shrink: heuristic: share λ of the source matrix's mean row mixed into each estimate,
            E'[t] = λ μ + (1 − λ) e[t]. In a tied model a new row is also its output row, and an unshrunk estimate
            takes probability from its pieces and neighbours at every position. On SmolLM2-135M → GPT-2 (20
            held-out chunks, `bench/bench_heuristic_shrink.py`) λ = 0.4 gave 0.050 bits per byte below mean init,
            λ = 0 (TokenAdapt's, one option away) 0.005 above it.
        clip_norms: rescale approximated rows whose norm exceeds the flag threshold down to it.
        flag_percentile: percentile of anchor row norms above which an approximated row is flagged (99.9).
        seed: seed of the random baseline.
    """

    k: int = 64
    batch_size: int = 512
    prefilter: int | None = None
    search_dim: int | None = None
    normalize_atoms: bool = False
    center: bool = False
    temperature: float = 0.3
    global_weight: float = 0.3
    top_k: int = 3
    similarity_threshold: float = 0.0
    shrink: float = 0.4
    clip_norms: bool = False
    flag_percentile: float = 99.9
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("k", "batch_size", "top_k"):
            if getattr(self, name) < 1:
                raise LexkitError(f"{name}={getattr(self, name)} is invalid: it counts items; pass {name}=1 or more")
        if self.search_dim is not None and self.search_dim < 1:
            raise LexkitError(f"search_dim={self.search_dim} is invalid: it counts dimensions; pass 1 or more, or None")
        if self.prefilter is not None and self.prefilter < self.k:
            raise LexkitError(
                f"prefilter={self.prefilter} is smaller than k={self.k}: OMP cannot pick {self.k} atoms from "
                f"{self.prefilter} candidates; pass prefilter >= k (e.g. 1024) or prefilter=None for exact OMP"
            )
        if self.temperature <= 0:
            raise LexkitError(f"temperature={self.temperature} must be positive (it divides); pass e.g. 0.3")
        if not 0.0 <= self.global_weight <= 1.0:
            raise LexkitError(f"global_weight={self.global_weight} mixes two estimates; pass a value in [0, 1]")
        if not 0.0 <= self.shrink <= 1.0:
            raise LexkitError(f"shrink={self.shrink} is a share of the mean row; pass a value in [0, 1] (0: TokenAdapt)")
        if not 0.0 < self.flag_percentile <= 100.0:
            raise LexkitError(f"flag_percentile={self.flag_percentile} is a percentile; pass a value in (0, 100]")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> TransferConfig:
        """Build from keyword options, rejecting unknown names.

        Raises:
            LexkitError: an option is unknown or invalid.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise LexkitError(
                f"unknown transfer option(s) {', '.join(unknown)}; they are not settings of any method; "
                f"valid options: {', '.join(sorted(known))}"
            )
        return cls(**options)
