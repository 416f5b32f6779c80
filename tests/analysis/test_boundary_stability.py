"""OCR-style corruption and token-boundary stability, on hand-checkable tokenizers."""

from __future__ import annotations

import pytest

from lexkit import Tokenizer
from lexkit.analysis.boundary_stability import Corruption, boundary_stability, corrupt_ocr
from lexkit.components import byte_level_decoder, byte_level_pre_tokenizer, nfkc_normalizer
from lexkit.vocabulary import Vocabulary


def _tokenizer(merges: list[tuple[bytes, bytes]]) -> Tokenizer:
    vocabulary = Vocabulary.from_merges([bytes([b]) for b in range(256)], merges,
                                        pre_tokenizer=byte_level_pre_tokenizer(), decoder=byte_level_decoder())
    return Tokenizer(vocabulary)


def test_corruption_is_seeded_and_maps_offsets_through_deletions():
    text = "Licensor grants a licence — § 2(a) — to everyone.\n" * 20
    first, again = corrupt_ocr(text, 0.2, seed=3), corrupt_ocr(text, 0.2, seed=3)
    assert first == again and first != corrupt_ocr(text, 0.2, seed=4)
    assert first.deletions > 0 and first.substitutions > 0
    clean = text.encode()
    noisy = first.text.encode()
    assert len(first.deleted_before) == len(clean) + 1
    assert len(noisy) == len(clean) - first.deletions
    # Every byte that survives lands at its mapped offset; non-ASCII characters are never touched.
    assert first.text.count("§") == text.count("§") and first.text.count("—") == text.count("—")
    assert noisy[-1:] == clean[-1:] and first.deleted_before[-1] == first.deletions
    assert corrupt_ocr(text, 0.0).text == text
    with pytest.raises(ValueError, match="rate"):
        corrupt_ocr(text, 1.5)


def test_stability_by_hand():
    # "abcd" is one token, so deleting its "c" splits the word: the clean boundaries survive (kept = 1) but
    # the corrupted text has an extra cut inside the word (precision < 1). Single bytes keep every boundary.
    long_tokens = _tokenizer([(b"a", b"b"), (b"c", b"d"), (b"ab", b"cd")])
    text = "abcd abcd"
    perfect = boundary_stability(long_tokens, [text], [corrupt_ocr(text, 0.0)])
    assert (perfect.kept, perfect.precision, perfect.f1) == (1.0, 1.0, 1.0)
    deleted = Corruption("abd abcd", (0, 0, 0, 1, 1, 1, 1, 1, 1, 1), substitutions=0, deletions=1)
    hit = boundary_stability(long_tokens, [text], [deleted])
    # clean: "abcd" " " "abcd" -> cuts {4, 5}; corrupted: "ab" "d" " " "abcd" -> cuts {2, 3, 4}; 4, 5 map to 3, 4.
    assert (hit.clean_boundaries, hit.corrupted_boundaries) == (2, 3)
    assert hit.kept == 1.0 and hit.precision == pytest.approx(2 / 3) and hit.f1 == pytest.approx(0.8)
    bytes_only = boundary_stability(_tokenizer([]), [text], [deleted])
    assert (bytes_only.kept, bytes_only.precision) == (1.0, 1.0)


def test_stability_refuses_a_changing_normalizer_and_mismatched_lists():
    with pytest.raises(ValueError, match="one per text"):
        boundary_stability(_tokenizer([]), ["a"], [])
    nfkc = Tokenizer(_tokenizer([]).vocabulary.replace(normalizer=nfkc_normalizer()))
    with pytest.raises(ValueError, match="normalize the texts before corrupting"):
        boundary_stability(nfkc, ["\ufb01ne"], [corrupt_ocr("\ufb01ne", 0.0)])
