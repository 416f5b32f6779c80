"""The lexkit error hierarchy: each error also inherits the builtin a caller would catch.

Messages have three parts: what happened (with the value), why, and the exact call or option that fixes it.
"""

from __future__ import annotations


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


def require(module: str, extra: str | None = None) -> object:
    """Import ``module`` or raise `MissingDependencyError` naming how to install it.

    Heavy dependencies are imported inside the functions that use them, through this helper, so that
    ``import lexkit`` stays light.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised only on broken installs
        hint = f'pip install "lexkit[{extra}]"' if extra else f"pip install {module.split('.')[0]}"
        raise MissingDependencyError(
            f"{module} is not installed but is needed here; install it with: {hint}"
        ) from exc
