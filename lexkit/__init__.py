"""lexkit: train, convert, analyse and transplant tokenizers on one shared vocabulary model.

The public API is re-exported here; heavy dependencies (torch, transformers, datasets, sentencepiece, tiktoken,
click) are imported only inside the functions that need them.
"""

from lexkit._version import __version__ as __version__
from lexkit.errors import (
    CorpusError as CorpusError,
)
from lexkit.errors import (
    EncodingError as EncodingError,
)
from lexkit.errors import (
    FormatError as FormatError,
)
from lexkit.errors import (
    LexkitError as LexkitError,
)
from lexkit.errors import (
    LossyConversionError as LossyConversionError,
)
from lexkit.errors import (
    MissingDependencyError as MissingDependencyError,
)
from lexkit.errors import (
    UnsupportedAlphabetError as UnsupportedAlphabetError,
)
from lexkit.errors import (
    UnsupportedComponentError as UnsupportedComponentError,
)
from lexkit.errors import (
    VocabularyError as VocabularyError,
)
from lexkit.tokenizer import Tokenizer as Tokenizer
from lexkit.vocabulary import (
    AddedTokenOptions as AddedTokenOptions,
)
from lexkit.vocabulary import (
    Alphabet as Alphabet,
)
from lexkit.vocabulary import (
    Token as Token,
)
from lexkit.vocabulary import (
    TokenKind as TokenKind,
)
from lexkit.vocabulary import (
    Vocabulary as Vocabulary,
)
