"""The one `TransformersEmbedder` on the real all-MiniLM-L6-v2: its own pipeline, and transfer's fixed settings."""

from __future__ import annotations

import numpy as np
from _resources import minilm_dir

from lexkit.embedders import TransformersEmbedder

TEXTS = ["The cat sat on the mat.", "ing", " the", "A feline rested on a rug."]


def test_pipeline_settings_come_from_the_folder_and_overrides_win():
    pipeline = TransformersEmbedder(minilm_dir(), device="cpu")
    fixed = TransformersEmbedder(minilm_dir(), device="cpu", pooling="mean", normalize=False, max_length=32)
    assert (pipeline.settings.pooling, pipeline.settings.normalize, pipeline.settings.max_length) == ("mean", True, 256)
    assert (fixed.settings.pooling, fixed.settings.normalize, fixed.settings.max_length) == ("mean", False, 32)
    normalized, raw = pipeline.encode(TEXTS), fixed.encode(TEXTS)
    assert np.allclose(np.linalg.norm(normalized, axis=1), 1.0, atol=1e-5)
    assert np.all(np.abs(np.linalg.norm(raw, axis=1) - 1.0) > 0.05)  # mean pooling alone is not unit length
    # every text fits in 32 tokens, so normalization is the only difference between the two
    cosine = (normalized * raw).sum(1) / np.linalg.norm(raw, axis=1)
    assert np.all(cosine > 1 - 1e-5)


def test_embed_caches_per_string_and_handles_no_texts():
    embedder = TransformersEmbedder(minilm_dir(), device="cpu", pooling="mean", normalize=False, max_length=32)
    first = embedder.embed(TEXTS[:2])
    again = embedder.embed([TEXTS[1], TEXTS[0], TEXTS[1]])
    assert again.dtype == np.float32 and again.shape == (3, 384)
    assert np.array_equal(again[1], first[0]) and np.array_equal(again[0], again[2])
    assert len(embedder._cache) == 2
    assert embedder.embed([]).shape == (0, 384)
