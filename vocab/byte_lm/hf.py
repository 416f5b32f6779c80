"""Any HF causal LM whose vocabulary is bytes (ByT5-style tokenizers, ``<0xNN>`` byte pieces) as a ByteSpan LM.

The model must give a next-token distribution in which each of the 256 bytes is one token; the byte columns
are renormalised (special tokens such as EOS are dropped) before surprisal and entropy are taken, so the
signals describe the next *byte*.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from lexkit.errors import ByteLMError, require
from lexkit.vocab.byte_lm import ByteSignals
from lexkit.vocab.byte_lm.transformer import score_windows

__all__ = ["HFByteLM", "byte_token_ids"]


def byte_token_ids(tokenizer: Any) -> np.ndarray:
    """The model id of each byte 0..255 under an HF tokenizer whose vocabulary is bytes.

    Tries the ByT5 convention (the token of byte b is ``chr(b)``) and then byte-fallback pieces (``<0x41>``).

    Raises:
        ByteLMError: some byte has no token of its own, i.e. the vocabulary is not bytes.
    """
    unknown = getattr(tokenizer, "unk_token_id", None)
    for spell in (chr, lambda b: f"<0x{b:02X}>"):
        ids = [tokenizer.convert_tokens_to_ids(spell(b)) for b in range(256)]
        if all(isinstance(i, int) and i != unknown for i in ids) and len(set(ids)) == 256:
            return np.asarray(ids, dtype=np.int64)
    raise ByteLMError(
        f"tokenizer {type(tokenizer).__name__} has no token for each of the 256 bytes (neither chr(b) nor <0xNN>); "
        "ByteSpan needs a byte-level LM: pass a ByT5-style causal model, or --byte-lm ngram"
    )


class HFByteLM:
    """Wrap an HF causal LM over bytes: ``HFByteLM(model, byte_ids, bos_id=...)`` or `from_pretrained`.

    Args:
        model: a ``transformers`` causal LM (called as ``model(input_ids).logits``).
        byte_ids: (256,) the model id of each byte.
        bos_id: the id put before every text (the first byte's context).
        context: window length for long texts (default: the model's ``max_position_embeddings`` or 1,024).
        device: where the model runs.
    """

    name = "hf"

    def __init__(self, model: Any, byte_ids: Sequence[int] | np.ndarray, *, bos_id: int, context: int | None = None,
                 device: str = "cpu") -> None:
        from lexkit.device import resolve_device

        ids = np.asarray(byte_ids, dtype=np.int64)
        if ids.shape != (256,) or len(set(ids.tolist())) != 256:
            raise ByteLMError(f"byte_ids must hold 256 distinct model ids, one per byte; got shape {ids.shape}")
        limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
        self.context = int(context or min(limit or 1024, 1024))
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.byte_ids = ids
        self.bos_id = int(bos_id)

    @classmethod
    def from_pretrained(cls, path: str | PathLike[str], *, device: str = "cpu") -> HFByteLM:
        """Load model and tokenizer from a local folder and find the byte ids.

        Raises:
            ByteLMError: the folder has no causal LM, or its vocabulary is not bytes.
        """
        transformers: Any = require("transformers")
        folder = Path(path)
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
            model = transformers.AutoModelForCausalLM.from_pretrained(folder)
        except (OSError, ValueError, KeyError) as exc:
            raise ByteLMError(f"{folder}: could not load an HF causal LM and tokenizer ({exc})") from None
        bos = next((i for i in (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)
                    if i is not None), None)
        if bos is None:
            raise ByteLMError(f"{folder}: the tokenizer has no BOS, EOS or pad token to start a text with")
        return cls(model, byte_token_ids(tokenizer), bos_id=bos, device=device)

    def score(self, texts: Sequence[bytes]) -> list[ByteSignals]:
        """Surprisal and entropy (nats) of every byte, renormalised over the 256 byte tokens."""
        def logits(ids: Any) -> Any:
            return self.model(input_ids=ids).logits

        return score_windows(logits, texts, context=self.context, bos=self.bos_id, token_of_byte=self.byte_ids,
                             device=self.device)
