"""LBPE's long-token-first segmenters: the compiled kernel behind the ``lbpe`` encoders.

Three readings of LBPE (Lian et al., arXiv 2411.05504), all over a byte-level vocabulary's normal tokens plus
its 256 single bytes, one pre-token at a time:

- ``fewest-tokens``: the segmentation with the fewest tokens; among those, the one whose token ids sum
  highest (the latest-learned tokens, which are the rarer and mostly the longer ones), then the longest first
  token. A backward dynamic programme. Never more tokens than BPE (BPE's segmentation is a candidate).
- ``longest-pair``: start from single bytes; repeatedly merge the adjacent pair whose concatenation is the
  longest vocabulary token (then the lowest id, then the shorter left part, then the leftmost), whether or not
  a merge rule builds it. That order is a merge list over every split of every token (`pair_merges`), so HF's
  BPE engine runs this reading from a standard ``tokenizer.json``.
- ``longest-token`` (FLOTA, Hofmann et al. 2022): repeatedly accept the longest token (leftmost among equals)
  that overlaps no accepted one; equal to "the longest token anywhere, then both sides recursively".

`Segmenter` runs the C kernel (``lexkit/_lbpe_kernel.c``) when it is built; it then also pre-tokenizes in C
when the vocabulary uses plain GPT-2 byte-level pre-tokenization with no normalizer (what lexkit trainers
write by default), with a character-class table taken from the ``regex`` module so the split is the one
`lexkit.components` makes. Otherwise the vocabulary's pipeline runs in Python and only segmentation is
compiled. The compiled GPT-2 path releases the GIL: a batch is cut into one slice of texts per core, each
encoded by its own kernel (a pool, since a kernel's pre-token cache serves one thread at a time). Without
the kernel (no C compiler at install time) the Python functions below run instead; they and
`lexkit._reference` (the definitions, written plainly) are the oracles the kernel is tested against.
"""

from __future__ import annotations

import heapq
import logging
import os
import queue
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from lexkit.errors import LexkitError
from lexkit.vocabulary import TokenKind, Vocabulary

Reading = Literal["fewest-tokens", "longest-pair", "longest-token"]
READINGS: tuple[Reading, ...] = ("fewest-tokens", "longest-pair", "longest-token")

logger = logging.getLogger(__name__)

#: Below this many characters a batch runs in the calling thread: a second thread costs more than it saves.
PARALLEL_MIN_CHARS = 1 << 16

#: HF's ``ByteLevel`` with GPT-2's regex and no prefix space: the split the kernel runs itself.
_GPT2_BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}


def kernel_available() -> bool:
    """Whether the compiled kernel was built at install time (it is optional: no compiler, no kernel)."""
    try:
        from lexkit import _lbpe_kernel  # noqa: F401
    except ImportError:
        return False
    return True


@lru_cache(maxsize=1)
def gpt2_classes() -> bytes:
    """One byte per code point: 1 ``\\p{L}``, 2 ``\\p{N}``, 3 ``\\s``, 0 other, as the ``regex`` module sees them.

    >>> table = gpt2_classes()
    >>> table[ord("a")], table[ord("7")], table[ord(" ")], table[ord("!")], table[ord("ş")]
    (1, 2, 3, 0, 1)
    """
    import regex

    every = "".join(map(chr, range(0x110000)))
    table = bytearray(0x110000)
    for value, pattern in ((1, r"\p{L}+"), (2, r"\p{N}+"), (3, r"\s+")):
        for match in regex.finditer(pattern, every):
            table[match.start():match.end()] = bytes([value]) * (match.end() - match.start())
    return bytes(table)


def check_vocabulary(vocabulary: Vocabulary) -> None:
    """Raise unless the readings can run on ``vocabulary`` (`token_table`'s check, without building the table).

    Raises:
        LexkitError: the vocabulary is not byte-level or lacks single-byte tokens.
    """
    from lexkit.formats.hf import surface_scheme

    scheme, _ = surface_scheme(vocabulary)
    if scheme != "byte-level" or len(vocabulary.byte_ids) < 256:
        raise LexkitError(
            f"the LBPE encoders need a byte-level vocabulary with all 256 single bytes; this one is {scheme} "
            f"with {len(vocabulary.byte_ids)} byte tokens; use encoder 'bpe' or 'long-first'"
        )


def token_table(vocabulary: Vocabulary) -> dict[bytes, int]:
    """The tokens the readings may emit: normal model tokens and the 256 single bytes, content -> id.

    Raises:
        LexkitError: the vocabulary is not byte-level or lacks single-byte tokens.
    """
    check_vocabulary(vocabulary)
    ids = {
        token.content: token.id for token in vocabulary.tokens[:vocabulary.model_size]
        if token.kind == TokenKind.NORMAL and token.content
    }
    ids.update({bytes([byte]): token_id for byte, token_id in vocabulary.byte_ids.items()})
    return ids


def segment_longest_token(content: bytes, ids: dict[bytes, int], longest: int) -> list[int]:
    """``longest-token`` on one pre-token (Python fallback of the kernel).

    The recursive definition equals a global greedy: repeatedly accept the longest (then leftmost) token
    that overlaps no accepted one. A heap holds, per position, the longest token starting there; an entry
    that now overlaps an accepted token is shortened to fit and pushed back, so each pop that fits is the
    longest-leftmost candidate of its unsegmented stretch (O(n * L * log n), L = ``longest``).

    >>> ids = {bytes([b]): b for b in range(256)} | {b"ab": 256, b"bc": 257, b"bcd": 258}
    >>> segment_longest_token(b"abcd", ids, 3), segment_longest_token(b"abc", ids, 3)
    ([97, 258], [256, 99])
    """
    size = len(content)
    covered = bytearray(size)

    def longest_at(position: int, bound: int) -> int:
        for length in range(min(longest, bound - position), 0, -1):
            if content[position:position + length] in ids:
                return length
        raise LexkitError(f"byte {content[position]:#04x} has no token in this vocabulary")

    heap = [(-longest_at(position, size), position) for position in range(size)]
    heapq.heapify(heap)
    chosen: dict[int, int] = {}
    while heap:
        negative, position = heapq.heappop(heap)
        if covered[position]:
            continue
        length = -negative
        blocked = covered.find(1, position, position + length)
        if blocked == -1:
            covered[position:position + length] = b"\x01" * length
            chosen[position] = length
        else:
            heapq.heappush(heap, (-longest_at(position, blocked), position))
    return [ids[content[position:position + length]] for position, length in sorted(chosen.items())]


def segment_longest_pair(content: bytes, ids: dict[bytes, int], longest: int) -> list[int]:
    """``longest-pair`` on one pre-token (Python fallback of the kernel).

    Symbols are indexed by their first byte; a heap of candidate pairs ordered by (longest concatenation,
    lowest id, shorter left part, leftmost) with lazy invalidation: an entry is stale once either symbol
    spans other bytes.

    >>> ids = {bytes([b]): b for b in range(256)} | {b"ab": 256, b"bc": 257, b"bcd": 258, b"cd": 259}
    >>> segment_longest_pair(b"abcd", ids, 3)  # ab (id 256) first, then only cd: a merge rule is not needed
    [256, 259]
    """
    size = len(content)
    end = list(range(1, size + 1))
    before = [position - 1 for position in range(size)]
    alive = [True] * size
    heap: list[tuple[int, int, int, int, int]] = []

    def push(start: int, left_end: int, right_end: int) -> None:
        if right_end - start <= longest:
            token_id = ids.get(content[start:right_end])
            if token_id is not None:
                heapq.heappush(heap, (start - right_end, token_id, left_end - start, start, right_end))

    for position in range(size - 1):
        push(position, position + 1, position + 2)
    while heap:
        _, _, left_size, left, right_end = heapq.heappop(heap)
        right = left + left_size
        if not alive[left] or end[left] != right or not alive[right] or end[right] != right_end:
            continue
        end[left] = right_end
        alive[right] = False
        if right_end < size:
            before[right_end] = left
            push(left, right_end, end[right_end])
        if left > 0:
            push(before[left], left, right_end)
    out = []
    position = 0
    while position < size:
        out.append(ids[content[position:end[position]]])
        position = end[position]
    return out


def segment_fewest_tokens(content: bytes, ids: dict[bytes, int], longest: int) -> list[int]:
    """``fewest-tokens`` on one pre-token (Python fallback of the kernel).

    A backward dynamic programme: the key of a segmentation of ``content[i:]`` is (number of tokens, minus
    the sum of their ids); at each position the token with the smallest key wins, the longest among equals.

    >>> ids = {bytes([b]): b for b in range(256)} | {b"ab": 256, b"bc": 257, b"bcd": 258, b"abc": 259}
    >>> segment_fewest_tokens(b"abcd", ids, 3)  # a|bcd and abc|d both take 2 tokens: abc + d has more id
    [259, 100]
    """
    size = len(content)
    key = [(0, 0)] * (size + 1)
    length = [0] * size
    for position in range(size - 1, -1, -1):
        best = (size + 1, 0)
        for end in range(position + 1, min(size, position + longest) + 1):
            token_id = ids.get(content[position:end])
            if token_id is not None:
                candidate = (key[end][0] + 1, key[end][1] - token_id)
                if candidate <= best:
                    best, length[position] = candidate, end - position
        key[position] = best
    out = []
    position = 0
    while position < size:
        out.append(ids[content[position:position + length[position]]])
        position += length[position]
    return out


_SEGMENTERS: dict[Reading, Callable[[bytes, dict[bytes, int], int], list[int]]] = {
    "fewest-tokens": segment_fewest_tokens, "longest-pair": segment_longest_pair,
    "longest-token": segment_longest_token,
}

def pair_merges(vocabulary: Vocabulary) -> list[tuple[int, int]]:
    """``longest-pair`` as a BPE merge list: every split of every token into two tokens, in the reading's order.

    Ranked by the token's length (longest first), then its id, then the left part's length (shortest first).
    HF's BPE loop (lowest rank first, leftmost among equals) over these merges is the ``longest-pair`` reading.

    >>> from lexkit.vocabulary import Vocabulary
    >>> from lexkit.components import byte_level_pre_tokenizer, byte_level_decoder
    >>> v = Vocabulary.from_merges([bytes([b]) for b in range(256)], [(b"a", b"b"), (b"b", b"c"), (b"ab", b"c")],
    ...                            pre_tokenizer=byte_level_pre_tokenizer(), decoder=byte_level_decoder())
    >>> [(v.tokens[a].content, v.tokens[b].content) for a, b in pair_merges(v)]
    [(b'a', b'bc'), (b'ab', b'c'), (b'a', b'b'), (b'b', b'c')]
    """
    ids = token_table(vocabulary)
    splits = []
    for content, token_id in ids.items():
        for cut in range(1, len(content)):
            left, right = ids.get(content[:cut]), ids.get(content[cut:])
            if left is not None and right is not None:
                splits.append((-len(content), token_id, cut, left, right))
    splits.sort()
    return [(left, right) for *_, left, right in splits]


_KERNEL_READING: dict[Reading, int] = {"longest-token": 0, "longest-pair": 1, "fewest-tokens": 2}


class Segmenter:
    """One vocabulary's LBPE encoder: pre-tokenization plus a reading, compiled when the kernel is built.

    Args:
        vocabulary: a byte-level vocabulary with all 256 single bytes.
        reading: ``"fewest-tokens"``, ``"longest-pair"`` or ``"longest-token"``.
        compiled: use the C kernel when it is built (False forces the Python fallback, for tests).

    Raises:
        LexkitError: the vocabulary is not byte-level, or the reading is unknown.
    """

    def __init__(self, vocabulary: Vocabulary, reading: Reading, *, compiled: bool = True) -> None:
        from lexkit.components import build_pipeline

        if reading not in READINGS:
            raise LexkitError(f"LBPE reading {reading!r} is not one of {', '.join(READINGS)}")
        self.reading = reading
        self.ids = token_table(vocabulary)
        self.longest = max(map(len, self.ids))
        self._pipeline = build_pipeline(vocabulary.normalizer, vocabulary.pre_tokenizer)
        pre = vocabulary.pre_tokenizer or {}
        # The kernel pre-tokenizes itself only what it implements: no normalizer, ByteLevel with GPT-2's regex.
        self._gpt2 = vocabulary.normalizer is None and all(
            pre.get(key) == value for key, value in _GPT2_BYTE_LEVEL.items()) and not pre.get("pattern")
        self._cache: dict[bytes, list[int]] = {}
        self.kernel = self._build_kernel() if compiled else None
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()  # kernels no thread is using
        if self.kernel is not None:
            self._idle.put(self.kernel)

    def _build_kernel(self) -> Any:
        if not kernel_available():
            return None
        from lexkit._lbpe_kernel import Kernel

        classes = gpt2_classes() if self._gpt2 else None
        return Kernel(list(self.ids.items()), _KERNEL_READING[self.reading], classes)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the kernel (a C object) or the cache; unpickling rebuilds the kernel."""
        state = dict(self.__dict__, kernel=self.kernel is not None, _cache={})
        del state["_idle"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.kernel = self._build_kernel() if state["kernel"] else None
        self._idle = queue.SimpleQueue()
        if self.kernel is not None:
            self._idle.put(self.kernel)

    @property
    def compiled(self) -> bool:
        """Whether the C kernel runs this segmenter."""
        return self.kernel is not None

    def segment(self, content: bytes) -> list[int]:
        """The ids of one pre-token's bytes."""
        if self.kernel is not None:
            with self._borrowed() as kernel:
                return kernel.segment(content)
        return _SEGMENTERS[self.reading](content, self.ids, self.longest)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """The ids of each text (special-token text is ordinary text here; `lexkit.Tokenizer` splits them off)."""
        if self.kernel is not None and self._gpt2:
            texts = list(texts)
            try:
                if len(slices := self._slices(texts)) == 1:
                    return self._run(texts, flat=False)
                ids, offsets = self._flat(slices)
            except UnicodeEncodeError:  # lone surrogates have no UTF-8; the pipeline below reports them
                pass
            else:
                from lexkit._lbpe_kernel import lists_from_flat

                return lists_from_flat(ids, offsets)  # built in this thread: no GIL ping-pong between workers
        return [self.encode(text) for text in texts]

    def encode_batch_flat(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """`encode_batch` as one ``uint32`` id array and ``len(texts) + 1`` offsets, without a Python int per id."""
        if self.kernel is not None and self._gpt2:
            try:
                return self._flat(self._slices(list(texts)))
            except UnicodeEncodeError:
                pass
        lists = [self.encode(text) for text in texts]
        bounds = np.zeros(len(lists) + 1, dtype=np.int64)
        np.cumsum([len(ids) for ids in lists], out=bounds[1:])
        return np.fromiter((i for ids in lists for i in ids), dtype=np.uint32, count=int(bounds[-1])), bounds

    @staticmethod
    def _slices(texts: list[str]) -> list[list[str]]:
        """``texts`` cut into contiguous slices of about equal characters, one per core (one for small batches)."""
        workers = min(os.cpu_count() or 1, len(texts))
        total = sum(map(len, texts))
        if workers < 2 or total < PARALLEL_MIN_CHARS:
            return [texts]
        cuts, running, target = [0], 0, total / workers
        for index, text in enumerate(texts):
            running += len(text)
            if running >= target * len(cuts) and len(cuts) < workers:
                cuts.append(index + 1)
        cuts.append(len(texts))
        return [texts[start:stop] for start, stop in zip(cuts, cuts[1:]) if stop > start]

    def _flat(self, slices: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """The kernel's GPT-2 path on every slice at once (a kernel per thread, GIL released), joined."""
        futures = [_executor().submit(self._run, part, True) for part in slices[1:]]
        try:
            parts = [self._run(slices[0], flat=True)]  # the calling thread takes the first slice
        finally:
            wait(futures)  # every kernel is idle again before an error reaches the fallback
        parts += [future.result() for future in futures]
        ids = [np.frombuffer(flat, dtype=np.uint32) for flat, _ in parts]
        bounds = [np.frombuffer(offsets, dtype=np.int64) for _, offsets in parts]
        shifts = np.cumsum([0] + [len(part) for part in ids[:-1]])
        offsets = np.concatenate([bounds[0][:1]] + [b[1:] + shift for b, shift in zip(bounds, shifts)])
        return np.concatenate(ids), offsets

    def _run(self, texts: list[str], flat: bool) -> Any:
        with self._borrowed() as kernel:
            return kernel.encode_gpt2_flat(texts) if flat else kernel.encode_gpt2(texts)

    @contextmanager
    def _borrowed(self) -> Iterator[Any]:
        """A kernel no other thread is using (a new one when all are busy), returned to the pool after."""
        try:
            kernel = self._idle.get_nowait()
        except queue.Empty:
            kernel = self._build_kernel()
        try:
            yield kernel
        finally:
            self._idle.put(kernel)

    def encode(self, text: str) -> list[int]:
        """The ids of one text, through the vocabulary's pipeline in Python (the kernel segments when built)."""
        from lexkit.formats.surface import decode_surface

        pieces = []
        for piece in self._pipeline.pre_tokenize(text):
            content = decode_surface(piece)
            assert content is not None, "a ByteLevel pre-tokenizer only emits table characters"
            pieces.append(content)
        if self.kernel is not None:
            with self._borrowed() as kernel:
                return kernel.encode_pieces(pieces)
        ids: list[int] = []
        cache = self._cache
        segment = _SEGMENTERS[self.reading]
        for content in pieces:
            found = cache.get(content)
            if found is None:
                found = cache[content] = segment(content, self.ids, self.longest)
            ids += found
        return ids


def _executor() -> ThreadPoolExecutor:
    """Threads for `Segmenter._flat` (the kernel releases the GIL while it encodes)."""
    return _process_executor(os.getpid())


@lru_cache(maxsize=1)
def _process_executor(pid: int) -> ThreadPoolExecutor:
    # subtle: keyed by process id, since a forked child inherits the pool object but none of its threads.
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="lexkit-lbpe")
