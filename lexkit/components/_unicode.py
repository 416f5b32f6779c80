"""Character classes where HF ``tokenizers``' Unicode tables differ from Python's (see `lexkit.components`):
white space, BERT punctuation, normalization and control-character lag, BERT's CJK blocks."""

from __future__ import annotations

from collections.abc import Iterable

import regex


def _char_class(ranges: Iterable[tuple[int, int]]) -> str:
    """The body of a regex character class (no brackets) matching the inclusive code-point ranges."""
    return "".join(
        regex.escape(chr(lo)) if lo == hi else f"{regex.escape(chr(lo))}-{regex.escape(chr(hi))}" for lo, hi in ranges
    )


# subtle: the `regex` module's \s is exactly Unicode White_Space, which is Rust's `char::is_whitespace` (HF's
# WhitespaceSplit, Strip, BertNormalizer) and Oniguruma's \s (HF's regexes). Python's str.isspace() is NOT: it
# adds U+001C..U+001F, so str.split()/str.strip() must never be used here.
# (One compiled pattern: `regex.match(pattern, ...)` looks the pattern up in regex's cache in Python on every
# call, which made this line 0.3 s of every `import lexkit`.)
_WHITE_SPACE = "".join(filter(regex.compile(r"\s").match, map(chr, range(0x3001))))  # U+3000 is the last
_WHITE_SPACE_SET = frozenset(_WHITE_SPACE)

# HF's `is_bert_punc` = ASCII punctuation or Unicode P* from the `unicode_categories` crate (Unicode ~9).
# Characters the `regex` module calls P* but that crate does not know (assigned later):
_PUNCTUATION_NEWER = (
    (0x061D, 0x061D), (0x09FD, 0x09FD), (0x0A76, 0x0A76), (0x0C77, 0x0C77), (0x0C84, 0x0C84), (0x1B4E, 0x1B4F),
    (0x1B7D, 0x1B7F), (0x2E43, 0x2E4F), (0x2E52, 0x2E5D), (0x2E60, 0x2E63), (0x10D6E, 0x10D6E),
    (0x10EAD, 0x10EAD), (0x10ED0, 0x10ED0), (0x10F55, 0x10F59), (0x10F86, 0x10F89), (0x113D4, 0x113D5),
    (0x113D7, 0x113D8), (0x1144B, 0x1144F), (0x1145A, 0x1145B), (0x1145D, 0x1145D), (0x11660, 0x1166C),
    (0x116B9, 0x116B9), (0x1183B, 0x1183B), (0x11944, 0x11946), (0x119E2, 0x119E2), (0x11A3F, 0x11A46),
    (0x11A9A, 0x11A9C), (0x11A9E, 0x11AA2), (0x11B00, 0x11B09), (0x11BE1, 0x11BE1), (0x11C41, 0x11C45),
    (0x11C70, 0x11C71), (0x11EF7, 0x11EF8), (0x11F43, 0x11F4F), (0x11FFF, 0x11FFF), (0x12FF1, 0x12FF2),
    (0x16D6D, 0x16D6F), (0x16E97, 0x16E9A), (0x16FE2, 0x16FE2), (0x1E5FF, 0x1E5FF), (0x1E95E, 0x1E95F),
)
# ... and the two that crate calls punctuation while newer Unicode moved them out of P*.
_PUNCTUATION_OLDER = ((0x166D, 0x166D), (0x111C9, 0x111C9))
_PUNCTUATION = (
    rf"[[\p{{P}}!-/:-@\[-`{{-~{_char_class(_PUNCTUATION_OLDER)}]--[{_char_class(_PUNCTUATION_NEWER)}]]"
)

# Characters whose Unicode normalization HF's `unicode-normalization-alignments` crate (Unicode ~12.0) does not
# know, while `unicodedata` does: HF leaves them as they are, so lexkit protects them.
_NORMALIZATION_LAG = {
    "NFC": (),
    "NFD": ((0x11938, 0x11938),),
    "NFKC": (
        (0x32FF, 0x32FF), (0xA7F2, 0xA7F4), (0xAB69, 0xAB69), (0x10781, 0x10785), (0x10787, 0x107B0),
        (0x107B2, 0x107BA), (0x1F16C, 0x1F16C), (0x1FBF0, 0x1FBF9),
    ),
    "NFKD": (
        (0x32FF, 0x32FF), (0xA7F2, 0xA7F4), (0xAB69, 0xAB69), (0x10781, 0x10785), (0x10787, 0x107B0),
        (0x107B2, 0x107BA), (0x11938, 0x11938), (0x1F16C, 0x1F16C), (0x1FBF0, 0x1FBF9),
    ),
}

# Format characters (Cf) newer than HF's `unicode_categories` crate: BertNormalizer's clean_text keeps them.
_CONTROL_LAG = ((0x0890, 0x0891), (0x08E2, 0x08E2), (0x110CD, 0x110CD), (0x13430, 0x1343F))

# BertNormalizer's "Chinese character" blocks (HF `bert.rs`, from Google's BERT).
_CJK = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
    (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)
