"""HF ``tokenizers`` normalizers and pre-tokenizers, executed in Python so training can count pre-tokens fast.

Components are described by the same tagged JSON objects as in ``tokenizer.json`` (``{"type": "ByteLevel", ...}``).
`build_normalizer` and `build_pre_tokenizer` turn such an object into something that runs; `build_pipeline`
chains the two the way HF's trainer does. The strings produced are exactly those HF produces: ``pre_tokenize``
returns what ``tokenizers``' ``pre_tokenize_str`` returns (for ``ByteLevel``, GPT-2 byte-to-unicode surface
strings), and a `TextPipeline` returns the pre-tokens HF's trainer counts. The differential tests in
``tests/lexkit/test_components.py`` hold this against the installed ``tokenizers``.

Handled:
- normalizers: ``NFC``, ``NFD``, ``NFKC``, ``NFKD``, ``Lowercase``, ``Strip``, ``Replace`` (String and Regex
  patterns), ``Prepend``, ``BertNormalizer``, ``Sequence``;
- pre-tokenizers: ``ByteLevel``, ``Split`` (all five behaviours, ``invert``), ``Whitespace``, ``WhitespaceSplit``,
  ``CharDelimiterSplit``, ``Metaspace`` (``prepend_scheme`` always/first/never, ``split``), ``Digits``,
  ``Punctuation``, ``BertPreTokenizer``, ``Sequence``.

Not handled: any other type (``Precompiled``, ``UnicodeScripts``, ...). Building one never fails; running it
raises `UnsupportedComponentError` naming the component (the same holds for a ``Regex`` pattern that the
``regex`` module cannot compile). A malformed object of a handled type (a missing field, an unknown
``behavior``) raises `FormatError` when built, as ``tokenizers`` refuses to load it too.

Unicode versions: ``tokenizers`` classifies characters with Rust crates frozen at older Unicode versions than
the ``regex`` module and ``unicodedata``. The places where that changes results for characters that
``unicodedata`` knows are corrected with small tables below (``_PUNCTUATION_*``, ``_NORMALIZATION_LAG``,
``_CONTROL_LAG``), checked over every code point by a slow test. Remaining, documented differences: characters
assigned after the Unicode version of HF's regex engine (Oniguruma) follow the ``regex`` module's newer tables;
U+0295 is ``Ll`` for HF and ``Lo`` for ``regex`` (it matters only to patterns naming ``\\p{Ll}``/``\\p{Lo}``, such
as `O200K_PATTERN`); ``BertNormalizer(strip_accents=True)`` removes every ``\\p{Mn}`` character the ``regex``
module knows, while HF keeps about 500 nonspacing marks added after Unicode 9; user ``Split``/``Replace``
regexes run under the ``regex`` module's syntax (``\\w`` there also lacks ``\\p{No}``, which Oniguruma includes).

Modules: `normalizers`, `pre_tokenizers`, `pipeline` (the two chained), `presets` (JSON builders), `patterns`
(published split patterns); `_unicode` holds the character tables and `_specs` the JSON reading and splitting
they share.
"""

from lexkit.components.normalizers import Normalizer, build_normalizer
from lexkit.components.patterns import CL100K_PATTERN, GPT2_PATTERN, O200K_PATTERN
from lexkit.components.pipeline import TextPipeline, build_pipeline
from lexkit.components.pre_tokenizers import PreTokenizer, build_pre_tokenizer
from lexkit.components.presets import (
    byte_level_decoder,
    byte_level_pre_tokenizer,
    digits_pre_tokenizer,
    lowercase_normalizer,
    metaspace_pre_tokenizer,
    nfkc_normalizer,
    sequence,
    whitespace_pre_tokenizer,
)

__all__ = [
    "CL100K_PATTERN",
    "GPT2_PATTERN",
    "O200K_PATTERN",
    "Normalizer",
    "PreTokenizer",
    "TextPipeline",
    "build_normalizer",
    "build_pipeline",
    "build_pre_tokenizer",
    "byte_level_decoder",
    "byte_level_pre_tokenizer",
    "digits_pre_tokenizer",
    "lowercase_normalizer",
    "metaspace_pre_tokenizer",
    "nfkc_normalizer",
    "sequence",
    "whitespace_pre_tokenizer",
]
