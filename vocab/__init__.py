"""Trainers: one module per algorithm, all producing a `lexkit.Vocabulary`.

Text trainers share one pipeline: `lexkit.corpus.count_pre_tokens` counts pre-tokens (its settings in one
`lexkit.corpus.CountConfig`), then the trainer runs the shared merge engine on the counts. Registered algorithms (registry keys are CLI values):

- ``bpe``: plain byte-level BPE, HF ``BpeTrainer``'s exact merges (`BPEConfig`, encoder ``bpe``);
- ``scaffold-bpe``: Scaffold-BPE, arXiv 2404.17808 (`ScaffoldBPEConfig`, encoder ``scaffold``);
- ``lbpe``: plain BPE training with LBPE's long-token-first encoding, arXiv 2411.05504 (`LBPEConfig`,
  encoder ``fewest-tokens``, ``longest-token``, ``longest-pair`` or ``long-first``);
- ``domain``: the KL3M domain recipe: NFKC, curated added terms, power-of-two padding (`DomainConfig`);
- ``char``: KL3M character-level BPE with a maximum token length (`CharConfig`);
- ``bytespan``: spans of predictable bytes from a byte LM, arXiv 2506.18639 (`ByteSpanConfig`, encoder
  ``longest-prefix``); it reads the texts themselves (per-byte signals), not pre-token counts;
- ``morph``: morphological hybrid, roots and affix classes from a lexicon file plus a BPE fallback, arXiv
  2508.14292 (`MorphConfig`, encoder ``morph``; `lexkit.vocab.morph`);
- ``visual-bpe``: 2-D merges on quantized image code grids, arXiv 2410.02155 (`VisualBPEConfig`, encoder
  ``visual``; `lexkit.vocab.visual`); it trains on grids (`VisualBPETrainer.train`), not through `train`.

`extend` (`lexkit.vocab.extend`) continues an existing byte-level BPE vocabulary instead: N new tokens learned on
domain text are appended after the base's tokens and merges, which stay unchanged.

>>> from lexkit.vocab import BPEConfig, train
>>> vocabulary = train(["hello world"] * 10, BPEConfig(vocab_size=300, min_frequency=1), progress=False)
>>> len(vocabulary)
265
>>> train(["hello world"] * 10, algorithm="lbpe", vocab_size=300, min_frequency=1, progress=False).metadata["encoder"]
'fewest-tokens'
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from lexkit.corpus.config import CountConfig
from lexkit.errors import LexkitError
from lexkit.vocab.bpe import BPEConfig as BPEConfig
from lexkit.vocab.bpe import BPETrainer as BPETrainer
from lexkit.vocab.bytespan import ByteSpanConfig as ByteSpanConfig
from lexkit.vocab.bytespan import ByteSpanTrainer as ByteSpanTrainer
from lexkit.vocab.extend import ExtendConfig as ExtendConfig
from lexkit.vocab.extend import extend as extend
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
from lexkit.vocab.visual import VisualBPEConfig as VisualBPEConfig
from lexkit.vocab.visual import VisualBPETrainer as VisualBPETrainer
from lexkit.vocabulary import Vocabulary

__all__ = [
    "BPEConfig", "BPETrainer", "ByteSpanConfig", "ByteSpanTrainer", "CharConfig", "CharTrainer",
    "DomainConfig", "DomainTrainer", "ExtendConfig", "LBPEConfig", "LBPETrainer", "MorphConfig", "MorphTrainer",
    "ScaffoldBPEConfig", "ScaffoldBPETrainer", "VisualBPEConfig", "VisualBPETrainer", "TRAINERS", "extend", "train",
]

#: Algorithm name -> (configuration class, trainer class).
TRAINERS: dict[str, tuple[type[Any], type[Any]]] = {
    "bpe": (BPEConfig, BPETrainer),
    "scaffold-bpe": (ScaffoldBPEConfig, ScaffoldBPETrainer),
    "lbpe": (LBPEConfig, LBPETrainer),
    "domain": (DomainConfig, DomainTrainer),
    "char": (CharConfig, CharTrainer),
    "bytespan": (ByteSpanConfig, ByteSpanTrainer),
    "morph": (MorphConfig, MorphTrainer),
    "visual-bpe": (VisualBPEConfig, VisualBPETrainer),
}

_COUNT_FIELDS = frozenset(field.name for field in fields(CountConfig))


def train(
    corpus: Any,
    config: Any = None,
    *,
    algorithm: str | None = None,
    counting: CountConfig | None = None,
    progress: bool = True,
    **options: Any,
) -> Vocabulary:
    """Train a vocabulary on a corpus.

    Pass either a configuration object (its class picks the algorithm) or ``algorithm=`` with the
    configuration's fields as keywords (``vocab_size=...``). How the corpus is read and where its pre-tokens are
    counted is one `lexkit.corpus.CountConfig`, passed as ``counting=`` or built from its fields given as keywords
    (``workers=1``, ``engine="dask"``, ``text_column="body"``, ...).

    Args:
        corpus: a `lexkit.corpus.Corpus` (files, globs, folders, datasets), one path, or an iterable of texts.
        config: the algorithm's configuration (one of the configuration classes in `TRAINERS`), or None.
        algorithm: a `TRAINERS` key (``bpe``, ``scaffold-bpe``, ``lbpe``, ``domain``, ``char``, ``bytespan``,
            ``morph``); defaults to the one ``config`` belongs to, or ``bpe``. ``visual-bpe`` trains on code
            grids, not text: use `VisualBPETrainer` directly.
        counting: reading and counting settings (UTF-8 and binary policies, dataset column, workers, the local or
            Dask engine; see `lexkit.corpus.CountConfig`). The merge loop always runs here, on the reduced counts.
        progress: show progress bars on stderr.
        **options: `CountConfig` fields when ``counting`` is None, and configuration fields when ``config`` is
            None (``vocab_size`` is required then).

    Returns:
        The trained vocabulary; ``metadata["encoder"]`` names the encoder it is meant for.

    Raises:
        LexkitError: unknown algorithm, a configuration of another algorithm, both ``config`` and its fields,
            both ``counting`` and its fields, or a visual configuration.
        VocabularyError: invalid configuration values (e.g. a vocabulary size below the alphabet).
        CorpusError: the corpus is missing, empty, binary or not valid UTF-8.
        ValueError: invalid counting settings (see `lexkit.corpus.CountConfig`).
    """
    from lexkit.corpus import count_pre_tokens

    count_fields = {name: options.pop(name) for name in list(options) if name in _COUNT_FIELDS}
    if counting is None:
        counting = CountConfig(**count_fields)
    elif count_fields:
        raise LexkitError(f"got both counting= and the options {sorted(count_fields)}; put them in the "
                          "CountConfig (dataclasses.replace(counting, ...))")
    config = _resolve_config(config, algorithm, options)
    trainer_type = next(trainer for config_type, trainer in TRAINERS.values() if type(config) is config_type)
    if hasattr(trainer_type, "train_from_texts"):  # trainers that need the text itself (ByteSpan's byte LM)
        from lexkit.corpus import iter_texts

        if counting.engine != "local":
            raise LexkitError(
                f"{trainer_type.name} reads the text in order (its byte LM scores every byte), so counting on a "
                "Dask cluster does not apply; drop engine='dask' (--engine dask)"
            )

        texts = iter_texts(corpus, text_column=counting.text_column, errors=counting.errors, binary=counting.binary)
        trained: Vocabulary = trainer_type(config).train_from_texts(texts, progress=progress)
        return trained
    if not hasattr(trainer_type, "train_from_counts"):
        raise LexkitError(
            f"{trainer_type.name} trains on code grids, not text; call {trainer_type.__name__}(config).train(grids) "
            f"or run `lexkit train {trainer_type.name} --codes FILE.npy`"
        )
    components = config.components()
    counts = count_pre_tokens(
        corpus, normalizer=components["normalizer"], pre_tokenizer=components["pre_tokenizer"], config=counting,
        progress=progress,
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
