"""The lexkit error hierarchy: each error also inherits the builtin a caller would catch.

Messages have three parts: what happened (with the value), why, and the exact call or option that fixes it.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "OPTIONAL_DEPENDENCIES",
    "ByteLMError",
    "ClusterError",
    "CorpusError",
    "EncodingError",
    "FormatError",
    "LexkitError",
    "LossyConversionError",
    "MissingDependencyError",
    "UnsupportedAlphabetError",
    "UnsupportedComponentError",
    "VocabularyError",
    "require",
]


class LexkitError(Exception):
    """Base class of every error lexkit raises on purpose."""


class VocabularyError(LexkitError, ValueError):
    """A vocabulary breaks one of its invariants (dense ids, unique content, valid merges...)."""


class FormatError(LexkitError, ValueError):
    """A file could not be read as the format it claims to be; the message names the path and location."""


class LossyConversionError(LexkitError, ValueError):
    """An export would drop information the target format cannot hold; pass ``allow_lossy=True`` to accept."""


class CorpusError(LexkitError, ValueError):
    """Corpus input is missing, empty, binary or not valid UTF-8 under the chosen policy."""


class UnsupportedComponentError(LexkitError, NotImplementedError):
    """A pipeline component (normalizer, pre-tokenizer, decoder) that lexkit cannot execute was run."""


class UnsupportedAlphabetError(LexkitError, ValueError):
    """An operation needs a different alphabet (e.g. bytes) than the vocabulary has."""


class EncodingError(LexkitError, ValueError):
    """Text cannot be encoded as asked (e.g. it contains a special token's text that is not allowed)."""


class ByteLMError(LexkitError, ValueError):
    """A byte-level LM returned unusable signals (wrong shape, NaN, out of range) or could not be loaded."""


class ClusterError(LexkitError, ConnectionError):
    """A Dask scheduler for distributed counting could not be reached, did not answer as one, or has no workers."""


class MissingDependencyError(LexkitError, ImportError):
    """An optional dependency is not installed; the message names the pip command that installs it."""


#: The optional dependencies: import name -> (the ``lexkit[...]`` extra that installs it, its pip distribution).
#: Everything else lexkit imports is a required dependency (pyproject.toml ``dependencies``).
OPTIONAL_DEPENDENCIES: dict[str, tuple[str, str]] = {
    "dask": ("dask", "dask[distributed]"),
    "distributed": ("dask", "dask[distributed]"),
    "skimage": ("visual", "scikit-image"),
    "sklearn": ("visual", "scikit-learn"),
    "tuimg": ("visual", "tuimg"),
    "gguf": ("gguf", "gguf"),
}


def require(module: str, distribution: str | None = None) -> Any:
    """Import ``module`` or raise `MissingDependencyError` naming how to install it.

    Heavy and optional dependencies are imported inside the functions that use them, through this one helper, so
    that ``import lexkit`` stays light and a missing optional package names the extra that installs it.

    Args:
        module: the module to import (``"skimage.transform"``).
        distribution: its pip distribution when that differs from the import name (``"scikit-image"``).

    Raises:
        MissingDependencyError: the module is not installed; the message names ``pip install 'lexkit[EXTRA]'``
            for an optional dependency, or the distribution to reinstall for a required one.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        root = module.split(".")[0]
        if root in OPTIONAL_DEPENDENCIES:
            extra, package = OPTIONAL_DEPENDENCIES[root]
            raise MissingDependencyError(
                f"{module} is not installed; it is an optional dependency ({package}) of this feature. Install it "
                f"with: pip install 'lexkit[{extra}]' (or pip install 'lexkit[all]' for every optional feature)"
            ) from exc
        raise MissingDependencyError(
            f"{module} is not installed, but it is a required dependency of lexkit: the installation is broken; "
            f"reinstall with: pip install --force-reinstall lexkit (or pip install {distribution or root})"
        ) from exc
