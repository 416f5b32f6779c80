"""Real images -> code grids: bundled images, the k-means patch codebook (torch), tuimg's LlamaGen codes."""

from __future__ import annotations

import numpy as np
import pytest
from _image_grids import (
    PatchCodebook,
    bundled_images,
    crop_images,
    fit_patch_codebook,
    lfw_faces,
    tuimg_grids,
)

from lexkit import CorpusError, FormatError
from lexkit.encoders.visual import VisualEncoder
from lexkit.vocab.visual import VisualBPEConfig, VisualBPETrainer


def test_bundled_images_load_as_rgb():
    images = bundled_images(["camera", "china", "grace_hopper"])
    assert {k: v.shape for k, v in images.items()} == {"camera": (512, 512, 3), "china": (427, 640, 3),
                                                      "grace_hopper": (600, 512, 3)}
    assert all(v.dtype == np.float32 and 0 <= v.min() and v.max() <= 1 for v in images.values())
    with pytest.raises(CorpusError, match="unknown bundled images \\['nope'\\]"):
        bundled_images(["nope"])


def test_crops_scales_flips_and_upscaling():
    image = np.zeros((100, 60, 3), dtype=np.float32)
    assert len(crop_images([image], 32, stride=32)) == 3 * 1
    # at 0.7 the image is 70 x 42 (2 crops); at 0.5 it is 50 x 30, too small for one
    assert len(crop_images([image], 32, stride=32, scales=(1.0, 0.7, 0.5), flips=True)) == 2 * (3 + 2)
    tiny = crop_images([np.ones((8, 8, 3), dtype=np.float32)], 32, stride=32, upscale=True)
    assert len(tiny) == 1 and tiny[0].shape == (32, 32, 3)


def test_kmeans_codebook_on_real_faces_is_deterministic_and_round_trips(tmp_path):
    faces = crop_images(list(lfw_faces()[:60]), 24, stride=24)
    first = fit_patch_codebook(faces[:40], patch=4, size=32, iterations=5, device="cpu")
    second = fit_patch_codebook(faces[:40], patch=4, size=32, iterations=5, device="cpu")
    assert np.array_equal(first.centers, second.centers) and first.size == 32
    grids = first.quantize(faces[40:], device="cpu")
    assert [g.shape for g in grids] == [(6, 6)] * 20 and all(0 <= g.min() and g.max() < 32 for g in grids)
    loaded = PatchCodebook.load(first.save(tmp_path / "codebook.npz"))
    assert np.array_equal(loaded.centers, first.centers) and loaded.patch == 4
    vocabulary = VisualBPETrainer(VisualBPEConfig(num_merges=20)).train(first.quantize(faces[:40], device="cpu"), 32)
    encoder = VisualEncoder(vocabulary)
    assert all(np.array_equal(encoder.decode_grid(e.ids, 6, 6), g) for e, g in zip(encoder.encode_grids(grids), grids))


def test_codebook_errors():
    flat = [np.zeros((8, 8, 3), dtype=np.float32)]
    with pytest.raises(CorpusError, match="1 distinct 4 x 4 blocks, fewer than the 2 codes"):
        fit_patch_codebook(flat, patch=4, size=2, device="cpu")
    with pytest.raises(CorpusError, match="image 0 has shape \\(8, 8\\)"):
        fit_patch_codebook([np.zeros((8, 8), dtype=np.float32)], patch=4, size=1, device="cpu")
    with pytest.raises(FormatError, match="not a lexkit patch codebook"):
        PatchCodebook.load("/nonexistent/codebook.npz")


@pytest.mark.gpu
def test_kmeans_on_gpu_matches_cpu_assignments():
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    faces = crop_images(list(lfw_faces()[:20]), 24, stride=24)
    codebook = fit_patch_codebook(faces, patch=4, size=16, iterations=3, device="cpu")
    on_cpu, on_gpu = codebook.quantize(faces, device="cpu"), codebook.quantize(faces, device="cuda")
    assert np.mean([np.mean(a == b) for a, b in zip(on_cpu, on_gpu)]) > 0.99


def test_tuimg_codes_of_a_real_photo():
    [grid] = tuimg_grids([bundled_images(["chelsea"])["chelsea"]], blocks=8)
    assert grid.shape == (8, 8) and grid.dtype == np.int64 and 0 <= grid.min() and grid.max() < 4096
    assert len(np.unique(grid)) > 8
