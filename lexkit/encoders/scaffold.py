"""The ``scaffold`` encoder: Scaffold-BPE (Lian et al., arXiv 2404.17808).

BPE with every merge in the HF engine, then a numpy lookup replaces each scaffold id by the non-scaffold pieces
of its defining merge ("demolishing").
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from itertools import chain

import numpy as np

from lexkit.encoders.hf import HFEncoder
from lexkit.errors import LexkitError
from lexkit.vocabulary import JSON, Vocabulary

__all__ = ["ScaffoldEncoder"]


class ScaffoldEncoder(HFEncoder):
    """Scaffold-BPE encoding: BPE with every merge (scaffolds included), then scaffold ids demolished.

    The HF engine runs all merges; each scaffold id in its output is replaced by the non-scaffold pieces of
    its defining merge, expanded recursively (Scaffold-BPE's demerging), with one numpy gather per batch.
    When a scaffold token is produced by several merges, the expansion with the fewest pieces wins, then the
    lexicographically smallest id sequence. Output ids are dense model ids (``< vocabulary.model_size``).
    """

    name = "scaffold"
    models = frozenset({"bpe"})

    def __init__(self, vocabulary: Vocabulary) -> None:
        super().__init__(vocabulary)
        tokens = vocabulary.tokens
        model_size = vocabulary.model_size
        if any(token.scaffold for token in tokens[:model_size]):
            raise LexkitError(
                "scaffold tokens must take the highest ids (the vocabulary model keeps them last); renumber the vocabulary so that "
                "non-scaffold tokens come first, as the scaffold-bpe trainer does"
            )
        self.model_size = model_size

    @cached_property
    def expansions(self) -> dict[int, tuple[int, ...]]:
        """Scaffold id -> its non-scaffold pieces (the demolition table)."""
        vocabulary = self.vocabulary
        producers: dict[int, list[tuple[int, int]]] = {}
        for merge in vocabulary.merges:
            result = vocabulary.merge_result(merge)
            if vocabulary.tokens[result].scaffold:
                producers.setdefault(result, []).append((merge[0], merge[1]))
        table: dict[int, tuple[int, ...]] = {}

        def expand(token_id: int) -> tuple[int, ...]:
            if not vocabulary.tokens[token_id].scaffold:
                return (token_id,)
            found = table.get(token_id)
            if found is None:
                # subtle: parts are strictly shorter byte strings, so the recursion ends at base units.
                candidates = [expand(left) + expand(right) for left, right in producers[token_id]]
                found = table[token_id] = min(candidates, key=lambda pieces: (len(pieces), pieces))
            return found

        for token_id in producers:
            expand(token_id)
        return table

    @cached_property
    def _lookup(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(start, length) of every id's expansion in one flat array of pieces, for numpy gathers."""
        size = len(self.vocabulary)
        lengths = np.ones(size, dtype=np.int64)
        pieces: list[int] = list(range(size))
        starts = np.arange(size, dtype=np.int64)
        for token_id, expansion in sorted(self.expansions.items()):
            starts[token_id] = len(pieces)
            lengths[token_id] = len(expansion)
            pieces.extend(expansion)
        return starts, lengths, np.asarray(pieces, dtype=np.int64)

    def demolish(self, batch: list[list[int]]) -> list[list[int]]:
        """Replace scaffold ids by their pieces in every sequence (sequences without one are kept as they are)."""
        limit = self.model_size
        hits = [position for position, ids in enumerate(batch) if ids and max(ids) >= limit]
        if not hits:
            return batch
        sizes = np.fromiter((len(batch[position]) for position in hits), dtype=np.int64, count=len(hits))
        flat = np.fromiter(chain.from_iterable(batch[position] for position in hits), dtype=np.int64,
                           count=int(sizes.sum()))
        starts, lengths, pieces = self._lookup
        out_lengths = lengths[flat]
        total = int(out_lengths.sum())
        # Position j of the output reads pieces[starts[id] + (j - first output position of that id)].
        first = np.cumsum(out_lengths) - out_lengths
        gathered = pieces[np.repeat(starts[flat] - first, out_lengths) + np.arange(total, dtype=np.int64)]
        per_sequence = np.add.reduceat(out_lengths, np.cumsum(sizes) - sizes)
        result = list(batch)
        for position, ids in zip(hits, np.split(gathered, np.cumsum(per_sequence)[:-1])):
            result[position] = ids.tolist()
        return result

    def encode_ordinary(self, text: str, *, add_special_tokens: bool = False) -> list[int]:
        return self.demolish([super().encode_ordinary(text, add_special_tokens=add_special_tokens)])[0]

    def encode_ordinary_batch(self, texts: Sequence[str], *, add_special_tokens: bool = False) -> list[list[int]]:
        return self.demolish(super().encode_ordinary_batch(texts, add_special_tokens=add_special_tokens))

    def _finish_flat(self, ids: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The engine's flat ids with scaffold ids demolished by numpy gathers (no Python list per text)."""
        if not len(ids) or int(ids.max()) < self.model_size:
            return ids, offsets
        starts, lengths, pieces = self._lookup
        out_lengths = lengths[ids]
        ends = np.cumsum(out_lengths)
        gathered = pieces[np.repeat(starts[ids] - (ends - out_lengths), out_lengths) + np.arange(int(ends[-1]))]
        return gathered.astype(np.uint32), np.concatenate(([0], ends))[offsets]

    def to_hf(self, *, allow_lossy: bool = False) -> JSON:
        """The BPE model with every merge; lossy (HF would emit scaffold ids), so it needs ``allow_lossy``.

        Raises:
            LossyConversionError: without ``allow_lossy=True``.
        """
        return super().to_hf(allow_lossy=allow_lossy)
