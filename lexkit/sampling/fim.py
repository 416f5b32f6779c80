"""Fill-in-the-middle with exact byte-level probabilities.

A FIM-trained model sees ``<prefix> P <suffix> S <middle>`` (PSM) or ``<suffix> S <prefix> P <middle>`` (SPM) as
token ids and then writes the middle. `ContextLM` puts such fixed ids before every token sequence, so a `ByteSampler`
over it generates the middle byte by byte: the middle may then end anywhere, even inside a token, and stop
strings act on bytes. Switching back to token-level sampling after the first pre-token boundary (the papers'
probable protocol) is not done here: the whole middle is sampled byte by byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from lexkit.errors import LexkitError
from lexkit.sampling.lm import TokenLM
from lexkit.sampling.sampler import ByteSampler

__all__ = ["ContextLM", "fim_generate"]


class ContextLM:
    """A `TokenLM` that conditions on fixed token ids placed before every prefix.

    Prefix log-probabilities are relative to the context (``log P(context + prefix) - log P(context)``), so a
    `ByteSampler` over it is the byte-level model of the text that follows the context.

    Args:
        lm: the underlying token model.
        context: the ids to put first (e.g. FIM sentinels with the encoded prefix and suffix).
    """

    def __init__(self, lm: TokenLM, context: Sequence[int]) -> None:
        self.lm = lm
        self.context = list(context)
        self.vocab_size = lm.vocab_size
        self.eos_id = lm.eos_id
        self.forward_calls = lm.forward_calls  # the underlying LM's count, refreshed after every call
        self._base: float | None = None

    def next_token_logprobs(self, prefixes: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """See `TokenLM`; the context is prepended to every prefix."""
        if self._base is None:
            self._base = float(self.lm.next_token_logprobs([self.context])[0][0])
        prefix_lp, rows = self.lm.next_token_logprobs([[*self.context, *p] for p in prefixes])
        self.forward_calls = self.lm.forward_calls
        return prefix_lp - self._base, rows


def fim_generate(
    byte_lm: ByteSampler,
    prefix: bytes | str,
    suffix: bytes | str,
    *,
    sentinels: tuple[int, int, int],
    max_bytes: int,
    fmt: Literal["psm", "spm"] = "psm",
    temperature: float = 1.0,
    top_p: float | None = None,
    stop: Sequence[bytes] = (),
    seed: int = 0,
) -> bytes:
    """Generate the middle between ``prefix`` and ``suffix`` byte by byte.

    Args:
        byte_lm: a byte LM over a FIM-trained model (its ``lm`` and ``adapter`` are reused).
        prefix, suffix: the text before and after the gap.
        sentinels: the ids of the model's prefix, suffix and middle tokens, in that order (e.g. StarCoder's
            ``<fim_prefix>``, ``<fim_suffix>``, ``<fim_middle>``).
        max_bytes: the most bytes to generate; generation also ends at the model's EOS or a ``stop`` string.
        fmt: ``"psm"`` (prefix, suffix, middle) or ``"spm"`` (suffix, prefix, middle).
        temperature, top_p, stop, seed: as in `ByteSampler.generate`.

    Returns:
        The middle's bytes.

    Raises:
        LexkitError: an unknown ``fmt``.
    """
    if fmt not in ("psm", "spm"):
        raise LexkitError(f"fmt={fmt!r} is not a FIM layout; pass fmt='psm' or fmt='spm'")
    before = prefix.encode("utf-8") if isinstance(prefix, str) else bytes(prefix)
    after = suffix.encode("utf-8") if isinstance(suffix, str) else bytes(suffix)
    adapter = byte_lm.adapter
    head = [sentinels[0], *adapter.encode(adapter.text_prefix + before)] if before else [sentinels[0]]
    tail = [sentinels[1], *adapter.encode(adapter.text_prefix + after)] if after else [sentinels[1]]
    context = [*head, *tail] if fmt == "psm" else [*tail, *head]
    middle = ByteSampler(ContextLM(byte_lm.lm, [*context, sentinels[2]]), adapter, mask_invalid=byte_lm.mask_invalid,
                    mask_floor=byte_lm.mask_floor)
    return middle.generate(b"", max_bytes, temperature=temperature, top_p=top_p, stop=stop, seed=seed)
