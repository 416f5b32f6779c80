"""Hypothesis strategies shared by the tests: varied text, bytes, small corpora."""

from __future__ import annotations

from hypothesis import strategies as st

# Pieces that stress tokenizers: whitespace runs, digits, emoji (incl. ZWJ sequences), CJK, combining marks,
# contractions, code punctuation, right-to-left scripts.
PIECES = [
    " ", "  ", "\n", "\n\n", "\t", "\r\n", "   \n", "'s", "'ll", "don't", "123", "2024", "3.14159", "x=1;",
    "def f(x):", "    return", "😀", "👩‍👩‍👧", "🇹🇷", "日本語", "中文字", "한국어", "é", "e\u0301", "ß", "İstanbul",
    "ğüşıöç", "مرحبا", "שלום", "—", "…", "«»", "\u00a0", "\u200b", "<", ">", "{", "}", "##", "▁", "Ġ",
]

varied_text = st.lists(
    st.one_of(st.sampled_from(PIECES), st.text(min_size=0, max_size=12)), min_size=0, max_size=12
).map("".join)
