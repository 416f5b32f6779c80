"""The morphological hybrid tokenizer (``morph``): lexicon file format, Turkish lexicon builder, trainer."""

from lexkit.vocab.morph.lexicon import Lexicon as Lexicon
from lexkit.vocab.morph.lexicon import load_lexicon as load_lexicon

__all__ = ["Lexicon", "load_lexicon"]
