"""The toy vocabulary of spec ``sampling.md`` section 9, with merge-rank BPE and maximum-prefix encoders.

Six merges over ``{a, b}``: (a,a), (a,b), (aa,b), (b,b), (ab,a), (aab,b), giving the tokens a, b, aa, ab, aab, bb,
aba, aabb (ids in that order; EOS is id 8). Small enough to enumerate every token sequence, so the tests compare
cover enumeration with brute force and the benchmark shows tokenization bias (Phan et al., arXiv 2406.16829)
under both encoders over one vocabulary.
"""

from __future__ import annotations

TOY_MERGES: tuple[tuple[bytes, bytes], ...] = (
    (b"a", b"a"), (b"a", b"b"), (b"aa", b"b"), (b"b", b"b"), (b"ab", b"a"), (b"aab", b"b"),
)
TOY_TOKENS: tuple[bytes, ...] = (b"a", b"b", *(left + right for left, right in TOY_MERGES))
TOY_EOS = len(TOY_TOKENS)
_IDS = {token: token_id for token_id, token in enumerate(TOY_TOKENS)}
_RANKS = {pair: rank for rank, pair in enumerate(TOY_MERGES)}


def toy_bpe(data: bytes) -> list[int]:
    """Merge-rank BPE over the toy merges: repeatedly merge the lowest-rank adjacent pair, leftmost first.

    Raises:
        KeyError: ``data`` holds a byte other than ``a`` or ``b``.
    """
    symbols = [bytes([b]) for b in data]
    while len(symbols) > 1:
        best = min(((_RANKS[pair], k) for k, pair in enumerate(zip(symbols, symbols[1:])) if pair in _RANKS),
                   default=None)
        if best is None:
            break
        k = best[1]
        symbols[k:k + 2] = [symbols[k] + symbols[k + 1]]
    return [_IDS[s] for s in symbols]


def toy_mpe(data: bytes) -> list[int]:
    """Maximum-prefix encoding over the toy tokens: the longest matching token, left to right.

    Raises:
        KeyError: ``data`` holds a byte other than ``a`` or ``b``.
    """
    ids, position = [], 0
    while position < len(data):
        best = max((t for t in TOY_TOKENS if data.startswith(t, position)), key=len, default=None)
        if best is None:
            raise KeyError(f"byte {data[position:position + 1]!r} at {position} is not in the toy alphabet")
        ids.append(_IDS[best])
        position += len(best)
    return ids
