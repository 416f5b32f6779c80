"""Encoding a file of any size in bounded memory, with the ids of the whole text.

The file is read in blocks of `READ_BYTES`; each block is cut at its last `lexkit.engine.last_boundary` (a space or
newline right after a letter), where the engine's proof for `lexkit.engine.split_points` says the ids of the two
parts equal the ids of the whole; the rest carries into the next block. A tokenizer whose pipeline allows no such
cut (`streamable` is False, e.g. Mistral's prepended word marker) is read whole instead, with a warning.
`format_ids` turns ids into decimal text without a Python object per id, for ``lexkit encode``.
"""

from __future__ import annotations

import codecs
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lexkit.engine import last_boundary
from lexkit.errors import EncodingError, FormatError

if TYPE_CHECKING:
    from lexkit.tokenizer import SpecialSet, Tokenizer

__all__ = ["READ_BYTES", "MAX_CARRY_CHARS", "streamable", "encode_file", "format_ids"]

logger = logging.getLogger(__name__)

#: Bytes read per step (measured: larger blocks did not raise MB/s; memory grows with them).
READ_BYTES = 1 << 22
#: Characters without a single cut position after which `encode_file` gives up (bounded memory).
MAX_CARRY_CHARS = 1 << 25


def streamable(tokenizer: Tokenizer) -> bool:
    """True when `encode_file` can cut this tokenizer's text between blocks without changing an id.

    Needs an engine-run encoder whose pipeline `lexkit.engine.split_safe` accepts, and no special token holding
    white space (a cut could fall inside it).
    """
    engine = getattr(tokenizer.encoder, "engine", None)
    specials = tokenizer.vocabulary.special_tokens
    return bool(engine is not None and engine.splittable and not any(c.isspace() for s in specials for c in s))


def encode_file(
    tokenizer: Tokenizer,
    path: Path,
    *,
    allowed_special: SpecialSet = frozenset(),
    read_bytes: int | None = None,
    max_carry_chars: int | None = None,
    progress: Callable[[int], object] | None = None,
) -> Iterator[np.ndarray]:
    """Yield the ids of a UTF-8 file block by block (``uint32`` arrays); joined, they are the whole text's ids.

    Args:
        tokenizer: the tokenizer (see `streamable`; others read the whole file at once).
        path: the file.
        allowed_special: special-token texts to encode as their id, as in `Tokenizer.encode`.
        read_bytes: bytes read per step (default `READ_BYTES`).
        max_carry_chars: the longest stretch without a cut position held in memory (default `MAX_CARRY_CHARS`).
        progress: called with the number of bytes read after each step.

    Raises:
        FormatError: invalid UTF-8 (names the byte offset), or a stretch longer than ``max_carry_chars`` with
            no cut position.
        EncodingError: the text holds a special token that is not allowed.
    """
    path = Path(path)
    read_bytes = read_bytes or READ_BYTES
    max_carry_chars = max_carry_chars or MAX_CARRY_CHARS
    if not streamable(tokenizer):
        logger.warning("%s: this tokenizer's text cannot be cut without changing ids; reading the whole file", path)
        data = path.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _invalid_utf8(path, exc.start, data[exc.start]) from None
        if progress is not None:
            progress(len(data))
        yield _encode(tokenizer, path, text, 0, allowed_special)
        return
    decoder = codecs.getincrementaldecoder("utf-8")()
    carry = ""
    read = 0  # bytes handed to the decoder so far
    chars = 0  # characters encoded so far (for error messages)
    with open(path, "rb") as handle:
        while True:
            raw = handle.read(read_bytes)
            pending = decoder.getstate()[0]
            try:
                text = carry + decoder.decode(raw, final=not raw)
            except UnicodeDecodeError as exc:
                # subtle: the decoder reports positions in its held-back bytes plus this block
                bad = read - len(pending) + exc.start
                raise _invalid_utf8(path, bad, (pending + raw)[exc.start]) from None
            read += len(raw)
            cut = len(text) if not raw else last_boundary(text)
            if cut > 0:
                yield _encode(tokenizer, path, text[:cut], chars, allowed_special)
                chars += cut
                carry = text[cut:]
            else:
                carry = text  # no cut position yet (one endless word): keep reading
                if len(carry) > max_carry_chars:
                    raise FormatError(
                        f"{path}: {len(carry):,} characters from character {chars:,} hold no space or newline after "
                        "a letter, where the text could be cut; split the file there or encode it from Python "
                        "with Tokenizer.encode"
                    )
            if progress is not None:
                progress(len(raw))
            if not raw:
                return


def _encode(tokenizer: Tokenizer, path: Path, text: str, start: int, allowed: SpecialSet) -> np.ndarray:
    try:
        ids, _ = tokenizer.encode_batch_flat([text], allowed_special=allowed)
    except EncodingError as exc:
        raise EncodingError(f"{path}, text from character {start:,}: {exc}") from None
    return ids


def _invalid_utf8(path: Path, offset: int, byte: int) -> FormatError:
    return FormatError(f"{path}: invalid UTF-8 at byte {offset} (0x{byte:02x}); convert the file to UTF-8 first "
                       "(e.g. iconv -f LATIN1 -t UTF-8)")


_POWERS = 10 ** np.arange(1, 10, dtype=np.uint64)


def format_ids(ids: np.ndarray) -> bytes:
    """The ids as ASCII decimal numbers separated by single spaces (``b"15496 995"``), built with numpy.

    >>> format_ids(np.array([15496, 0, 995], dtype=np.uint32))
    b'15496 0 995'
    """
    values = np.asarray(ids, dtype=np.uint64)
    if values.size == 0:
        return b""
    digits = np.searchsorted(_POWERS, values, side="right") + 1
    ends = np.cumsum(digits + 1)  # one past each id's trailing space
    out = np.full(int(ends[-1]), ord(" "), dtype=np.uint8)
    position = ends - 2  # each id's last digit
    while values.size:  # one digit of every id per pass, right to left; finished ids drop out
        out[position] = (values % 10).astype(np.uint8) + ord("0")
        values = values // 10
        live = values > 0
        values, position = values[live], position[live] - 1
    return out[:-1].tobytes()
