"""Trainers: one module per algorithm, all producing a `lexkit.Vocabulary`.

>>> from lexkit.vocab import BPEConfig, train
>>> vocabulary = train(["hello world"] * 10, BPEConfig(vocab_size=300, min_frequency=1), progress=False)
>>> len(vocabulary)
265
"""

from __future__ import annotations

from typing import Any

from lexkit.vocab.bpe import BPEConfig as BPEConfig
from lexkit.vocab.bpe import BPETrainer as BPETrainer

from lexkit.errors import LexkitError
from lexkit.vocabulary import Vocabulary

TRAINERS: dict[str, tuple[type[Any], type[Any]]] = {"bpe": (BPEConfig, BPETrainer)}


def train(
    corpus: Any,
    config: Any,
    *,
    algorithm: str = "bpe",
    text_column: str = "text",
    errors: str = "error",
    workers: int | None = None,
    progress: bool = True,
) -> Vocabulary:
    """Train a vocabulary on a corpus.

    Args:
        corpus: a `lexkit.corpus.Corpus` (files, globs, folders, datasets), one path, or an iterable of texts.
        config: the algorithm's configuration (e.g. `BPEConfig`).
        algorithm: registry name (``bpe``).
        text_column: column read from HF datasets.
        errors: invalid UTF-8 policy: ``error``, ``replace`` or ``skip``.
        workers: counting processes (default: all cores).
        progress: show progress bars on stderr.

    Raises:
        LexkitError: unknown algorithm, or a configuration of the wrong type.
        CorpusError: the corpus is missing, empty, binary or not valid UTF-8.
    """
    from lexkit.corpus import count_pre_tokens

    if algorithm not in TRAINERS:
        raise LexkitError(f"unknown algorithm {algorithm!r}; available: {', '.join(TRAINERS)}")
    config_type, trainer_type = TRAINERS[algorithm]
    if not isinstance(config, config_type):
        raise LexkitError(f"algorithm {algorithm!r} takes a {config_type.__name__}, not {type(config).__name__}")
    components = config.components()
    counts = count_pre_tokens(
        corpus, normalizer=components["normalizer"],
        pre_tokenizer=components["pre_tokenizer"], workers=workers, progress=progress, errors=errors,
        text_column=text_column,
    )
    return trainer_type(config).train_from_counts(counts, progress=progress)
