"""Ensembles of byte-level LMs whose tokenizers differ: they all predict the same 257 outcomes.

Each member is a `ByteSampler` (its own model and tokenizer); the BTR lemma (Phan et al., arXiv 2410.09303, section
on model ensembles) puts them on one byte space, so their next-byte distributions combine outcome by outcome:

- ``product`` (product of experts): ``q(b) ∝ Π_i p_i(b) ** w_i``. With weights summing to 1 this is a weighted
  geometric mean, so an ensemble of identical members equals each member. A byte that any member gives
  probability 0 is vetoed, unless ``floor`` first lifts the member probabilities of every outcome that some
  member supports to at least that value; when the members veto every outcome there is no distribution and
  `ByteEnsemble.next_byte_logprobs` raises.
- ``mixture``: ``q(b) = Σ_i w_i p_i(b)`` with the weights normalized to sum 1, fixed at every step (the reference
  code's arithmetic average; not the Bayesian mixture of the members' sequence probabilities).

After a byte is chosen it is pushed to every member (one model call each). A member that gave the chosen byte
probability 0 (possible in a mixture, or in a product with ``floor``) has no distribution afterwards and leaves
the ensemble; the others' weights are used as they are (mixture weights renormalized).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from lexkit.errors import LexkitError
from lexkit.sampling.sampler import ByteSampler, ByteState, Init, generate_from

__all__ = ["ByteEnsemble", "EnsembleState"]

logger = logging.getLogger(__name__)

Combine = Literal["product", "mixture"]


@dataclass(frozen=True)
class EnsembleState:
    """The ensemble after some bytes: each member's `ByteState`, ``None`` for members that left (probability 0).

    Attributes:
        text: the bytes so far (without any tokenizer's text prefix).
        states: one state per member, in member order.
    """

    text: bytes
    states: tuple[ByteState | None, ...]


class ByteEnsemble:
    """Combine byte-level LMs with different tokenizers into one byte-level LM.

    Args:
        members: the byte LMs (at least one).
        mode: ``"product"`` (product of experts, default) or ``"mixture"``; see the module docstring.
        weights: one non-negative weight per member (default: all ``1 / len(members)``). Product exponents are
            used as given; mixture weights are normalized.
        floor: product only: member probabilities below this are raised to it before combining, for the
            outcomes that some member supports, so that no single member can veto them (0, the default, keeps
            vetoes).

    Raises:
        LexkitError: no members, a weight count that differs from the member count, a negative or all-zero
            weight, an unknown mode, or a floor outside [0, 1).

    >>> from lexkit.sampling import TokenizerAdapter
    >>> from lexkit.sampling._oracles import TOY_EOS, TOY_TOKENS, OracleLM, toy_bpe  # a known source, for the example
    >>> oracle = OracleLM({b"ab": 0.5, b"ba": 0.5}, toy_bpe, vocab_size=TOY_EOS + 1, eos_id=TOY_EOS)
    >>> member = ByteSampler(oracle, TokenizerAdapter(TOY_TOKENS, toy_bpe))
    >>> probs = ByteEnsemble([member, member], mode="product").next_byte_probs(b"a")
    >>> round(float(probs[ord("b")]), 6)
    1.0
    """

    def __init__(
        self,
        members: Sequence[ByteSampler],
        *,
        mode: Combine = "product",
        weights: Sequence[float] | None = None,
        floor: float = 0.0,
    ) -> None:
        if not members:
            raise LexkitError("ByteEnsemble got no members; pass a list of ByteSampler objects, e.g. [lm_a, lm_b]")
        if mode not in ("product", "mixture"):
            raise LexkitError(f"ensemble mode {mode!r} is not known; pass mode='product' or mode='mixture'")
        chosen = np.full(len(members), 1.0 / len(members)) if weights is None else np.asarray(weights, float)
        if chosen.shape != (len(members),) or (chosen < 0).any() or not chosen.sum() > 0:
            raise LexkitError(
                f"weights {list(np.atleast_1d(chosen))} do not fit {len(members)} members: give one non-negative "
                "weight per member, not all zero, e.g. weights=[0.5, 0.5]"
            )
        if not 0.0 <= floor < 1.0:
            raise LexkitError(f"floor={floor} must be in [0, 1): it is a probability below which members cannot "
                              "veto a byte; pass e.g. floor=1e-6, or 0 for exact vetoes")
        self.members = list(members)
        self.mode: Combine = mode
        self.weights = chosen
        self.floor = floor

    def start(self, prompt: bytes | str, *, init: Init = "exact") -> EnsembleState:
        """Every member's state after ``prompt`` (see `ByteSampler.start`)."""
        text = prompt.encode("utf-8") if isinstance(prompt, str) else bytes(prompt)
        states = tuple(self._alive(member.start(text, init=init)) for member in self.members)
        if not any(states):
            raise LexkitError(f"every member gives the prompt {text[-20:]!r} probability 0, so the ensemble cannot "
                              "continue it; check the models, or start from a shorter prompt")
        return EnsembleState(text, states)

    def next_byte_logprobs(self, state: EnsembleState) -> np.ndarray:
        """Log-probabilities of the 257 outcomes (EOS at index 256) under the combined distribution.

        Raises:
            LexkitError: a product whose members veto every outcome (no byte has probability > 0 under all).
        """
        rows, weights = [], []
        for member, member_state, weight in zip(self.members, state.states, self.weights):
            if member_state is not None and weight > 0:
                rows.append(member.next_byte_logprobs(member_state))
                weights.append(weight)
        if not rows:
            raise LexkitError("no ensemble member with a positive weight is left (the others gave the text "
                              "probability 0); use mode='mixture' or give every member a weight")
        table, w = np.vstack(rows), np.asarray(weights)
        if self.mode == "mixture":
            with np.errstate(divide="ignore"):
                mixed: np.ndarray = np.log((w / w.sum()) @ np.exp(table))
            return mixed
        if self.floor > 0:  # lift only outcomes some member supports: nobody's zeros stay zeros
            supported = np.isfinite(table).any(axis=0)
            table = np.where(supported, np.maximum(table, np.log(self.floor)), table)
        combined = w @ np.where(np.isfinite(table), table, 0.0)
        combined[(~np.isfinite(table)).any(axis=0)] = -np.inf  # a zero in any member vetoes the outcome
        top = combined.max()
        if top == -np.inf:
            raise LexkitError(
                f"the product of experts has no outcome after {state.text[-20:]!r}: every byte and EOS has "
                "probability 0 under some member; pass floor=1e-6 (members cannot veto) or mode='mixture'"
            )
        out: np.ndarray = combined - top - np.log(np.exp(combined - top).sum())
        return out

    def push(self, state: EnsembleState, byte: int) -> EnsembleState:
        """The state after one more byte, pushed to every member still in (one model call each)."""
        states = tuple(self._alive(member.push(s, byte)) if s is not None else None
                       for member, s in zip(self.members, state.states))
        for k, (before, after) in enumerate(zip(state.states, states)):
            if before is not None and after is None:
                logger.info("ensemble member %d gives %r after %r probability 0 and leaves the ensemble",
                            k, bytes([byte]), state.text[-20:])
        return EnsembleState(state.text + bytes([byte]), states)

    @staticmethod
    def _alive(state: ByteState) -> ByteState | None:
        return state if state.prefix_logprob > -np.inf else None

    def next_byte_probs(self, prefix: bytes | str, *, init: Init = "exact") -> np.ndarray:
        """The combined ``P(next = b | prefix)`` for the 257 outcomes (EOS at index 256)."""
        probs: np.ndarray = np.exp(self.next_byte_logprobs(self.start(prefix, init=init)))
        return probs

    def logprob(self, text: bytes | str, *, prompt: bytes | str = b"") -> float:
        """``Σ log q(byte | before)`` over the bytes of ``text`` after ``prompt``, in nats (no EOS term)."""
        state = self.start(prompt)
        total = 0.0
        for byte in text.encode("utf-8") if isinstance(text, str) else text:
            total += float(self.next_byte_logprobs(state)[byte])
            if total == -np.inf:
                return total
            state = self.push(state, byte)
        return total

    def generate(
        self,
        prompt: bytes | str,
        max_bytes: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        stop: Sequence[bytes] = (),
        seed: int = 0,
        init: Init = "exact",
    ) -> bytes:
        """Sample up to ``max_bytes`` bytes from the combined distribution; options as in `ByteSampler.generate`."""
        return generate_from(self, self.start(prompt, init=init), max_bytes, temperature=temperature,
                             top_k=top_k, top_p=top_p, stop=stop, seed=seed)

