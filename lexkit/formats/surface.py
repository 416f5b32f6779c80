"""Surface forms of token bytes: GPT-2's byte-to-unicode table, sentencepiece's ``▁`` and ``<0xNN>``.

The only module that knows these encodings; everything else works on exact bytes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

METASPACE = "\u2581"  # ▁
_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from each byte to a printable character (printable bytes map to themselves)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in keep}
    shift = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + shift)
            shift += 1
    return table


@lru_cache(maxsize=1)
def unicode_to_bytes() -> dict[str, int]:
    """Inverse of `bytes_to_unicode`."""
    return {c: b for b, c in bytes_to_unicode().items()}


@lru_cache(maxsize=1)
def _encode_table() -> list[str]:
    table = bytes_to_unicode()
    return [table[b] for b in range(256)]


def encode_surface(content: bytes) -> str:
    """Bytes -> GPT-2 byte-level surface string (``b" hi"`` -> ``"Ġhi"``)."""
    table = _encode_table()
    return "".join(table[b] for b in content)


@lru_cache(maxsize=1)
def _utf16_table() -> np.ndarray:
    """Byte -> the UTF-16 code unit of its surface character (all of them are below U+0144)."""
    return np.array([ord(c) for c in _encode_table()], dtype="<u2")


def encode_surfaces(contents: Sequence[bytes]) -> list[str]:
    """`encode_surface` of many contents at once: one table gather over their concatenation (a 200k-token
    vocabulary in milliseconds instead of a Python loop per byte)."""
    lengths = np.fromiter(map(len, contents), dtype=np.int64, count=len(contents))
    text = _utf16_table()[np.frombuffer(b"".join(contents), dtype=np.uint8)].tobytes().decode("utf-16-le")
    ends = np.cumsum(lengths).tolist()
    return [text[end - length:end] for end, length in zip(ends, lengths.tolist())]


def decode_surface(surface: str) -> bytes | None:
    """GPT-2 byte-level surface string -> bytes, or None when a character is outside the table."""
    table = unicode_to_bytes()
    try:
        return bytes(table[c] for c in surface)
    except KeyError:
        return None


def byte_piece(value: int) -> str:
    """The byte-fallback piece for one byte: ``10`` -> ``"<0x0A>"``."""
    return f"<0x{value:02X}>"


def parse_byte_piece(piece: str) -> int | None:
    """``"<0x0A>"`` -> 10; None for any other piece."""
    match = _BYTE_PIECE.fullmatch(piece)
    return int(match.group(1), 16) if match else None


def metaspace_to_bytes(piece: str, replacement: str = METASPACE) -> bytes:
    """A sentencepiece-style piece -> bytes: the replacement character stands for a space."""
    return piece.replace(replacement, " ").encode("utf-8")


def bytes_to_metaspace(content: bytes, replacement: str = METASPACE) -> str | None:
    """Inverse of `metaspace_to_bytes`; None when the bytes are not valid UTF-8."""
    try:
        return content.decode("utf-8").replace(" ", replacement)
    except UnicodeDecodeError:
        return None
