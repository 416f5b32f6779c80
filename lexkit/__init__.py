"""lexkit: train, convert, analyse and transplant tokenizers on one shared vocabulary model.

The public API is re-exported here; heavy dependencies (torch, transformers, datasets, sentencepiece, tiktoken,
click) are imported only inside the functions that need them.
"""

from lexkit._version import __version__ as __version__
from lexkit.errors import (
    CorpusError as CorpusError,
    EncodingError as EncodingError,
    FormatError as FormatError,
    LexkitError as LexkitError,
    LossyConversionError as LossyConversionError,
    MissingDependencyError as MissingDependencyError,
    UnsupportedAlphabetError as UnsupportedAlphabetError,
    UnsupportedComponentError as UnsupportedComponentError,
    VocabularyError as VocabularyError,
)
from lexkit.tokenizer import Tokenizer as Tokenizer
from lexkit.vocabulary import (
    AddedTokenOptions as AddedTokenOptions,
    Alphabet as Alphabet,
    Token as Token,
    TokenKind as TokenKind,
    Vocabulary as Vocabulary,
)
