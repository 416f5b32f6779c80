"""Encoding a file of any size in bounded memory, with the ids of the whole text.

The file is read in blocks of `READ_BYTES`; each block is cut at its last `lexkit.engine.last_boundary` (a space or
newline right after a letter), where the engine's proof for `lexkit.engine.split_points` says the ids of the two
parts equal the ids of the whole; the rest carries into the next block. SentencePiece-style BPE (Mistral), which
prepends its word marker to the text, is cut by the engine's other rule (`lexkit.engine.prepend_tail`; see
`encode_file`). A tokenizer whose pipeline allows no cut (`streamable` is False) is read whole, with a warning.
`format_ids` turns ids into decimal text without a Python object per id, for ``lexkit encode``.
"""

from __future__ import annotations

import codecs
import itertools
import logging
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lexkit.engine import CL100K_PATTERN, CL100K_TIKTOKEN_PATTERN, O200K_PATTERN, QWEN2_PATTERN, last_boundary
from lexkit.errors import EncodingError, FormatError

if TYPE_CHECKING:
    from lexkit.tokenizer import SpecialSet, Tokenizer

__all__ = ["READ_BYTES", "MAX_CARRY_CHARS", "RUN_CHARS", "streamable", "encode_file", "format_ids", "code_points",
           "joinable", "Joining", "text_runs"]

logger = logging.getLogger(__name__)

#: Bytes read per step. Measured (GPT-2, 10 MB): 1 MiB and 4 MiB blocks ran at the same speed, but 4 MiB
#: added 106 MB of peak RSS over the loaded tokenizer against 16 MB for 1 MiB.
READ_BYTES = 1 << 20
#: Characters without a single cut position after which `encode_file` gives up (bounded memory).
MAX_CARRY_CHARS = 1 << 25
#: About how many characters `run_bounds` puts in one run of joined texts.
RUN_CHARS = 1 << 16
#: Split patterns whose ``\s*[\r\n]+`` (or ``\s*[\r\n]``) comes before ``\s+(?!\S)`` (see `Joining`).
_NEWLINE_FIRST_PATTERNS = frozenset({CL100K_PATTERN, CL100K_TIKTOKEN_PATTERN, O200K_PATTERN, QWEN2_PATTERN})


def streamable(tokenizer: Tokenizer) -> bool:
    """True when `encode_file` can cut this tokenizer's text between blocks without changing an id.

    Needs an engine-run encoder whose pipeline `lexkit.engine.split_safe` accepts or whose long texts the engine
    cuts by `lexkit.engine.prepend_tail` (Mistral), and no special token holding white space (a cut could fall
    inside it).
    """
    return _cut_rule(tokenizer) is not None


def _cut_rule(tokenizer: Tokenizer) -> str | None:
    """``"split"`` (`lexkit.engine.split_safe`), ``"tail"`` (`lexkit.engine.prepend_tail`) or None: no cut."""
    engine = getattr(tokenizer.encoder, "engine", None)
    if engine is None or any(c.isspace() for s in tokenizer.vocabulary.special_tokens for c in s):
        return None
    return "split" if engine.splittable else "tail" if engine.cuts_with_tail else None


def _last_tail_cut(text: str, avoid: frozenset[str]) -> int:
    """The last space in ``text`` right after a letter and before a character that is in ``text`` and starts no
    special or added token (``avoid``: their first characters); -1 if none. `encode_file`'s cuts under
    `lexkit.engine.prepend_tail`'s rule."""
    position = text.rfind(" ", 0, len(text) - 1)
    while position > 0:
        if text[position - 1].isalpha() and text[position + 1] not in avoid:
            return position
        position = text.rfind(" ", 0, position)
    return -1


def code_points(text: str) -> np.ndarray:
    """The code points of ``text`` as an array (``uint8`` for ASCII text, else ``uint32``; lone surrogates kept)."""
    if text.isascii():  # subtle: O(1) in CPython (a flag of the string object)
        return np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def joinable(tokenizer: Tokenizer) -> Joining | None:
    """How `text_runs` may join texts for this tokenizer, or None when it must encode every text alone."""
    if _cut_rule(tokenizer) != "split":  # subtle: joined texts would lose the marker Mistral prepends to each
        return None
    pre = tokenizer.vocabulary.pre_tokenizer or {}
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    pattern = steps[0].get("pattern", {}).get("Regex") if steps and steps[0].get("type") == "Split" else None
    return Joining(indented=pattern in _NEWLINE_FIRST_PATTERNS)


@dataclass(frozen=True)
class Joining:
    r"""Which texts `text_runs` may put right after a text that ends in a line break.

    ``indented``: also texts that start with several spaces; true for the split patterns whose ``\s*[\r\n]+``
    alternative (tried before ``\s+(?!\S)``) ends a pre-token at the line break whatever white space follows.
    GPT-2's pattern would join ``"\n  "`` instead.
    """

    indented: bool = False


def text_runs(texts: Sequence[str], batch_codes: np.ndarray, offsets: np.ndarray, joining: Joining, *,
              run_chars: int = RUN_CHARS) -> tuple[list[str], int]:
    r"""Texts joined into runs whose ids, concatenated, hold every id of the texts encoded one by one.

    Why: the engine pays a fixed cost per text; lines encoded one by one ran 4x slower than 2,000-line chunks.
    The order of the ids is not kept (a bag of ids, for counting): texts that are a lone ``"\n"`` are left out
    and only counted, and a text may join the one before it when that one ends in a letter, digit, mark,
    punctuation or symbol followed by ``"\n"`` and it starts with a letter, digit, punctuation or symbol other
    than ``"/"``, or with one space (several with ``joining.indented``) and then a letter, digit, mark, punctuation
    or symbol. subtle: in
    every `streamable` pipeline that ``"\n"`` then ends a pre-token (alone, or closing the punctuation run before
    it) as it does at the end of a text, and the next pre-token starts where the next text does;
    ``tests/lexkit/test_stream.py`` checks the ids against line-by-line encoding on the real corpus. A run also
    ends at the first text boundary past every ``run_chars`` characters, so the engine spreads runs over its
    threads.

    Args:
        texts: the texts.
        batch_codes: the code points of ``"".join(texts)`` (`code_points`).
        offsets: ``len(texts) + 1`` character offsets of the texts in the join.
        joining: what `joinable` allows for the tokenizer.
        run_chars: about how many characters a run may hold.

    Returns:
        The runs, and how many texts were a lone ``"\n"`` (each encodes as ``encode("\n")``).
    """
    lengths = np.diff(offsets)
    if batch_codes.size == 0:
        return [], 0
    starts = np.minimum(offsets[:-1], batch_codes.size - 1)
    ends = offsets[1:]
    first = batch_codes[starts]
    blank = (lengths == 1) & (first == 10)
    end_ok = lengths >= 2
    end_ok[end_ok] = (batch_codes[ends[end_ok] - 1] == 10) & _has(batch_codes[ends[end_ok] - 2], _VISIBLE)
    start_ok = (lengths >= 1) & _has(first, _START)
    spaced = (lengths >= 2) & (first == 32)
    if spaced.any():
        solid = np.flatnonzero(batch_codes != 32)  # where the first non-space of each spaced text is
        at = np.searchsorted(solid, starts[spaced])
        found = at < solid.size
        position = np.full(at.size, -1, dtype=np.int64)
        position[found] = solid[at[found]]
        inside = found & (position < ends[spaced])
        good = inside.copy()
        good[inside] = _has(batch_codes[position[inside]], _VISIBLE)
        if not joining.indented:
            good &= position == starts[spaced] + 1
        start_ok[spaced] = good
    kept = ~blank
    blanks = int(np.count_nonzero(blank))
    if blanks:
        kept_texts = list(itertools.compress(texts, kept.tolist()))
        joined = "".join(kept_texts)
        kept_offsets = np.zeros(len(kept_texts) + 1, dtype=np.int64)
        np.cumsum(lengths[kept], out=kept_offsets[1:])
    else:
        joined = "".join(texts)
        kept_offsets = offsets
    inner = kept_offsets[1:-1]
    join = end_ok[kept][:-1] & start_ok[kept][1:]
    blocks = inner // run_chars
    join[1:] &= blocks[1:] == blocks[:-1]
    if join.size:
        join[0] &= blocks[0] == 0
    bounds = np.unique(np.concatenate([kept_offsets[:1], inner[~join], kept_offsets[-1:]])).tolist()
    return [joined[a:b] for a, b in zip(bounds, bounds[1:])], blanks


_VISIBLE, _START = 1, 2  # categories L, N, P, S, M; and L, N, P, S without "/"
_TABLE_LIMIT = 0x3000


def _category_bits(code: int) -> int:
    category = unicodedata.category(chr(code))[0]
    return (_VISIBLE if category in "LNPSM" else 0) | (_START if category in "LNPS" and code != 0x2F else 0)


_BITS = np.array([_category_bits(code) for code in range(_TABLE_LIMIT)], dtype=np.uint8)


def _has(codes: np.ndarray, bit: int) -> np.ndarray:
    """Whether each code point has the class ``bit`` (a table below U+3000, `unicodedata` above)."""
    if codes.dtype == np.uint8 or not codes.size or int(codes.max()) < _TABLE_LIMIT:
        return (_BITS[codes] & bit) != 0
    out = np.zeros(codes.shape, dtype=bool)
    low = codes < _TABLE_LIMIT
    out[low] = (_BITS[codes[low]] & bit) != 0
    values, inverse = np.unique(codes[~low], return_inverse=True)
    out[~low] = np.array([bool(_category_bits(v) & bit) for v in values.tolist()], dtype=bool)[inverse.ravel()]
    return out


def encode_file(
    tokenizer: Tokenizer,
    path: Path,
    *,
    allowed_special: SpecialSet = frozenset(),
    disallowed_special: SpecialSet = "all",
    read_bytes: int | None = None,
    max_carry_chars: int | None = None,
    progress: Callable[[int], object] | None = None,
) -> Iterator[np.ndarray]:
    """Yield the ids of a UTF-8 file block by block (``uint32`` arrays); joined, they are the whole text's ids.

    subtle: a tokenizer that prepends its word marker (`lexkit.engine.prepend_tail`) is cut only before a space that
    follows a letter and precedes a character starting no special or added token, and each block after the first
    is encoded without its leading space by the public calls. Those prepend the marker that the space would have
    become (normalizers ``Prepend("▁")`` then ``Replace(" ", "▁")`` turn ``" " + rest`` and ``rest`` into the same
    text when ``rest`` is not empty), so the block gets the ids `prepend_tail`'s engine gives the piece after a cut
    (its proof: those are the whole text's ids there); added and special tokens hold no white space, so none
    spans the cut, and none starts the block, where the public call would put the marker after it instead.

    Args:
        tokenizer: the tokenizer (see `streamable`; others read the whole file at once).
        path: the file.
        allowed_special: special-token texts to encode as their id, as in `Tokenizer.encode`.
        disallowed_special: special-token texts whose presence raises, as in `Tokenizer.encode` (``()``: encode
            them as ordinary text).
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
    rule = _cut_rule(tokenizer)
    if rule is None:
        logger.warning("%s: this tokenizer's text cannot be cut without changing ids; reading the whole file", path)
        data = path.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _invalid_utf8(path, exc.start, data[exc.start]) from None
        if progress is not None:
            progress(len(data))
        yield _encode(tokenizer, path, text, 0, allowed_special, disallowed_special)
        return
    avoid = frozenset(text[:1] for text in tokenizer.vocabulary.special_tokens)  # special and added tokens
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
            cut = len(text) if not raw else last_boundary(text) if rule == "split" else _last_tail_cut(text, avoid)
            if cut > 0:
                skip = 1 if rule == "tail" and chars else 0  # the leading space, whose marker the call prepends
                yield _encode(tokenizer, path, text[skip:cut], chars + skip, allowed_special, disallowed_special)
                chars += cut
                carry = text[cut:]
            else:
                carry = text  # no cut position yet (one endless word): keep reading
                if len(carry) > max_carry_chars:
                    raise FormatError(
                        f"{path}: {len(carry):,} characters from character {chars:,} hold no "
                        f"{'space or newline' if rule == 'split' else 'space'} after a letter, where the text could "
                        "be cut; split the file there or encode it from Python with Tokenizer.encode"
                    )
            if progress is not None:
                progress(len(raw))
            if not raw:
                return


def _encode(tokenizer: Tokenizer, path: Path, text: str, start: int, allowed: SpecialSet,
            disallowed: SpecialSet) -> np.ndarray:
    try:
        ids, _ = tokenizer.encode_batch_flat([text], allowed_special=allowed, disallowed_special=disallowed)
    except EncodingError as exc:
        raise EncodingError(f"{path}, text from character {start:,}: {exc}") from None
    return ids


def _invalid_utf8(path: Path, offset: int, byte: int) -> FormatError:
    return FormatError(f"{path}: invalid UTF-8 at byte {offset} (0x{byte:02x}); convert the file to UTF-8 first "
                       "(e.g. iconv -f LATIN1 -t UTF-8)")


# Every number 0..9999 as four ASCII digits with leading zeros, packed in one little-endian uint32 each.
_DIGITS4 = np.array([list(f"{n:04d}".encode()) for n in range(10_000)], dtype=np.uint8).view("<u4").ravel()
# Byte j of a 16-byte row (twelve digits, a space, three unused) is kept when _KEEP_FROM[j] >= the row's first
# digit position: the digits from the first significant one, and the space (position 12; never the unused bytes).
_KEEP_FROM = np.array([*range(13), 0, 0, 0], dtype=np.uint8)


def format_ids(ids: np.ndarray) -> bytes:
    """The ids as ASCII decimal numbers separated by single spaces (``b"15496 995"``), built with numpy.

    Why: ``" ".join(map(str, ids))`` made a Python string per id and cost more than the encoding itself.

    >>> format_ids(np.array([15496, 0, 995], dtype=np.uint32))
    b'15496 0 995'
    """
    values = np.asarray(ids, dtype=np.uint32)
    if values.size == 0:
        return b""
    rows = np.empty((values.size, 4), dtype=np.uint32)
    rows[:, 0] = _DIGITS4[values // 100_000_000]
    rows[:, 1] = _DIGITS4[values // 10_000 % 10_000]
    rows[:, 2] = _DIGITS4[values % 10_000]
    rows[:, 3] = ord(" ")
    first = np.full(values.size, 11, dtype=np.uint8)  # position of the first significant digit
    for power in range(1, 10):
        first -= values >= 10**power
    keep = _KEEP_FROM[None, :] >= first[:, None]
    return rows.view(np.uint8).reshape(-1, 16)[keep].tobytes()[:-1]
