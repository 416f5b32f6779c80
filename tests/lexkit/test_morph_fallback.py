"""The ``morph`` encoder's BPE fallback through the encode engine, against the per-piece merge loop it replaced.

A morph vocabulary trained on real Turkish speeches (hunspell-derived lexicon) encodes held-out speeches and treebank
sentences; every fallback run must get the ids of the plain rank-by-rank merge loop (the oracle below), and the
batched `encode_ordinary_batch` the ids of one text at a time.
"""

from __future__ import annotations

import sqlite3
from functools import cache
from pathlib import Path

import _resources

from lexkit import Tokenizer
from lexkit.encoders.morph import RESIDUE_SPLIT, MorphEncoder
from lexkit.formats.hunspell import Hunspell
from lexkit.vocab import MorphConfig, train
from lexkit.vocab.morph.turkish import build_turkish_lexicon


@cache
def _speeches() -> tuple[str, ...]:
    with sqlite3.connect(_resources.turkish_path("speeches.db")) as db:
        return tuple(b for (b,) in db.execute("SELECT body FROM speech_texts WHERE lang='tr' ORDER BY rowid LIMIT 70"))


def _tokenizer(tmp_path: Path) -> Tokenizer:
    turkish = _resources.turkish_path("speeches.db").parent
    hunspell = Hunspell(turkish / "hunspell" / "tr_TR.dic", turkish / "hunspell" / "tr_TR.aff", limit=30000)
    lexicon_path = build_turkish_lexicon(hunspell).save(tmp_path / "tr.json")
    return Tokenizer(train(list(_speeches()[:30]), MorphConfig(vocab_size=3000, lexicon=str(lexicon_path)),
                           progress=False, workers=1))


def _merge_loop(encoder: MorphEncoder, run: str) -> list[int]:
    """The fallback as it was: bytes, then the lowest-rank adjacent pair merged until none is left."""
    vocabulary = encoder.vocabulary
    ranks = {(m[0], m[1]): (rank, vocabulary.merge_result(m)) for rank, m in reversed(list(enumerate(vocabulary.merges)))}
    parts = [vocabulary.byte_ids[byte] for byte in run.encode("utf-8")]
    while len(parts) > 1:
        best = min(((ranks[pair][0], index) for index, pair in enumerate(zip(parts, parts[1:])) if pair in ranks),
                   default=None)
        if best is None:
            break
        parts[best[1]:best[1] + 2] = [ranks[(parts[best[1]], parts[best[1] + 1])][1]]
    return parts


def test_fallback_runs_through_the_engine_with_the_merge_loop_ids(tmp_path: Path) -> None:
    tokenizer = _tokenizer(tmp_path)
    sentences = [line[9:].rstrip("\n") for line in open(_resources.turkish_path("wiki.conllu"), encoding="utf-8")
                 if line.startswith("# text = ")][:1000]
    texts = [*_speeches()[30:], *sentences]
    encoder = tokenizer.encoder
    assert isinstance(encoder, MorphEncoder)
    batched = encoder.encode_ordinary_batch(texts)
    assert encoder._fallback_engine is not None
    runs = list(encoder._bpe_cache)
    assert len(runs) > 2000 and any(len(encoder._bpe_cache[run]) < len(run.encode()) for run in runs)
    assert all(encoder._bpe_cache[run] == _merge_loop(encoder, run) for run in runs)
    assert all(RESIDUE_SPLIT.fullmatch(run) for run in runs)
    one_by_one = Tokenizer(tokenizer.vocabulary).encoder
    assert [one_by_one.encode_ordinary(text) for text in texts] == batched
    assert one_by_one.stats == encoder.stats and encoder.stats["fallback_words"] > 0
    assert [tokenizer.decode(ids) for ids in batched[:40]] == texts[:40]
