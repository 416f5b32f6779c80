"""Trainers: one module per algorithm, all producing a `lexkit.Vocabulary`.

Text trainers share one pipeline: `lexkit.corpus.count_pre_tokens` counts pre-tokens, then the trainer runs
the shared merge engine on the counts. Registered algorithms (registry keys are CLI values):

- ``bpe``: plain byte-level BPE, HF ``BpeTrainer``'s exact merges (`BPEConfig`, encoder ``bpe``);
- ``scaffold-bpe``: Scaffold-BPE, arXiv 2404.17808 (`ScaffoldBPEConfig`, encoder ``scaffold``);
- ``lbpe``: plain BPE training with LBPE's long-token-first encoding, arXiv 2411.05504 (`LBPEConfig`,
  encoder ``fewest-tokens``, ``longest-token``, ``longest-pair`` or ``long-first``);
- ``domain``: the KL3M domain recipe: NFKC, curated added terms, power-of-two padding (`DomainConfig`);
- ``char``: KL3M character-level BPE with a maximum token length (`CharConfig`);
- ``bytespan``: spans of predictable bytes from a byte LM, arXiv 2506.18639 (`ByteSpanConfig`, encoder
  ``longest-prefix``); it reads the texts themselves (per-byte signals), not pre-token counts;
- ``morph``: morphological hybrid, roots and affix classes from a lexicon file plus a BPE fallback, arXiv
  2508.14292 (`MorphConfig`, encoder ``morph``; `lexkit.vocab.morph`).

>>> from lexkit.vocab import BPEConfig, train
>>> vocabulary = train(["hello world"] * 10, BPEConfig(vocab_size=300, min_frequency=1), progress=False)
>>> len(vocabulary)
265
>>> train(["hello world"] * 10, algorithm="lbpe", vocab_size=300, min_frequency=1, progress=False).metadata["encoder"]
'fewest-tokens'
"""

from __future__ import annotations

from typing import Any, Literal

from lexkit.errors import LexkitError
from lexkit.vocab.bpe import BPEConfig as BPEConfig
from lexkit.vocab.bpe import BPETrainer as BPETrainer
from lexkit.vocab.bytespan import ByteSpanConfig as ByteSpanConfig
from lexkit.vocab.bytespan import ByteSpanTrainer as ByteSpanTrainer
from lexkit.vocab.kl3m import CharConfig as CharConfig
from lexkit.vocab.kl3m import CharTrainer as CharTrainer
from lexkit.vocab.kl3m import DomainConfig as DomainConfig
from lexkit.vocab.kl3m import DomainTrainer as DomainTrainer
from lexkit.vocab.lbpe import LBPEConfig as LBPEConfig
from lexkit.vocab.lbpe import LBPETrainer as LBPETrainer
from lexkit.vocab.morph.trainer import MorphConfig as MorphConfig
from lexkit.vocab.morph.trainer import MorphTrainer as MorphTrainer
from lexkit.vocab.scaffold import ScaffoldBPEConfig as ScaffoldBPEConfig
from lexkit.vocab.scaffold import ScaffoldBPETrainer as ScaffoldBPETrainer
from lexkit.vocabulary import Vocabulary

#: Algorithm name -> (configuration class, trainer class).
TRAINERS: dict[str, tuple[type[Any], type[Any]]] = {
    "bpe": (BPEConfig, BPETrainer),
    "scaffold-bpe": (ScaffoldBPEConfig, ScaffoldBPETrainer),
    "lbpe": (LBPEConfig, LBPETrainer),
    "domain": (DomainConfig, DomainTrainer),
    "char": (CharConfig, CharTrainer),
    "bytespan": (ByteSpanConfig, ByteSpanTrainer),
    "morph": (MorphConfig, MorphTrainer),
}


def train(
    corpus: Any,
    config: Any = None,
    *,
    algorithm: str | None = None,
    text_column: str = "text",
    errors: Literal["error", "replace", "skip"] = "error",
    binary: Literal["error", "skip"] = "error",
    workers: int | None = None,
    progress: bool = True,
    engine: Literal["local", "dask"] = "local",
    scheduler: Any = None,
    reduce_min_count: int = 1,
    **options: Any,
) -> Vocabulary:
    """Train a vocabulary on a corpus.

    Pass either a configuration object (its class picks the algorithm) or ``algorithm=`` with the
    configuration's fields as keywords (``vocab_size=...``).

    Args:
        corpus: a `lexkit.corpus.Corpus` (files, globs, folders, datasets), one path, or an iterable of texts.
        config: the algorithm's configuration (one of the configuration classes in `TRAINERS`), or None.
        algorithm: a `TRAINERS` key (``bpe``, ``scaffold-bpe``, ``lbpe``, ``domain``, ``char``, ``bytespan``,
            ``morph``); defaults to the one ``config`` belongs to, or ``bpe``.
        text_column: column read from HF datasets.
        errors: invalid UTF-8 policy: ``error``, ``replace`` or ``skip``.
        binary: files that look binary (a NUL byte near the start): ``error`` raises, ``skip`` leaves them out.
        workers: counting processes (default: all cores).
        progress: show progress bars on stderr.
        engine: where pre-tokens are counted: ``local`` (a process pool) or ``dask`` (a Dask cluster, same
            counts; see `lexkit.dask_counting`). The merge loop always runs here, on the reduced counts.
        scheduler: ``dask`` only: a ``tcp://HOST:PORT`` scheduler address or a ``distributed.Client``; None
            starts a local cluster of ``workers`` processes.
        reduce_min_count: ``dask`` only: prune rarer pre-tokens while reducing (approximate; 1 is exact).
        **options: configuration fields when ``config`` is None (``vocab_size`` is required then).

    Returns:
        The trained vocabulary; ``metadata["encoder"]`` names the encoder it is meant for.

    Raises:
        LexkitError: unknown algorithm, a configuration of another algorithm, or both ``config`` and options.
        VocabularyError: invalid configuration values (e.g. a vocabulary size below the alphabet).
        CorpusError: the corpus is missing, empty, binary or not valid UTF-8.
    """
    from lexkit.corpus import count_pre_tokens

    config = _resolve_config(config, algorithm, options)
    trainer_type = next(trainer for config_type, trainer in TRAINERS.values() if type(config) is config_type)
    if hasattr(trainer_type, "train_from_texts"):  # trainers that need the text itself (ByteSpan's byte LM)
        from lexkit.corpus import iter_texts

        if engine != "local":
            raise LexkitError(
                f"{trainer_type.name} reads the text in order (its byte LM scores every byte), so counting on a "
                "Dask cluster does not apply; drop engine='dask' (--engine dask)"
            )

        texts = iter_texts(corpus, text_column=text_column, errors=errors, binary=binary)
        trained: Vocabulary = trainer_type(config).train_from_texts(texts, progress=progress)
        return trained
    components = config.components()
    counts = count_pre_tokens(
        corpus, normalizer=components["normalizer"],
        pre_tokenizer=components["pre_tokenizer"], workers=workers, progress=progress, errors=errors, binary=binary,
        engine=engine, scheduler=scheduler, reduce_min_count=reduce_min_count,
        text_column=text_column,
    )
    vocabulary: Vocabulary = trainer_type(config).train_from_counts(counts, progress=progress)
    return vocabulary


def _resolve_config(config: Any, algorithm: str | None, options: dict[str, Any]) -> Any:
    """The configuration object `train` runs, checked against ``algorithm``."""
    if algorithm is not None and algorithm not in TRAINERS:
        raise LexkitError(f"unknown algorithm {algorithm!r}; available: {', '.join(TRAINERS)}")
    if config is None:
        config_type = TRAINERS[algorithm or "bpe"][0]
        if "vocab_size" not in options:
            raise LexkitError(
                f"no configuration given; pass a {config_type.__name__} or its fields, e.g. "
                f"train(corpus, algorithm={algorithm or 'bpe'!r}, vocab_size=32000)"
            )
        try:
            return config_type(**options)
        except TypeError as exc:
            raise LexkitError(f"{exc}; see help({config_type.__name__}) for the fields") from None
    if options:
        raise LexkitError(
            f"got both a configuration and the options {sorted(options)}; put them in the configuration "
            "(dataclasses.replace(config, ...))"
        )
    expected = TRAINERS[algorithm][0] if algorithm is not None else None
    if expected is None:
        expected = next((c for c, _ in TRAINERS.values() if type(config) is c), None)
    if expected is None or type(config) is not expected:
        raise LexkitError(
            f"algorithm {algorithm or '?'!r} takes a {expected.__name__ if expected else 'registered configuration'}, "
            f"not {type(config).__name__}; pass the matching configuration or the matching algorithm= name"
        )
    return config
