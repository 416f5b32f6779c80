"""Visual BPE as users see it: the trainer, the ``visual`` encoder, exact round trips, lexkit.json, bad input."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from _image_grids import digit_images
from hypothesis import given, settings
from hypothesis import strategies as st

from lexkit import CorpusError, EncodingError, UnsupportedAlphabetError, VocabularyError
from lexkit.encoders.visual import VisualEncoder
from lexkit.formats import native
from lexkit.grids import check_grids, content_patch, load_codes, patch_content, visual_model
from lexkit.tokenizer import Tokenizer
from lexkit.vocab.visual import VisualBPEConfig, VisualBPETrainer


@st.composite
def grids_and_codebook(draw, max_side: int = 7):
    size = draw(st.integers(1, 5))
    grids = []
    for _ in range(draw(st.integers(1, 5))):
        height, width = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
        cells = draw(st.lists(st.integers(0, size - 1), min_size=height * width, max_size=height * width))
        grids.append(np.array(cells, dtype=np.int64).reshape(height, width))
    return grids, size


def train(grids, size=None, **options):
    options.setdefault("min_frequency", 1)
    return VisualBPETrainer(VisualBPEConfig(**options)).train(grids, size)


def connected(cells: set[tuple[int, int]]) -> bool:
    start = next(iter(cells))
    seen, todo = {start}, deque([start])
    while todo:
        y, x = todo.popleft()
        for step in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
            if step in cells and step not in seen:
                seen.add(step)
                todo.append(step)
    return seen == cells


@given(grids_and_codebook(), grids_and_codebook(), st.integers(0, 30), st.sampled_from([0.0, 0.1, 2.0]))
def test_encode_then_decode_is_the_identity_on_seen_and_unseen_grids(train_data, other, num_merges, alpha):
    grids, size = train_data
    vocabulary = train(grids, size + 2, num_merges=num_merges, alpha=alpha)
    encoder = VisualEncoder(vocabulary)
    unseen = [np.minimum(g, size + 1) for g in other[0]]
    for grid, encoding in zip(grids + unseen, encoder.encode_grids(grids + unseen)):
        assert encoding.shape == grid.shape
        decoded = encoder.decode_grid(encoding.ids, *encoding.shape)
        assert decoded.dtype == np.int64 and np.array_equal(decoded, grid)
        # each token's anchor is where its patch starts, and the patch holds the grid's codes there
        for token_id, (row, col) in zip(encoding.ids, encoding.positions):
            assert all(grid[row + dy, col + dx] == code for dy, dx, code in encoder.patches[token_id])
        assert encoding.positions == sorted(encoding.positions)


@settings(max_examples=50)
@given(grids_and_codebook())
def test_every_token_is_a_connected_patch_that_merges_exactly(data):
    grids, size = data
    vocabulary = train(grids, size, num_merges=20, alpha=0.1)
    patches, merges = visual_model(vocabulary)  # raises when a merge result is not the union patch
    for patch in patches:
        assert connected({(dy, dx) for dy, dx, _ in patch})
    assert [m.result for m in merges] == [vocabulary.id_of(patch_content(patches[m.result],
                                                                         vocabulary.alphabet.width))
                                          for m in merges]


def test_real_digits_round_trip_and_shrink():
    # scikit-learn's digits are real 8 x 8 images with 17 grey levels: a K = 17 grid dataset as they come.
    grids = list(np.rint(digit_images()[..., 0] * 16).astype(np.int64))
    train_grids, held_out = grids[:1500], grids[1500:]
    vocabulary = train(train_grids, 17, num_merges=200, min_frequency=2)
    encoder = VisualEncoder(vocabulary)
    encodings = encoder.encode_grids(held_out)
    assert all(np.array_equal(encoder.decode_grid(e.ids, 8, 8), g) for e, g in zip(encodings, held_out))
    assert np.mean([len(e) for e in encodings]) < 64 * 0.6


def test_identical_codes_merge():
    vocabulary = train([np.full((4, 4), 2)] * 3, 3, num_merges=4, alpha=0.1)
    assert vocabulary.merges[0][:2] == (2, 2)
    encoding = VisualEncoder(vocabulary).encode_grid(np.full((4, 4), 2))
    assert encoding.ids == [len(vocabulary) - 1] and encoding.positions == [(0, 0)]


def test_alpha_zero_is_frequency_only_and_stored():
    grids = [np.array([[1, 2]])] * 4 + [np.array([[1], [2]])] * 4 + [np.array([[3, 4]])] * 3
    by_frequency = train(grids, num_merges=1, alpha=0.0)
    by_priority = train(grids, num_merges=1, alpha=1.0)
    assert by_frequency.merges == ((1, 2, "right"),) and by_priority.merges == ((3, 4, "right"),)
    assert by_frequency.metadata["visual"]["frequency"] == [4]
    assert by_priority.metadata["visual"]["consistency"] == [1.0]


def test_vocab_size_counts_the_codebook_and_stops_there():
    grids = [np.arange(16).reshape(4, 4) % 3] * 5
    vocabulary = train(grids, 8, vocab_size=12)
    assert len(vocabulary) == 12 and vocabulary.metadata["stop_reason"] == "vocab_size"
    with pytest.raises(VocabularyError, match="below the codebook size 8"):
        train(grids, 8, vocab_size=5)
    with pytest.raises(VocabularyError, match="codebook size 1099511627776 is above"):
        train([np.array([[0, 2 ** 40 - 1]])], num_merges=1)


def test_save_load_round_trip_and_determinism(tmp_path):
    grids = [np.array([[0, 1, 1, 0], [1, 1, 0, 0], [2, 2, 2, 2]])] * 4
    vocabulary = train(grids, num_merges=6, alpha=0.1)
    path = native.save(vocabulary, tmp_path / "a")
    assert path.read_bytes() == native.save(train(grids, num_merges=6, alpha=0.1), tmp_path / "b").read_bytes()
    loaded = native.load(path)
    assert loaded.alphabet == vocabulary.alphabet and loaded.merges == vocabulary.merges
    assert [t.content for t in loaded.tokens] == [t.content for t in vocabulary.tokens]
    assert VisualEncoder(loaded).encode_grids(grids) == VisualEncoder(vocabulary).encode_grids(grids)
    Tokenizer(vocabulary).save(tmp_path / "out")  # a grid alphabet writes lexkit.json only
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["lexkit.json"]


def test_patch_content_is_unique_per_shape_and_round_trips():
    beside, above = ((0, 0, 1), (0, 1, 2)), ((0, 0, 1), (1, 0, 2))
    assert patch_content(beside, 2) != patch_content(above, 2)
    ragged = ((0, 0, 7), (1, -3, 8), (1, -2, 9))
    assert content_patch(patch_content(ragged, 1), 1) == ragged


# --- bad input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("grids", "message"), [
    ([np.zeros((2, 2), dtype=np.float32)], "dtype float32, not integers"),
    ([[[0, 1], [1]]], "ragged"),
    ([np.array([[0, 5]])], "code 5 at row 0, column 1, outside the codebook \\[0, 4\\)"),
    ([np.array([[0, -1]])], "code -1"),
    ([], "holds no grids"),
    (np.zeros((2, 2), dtype=np.int64), "a batch of grids is an \\(N, H, W\\) array"),
    ([np.zeros((2, 0), dtype=np.int64)], "is empty"),
    ([np.zeros((2, 2, 2), dtype=np.int64)], "not \\(H, W\\)"),
])
def test_bad_grids_give_one_line_errors(grids, message):
    with pytest.raises(CorpusError, match=message) as info:
        VisualBPETrainer(VisualBPEConfig(num_merges=1)).train(grids, 4)
    assert "\n" not in str(info.value)


def test_bad_files_name_the_file(tmp_path):
    ragged = tmp_path / "ragged.npy"
    np.save(ragged, np.array([np.zeros((2, 2)), np.zeros((3, 3))], dtype=object), allow_pickle=True)
    with pytest.raises(CorpusError, match="ragged.npy: holds an object array"):
        load_codes(ragged)
    floats = tmp_path / "floats.npy"
    np.save(floats, np.zeros((2, 3, 3)))
    with pytest.raises(CorpusError, match="floats.npy: grid 0 has dtype float64"):
        load_codes(floats)
    (tmp_path / "folder").mkdir()
    np.save(tmp_path / "folder" / "a.npy", np.zeros((3, 3), dtype=np.int16))
    np.save(tmp_path / "folder" / "b.npy", np.ones((2, 4, 5), dtype=np.uint8))
    assert [g.shape for g in load_codes(tmp_path / "folder")] == [(3, 3), (4, 5), (4, 5)]
    with pytest.raises(CorpusError, match="b.npy: grid 0 has code 1"):
        load_codes(tmp_path / "folder", codebook_size=1)


def test_encoder_rejects_text_bad_grids_and_corrupt_sequences():
    vocabulary = train([np.array([[0, 1], [0, 1]])] * 3, 2, num_merges=2)
    encoder = VisualEncoder(vocabulary)
    with pytest.raises(UnsupportedAlphabetError, match="encode_grid"):
        encoder.encode_ordinary("text")
    with pytest.raises(EncodingError, match="code 2 .* outside the codebook \\[0, 2\\)"):
        encoder.encode_grid(np.array([[2]]))
    ids = encoder.encode_grid(np.array([[0, 1], [0, 1]])).ids
    with pytest.raises(EncodingError, match="cover 4 of 6 cells"):
        encoder.decode_grid(ids, 3, 2)
    with pytest.raises(EncodingError, match="already full"):
        encoder.decode_grid(ids + [0], 2, 2)
    with pytest.raises(EncodingError, match="leaves the grid"):
        encoder.decode_grid(ids, 2, 1)
    with pytest.raises(EncodingError, match="outside the vocabulary"):
        encoder.decode_grid([99], 1, 1)


def test_text_vocabularies_are_refused_and_tampered_offsets_caught():
    from lexkit.vocabulary import Vocabulary

    text = Vocabulary.from_merges([bytes([b]) for b in range(256)], [])
    with pytest.raises(UnsupportedAlphabetError, match="grid_codebook"):
        VisualEncoder(text)
    vocabulary = train([np.array([[0, 1], [0, 1]])] * 3, 2, num_merges=1)
    tampered = vocabulary.replace(metadata={**vocabulary.metadata, "visual": {"offsets": [[1, 0]]}})
    with pytest.raises(VocabularyError, match="merge 0 .* is not a token"):
        VisualEncoder(tampered)
    with pytest.raises(VocabularyError, match="offsets"):
        VisualEncoder(vocabulary.replace(metadata={}))


def test_check_grids_accepts_mixed_sizes_and_integer_kinds():
    grids = check_grids([np.zeros((2, 3), dtype=np.uint8), [[1, 2]], np.ones((1, 1), dtype=np.int32)], 3)
    assert [g.shape for g in grids] == [(2, 3), (1, 2), (1, 1)] and all(g.dtype == np.int64 for g in grids)
