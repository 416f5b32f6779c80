"""The toy vocabulary of spec ``sampling.md`` section 9, with merge-rank BPE and maximum-prefix encoders.

Six merges over ``{a, b}``: (a,a), (a,b), (aa,b), (b,b), (ab,a), (aab,b), giving the tokens a, b, aa, ab, aab, bb,
aba, aabb (ids in that order; EOS is id 8). Small enough to enumerate every token sequence, so the tests compare
cover enumeration with brute force and the benchmark shows tokenization bias (Phan et al., arXiv 2406.16829)
under both encoders over one vocabulary. `rank_bpe` builds other small merge-rank BPEs (the ensemble tests pair
two different vocabularies over one source).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

TOY_MERGES: tuple[tuple[bytes, bytes], ...] = (
    (b"a", b"a"), (b"a", b"b"), (b"aa", b"b"), (b"b", b"b"), (b"ab", b"a"), (b"aab", b"b"),
)
TOY_TOKENS: tuple[bytes, ...] = (b"a", b"b", *(left + right for left, right in TOY_MERGES))
TOY_EOS = len(TOY_TOKENS)
_IDS = {token: token_id for token_id, token in enumerate(TOY_TOKENS)}


def rank_bpe(
    alphabet: bytes, merges: Sequence[tuple[bytes, bytes]]
) -> tuple[tuple[bytes, ...], Callable[[bytes], list[int]]]:
    """A merge-rank BPE: the single bytes of ``alphabet`` then one token per merge, and its encoder.

    The encoder repeatedly merges the lowest-rank adjacent pair, leftmost first; it raises ``KeyError`` on a
    byte outside ``alphabet``.
    """
    tokens = tuple(bytes([b]) for b in alphabet) + tuple(left + right for left, right in merges)
    ids = {token: token_id for token_id, token in enumerate(tokens)}
    ranks = {pair: rank for rank, pair in enumerate(merges)}

    def encode(data: bytes) -> list[int]:
        symbols = [bytes([b]) for b in data]
        while len(symbols) > 1:
            best = min(((ranks[pair], k) for k, pair in enumerate(zip(symbols, symbols[1:])) if pair in ranks),
                       default=None)
            if best is None:
                break
            k = best[1]
            symbols[k:k + 2] = [symbols[k] + symbols[k + 1]]
        return [ids[s] for s in symbols]

    return tokens, encode


_, _toy_encode = rank_bpe(b"ab", TOY_MERGES)


def toy_bpe(data: bytes) -> list[int]:
    """Merge-rank BPE over the toy merges: repeatedly merge the lowest-rank adjacent pair, leftmost first.

    Raises:
        KeyError: ``data`` holds a byte other than ``a`` or ``b``.
    """
    return _toy_encode(data)


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
