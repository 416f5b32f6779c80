"""Real images -> code grids for the visual-BPE tests and `bench/bench_visual.py`: bundled photos, patch
codebooks fitted here, and tuimg's patch codes. A test helper (beside `_resources`), not part of lexkit: users
bring grids from their own image tokenizer.

No real VQ-GAN codebook installs offline as a package, so lexkit makes its own quantized
images from images that ship inside installed packages:

- `bundled_images`: the photos of scikit-image, scikit-learn and matplotlib; `lfw_faces` (200 faces, 25 x 25)
  and `digit_images` (1,797 handwritten digits, 8 x 8) from the same packages;
- `fit_patch_codebook`: k-means (Lloyd with k-means++ seeding, in torch on any ``device``) over the ``p x p``
  RGB patches of training images; `PatchCodebook.quantize` turns images into ``(H/p, W/p)`` grids of ids;
- `tuimg_grids`: the 4,096 16 x 16 patch shapes that the ``tuimg`` package derived from LlamaGen's VQ-VAE
  (``vq_ds16_c2i``), matched to each 16 x 16 block by tuimg's own quantizer (a shape code, not a colour code).

Images are ``float32`` RGB arrays in ``[0, 1]`` of shape ``(H, W, 3)``. Heavy dependencies (torch, skimage,
sklearn, matplotlib, tuimg) are imported inside the functions that need them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lexkit.device import resolve_device
from lexkit.errors import CorpusError, FormatError, require

logger = logging.getLogger(__name__)

__all__ = [
    "BUNDLED_PHOTOS",
    "PatchCodebook",
    "bundled_images",
    "crop_images",
    "digit_images",
    "fit_patch_codebook",
    "lfw_faces",
    "tuimg_grids",
]

# name -> (package, loader): photos and textures that ship inside installed packages (no network).
BUNDLED_PHOTOS: dict[str, tuple[str, str]] = {
    **{name: ("skimage", name) for name in (
        "astronaut", "brick", "camera", "cell", "chelsea", "clock", "coffee", "coins", "grass", "gravel",
        "hubble_deep_field", "immunohistochemistry", "moon", "page", "retina", "rocket", "stereo_motorcycle",
        "text")},
    "china": ("sklearn", "china.jpg"),
    "flower": ("sklearn", "flower.jpg"),
    "grace_hopper": ("matplotlib", "grace_hopper.jpg"),
}


def _rgb(image: np.ndarray) -> np.ndarray:
    """Any bundled image as float32 RGB in [0, 1]: grey is repeated, alpha dropped, integers scaled."""
    array = np.asarray(image)
    if array.dtype == bool:
        array = array.astype(np.float32)
    elif array.dtype.kind in "iu":
        array = array.astype(np.float32) / float(np.iinfo(array.dtype).max)
    array = array.astype(np.float32, copy=False)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    return np.ascontiguousarray(array[:, :, :3])


def bundled_images(names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """The bundled photos by name (all of `BUNDLED_PHOTOS` by default), as float32 RGB in [0, 1].

    Raises:
        CorpusError: a name is not in `BUNDLED_PHOTOS`.
    """
    chosen = list(BUNDLED_PHOTOS) if names is None else list(names)
    unknown = [name for name in chosen if name not in BUNDLED_PHOTOS]
    if unknown:
        raise CorpusError(f"unknown bundled images {unknown}; choose from: {', '.join(BUNDLED_PHOTOS)}")
    out: dict[str, np.ndarray] = {}
    for name in chosen:
        package, item = BUNDLED_PHOTOS[name]
        if package == "skimage":
            data: Any = require("skimage.data", "scikit-image")
            image = getattr(data, item)()
            image = image[0] if isinstance(image, tuple) else image  # stereo_motorcycle: (left, right, disparity)
        elif package == "sklearn":
            datasets: Any = require("sklearn.datasets", "scikit-learn")
            sample = datasets.load_sample_images()
            image = sample.images[sample.filenames.index(next(f for f in sample.filenames if f.endswith(item)))]
        else:
            cbook: Any = require("matplotlib.cbook", "matplotlib")
            image_module: Any = require("matplotlib.image", "matplotlib")
            with cbook.get_sample_data(item) as handle:
                image = image_module.imread(handle)
        out[name] = _rgb(image)
    return out


def lfw_faces() -> np.ndarray:
    """The 200 Labeled Faces in the Wild crops bundled with scikit-image, ``(200, 25, 25, 3)`` in [0, 1]."""
    data: Any = require("skimage.data", "scikit-image")
    faces = np.asarray(data.lfw_subset(), dtype=np.float32)
    return np.repeat(faces[..., None], 3, axis=3)


def digit_images() -> np.ndarray:
    """scikit-learn's 1,797 handwritten digits, ``(1797, 8, 8, 3)`` in [0, 1] (17 grey levels)."""
    datasets: Any = require("sklearn.datasets", "scikit-learn")
    digits = np.asarray(datasets.load_digits().images, dtype=np.float32) / 16.0
    return np.repeat(digits[..., None], 3, axis=3)


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    transform: Any = require("skimage.transform", "scikit-image")
    resized = transform.resize(image, (height, width), order=1, anti_aliasing=True, preserve_range=True)
    return np.asarray(resized, dtype=np.float32)


def crop_images(images: Iterable[np.ndarray], size: int, *, stride: int, scales: Sequence[float] = (1.0,),
                flips: bool = False, upscale: bool = False) -> list[np.ndarray]:
    """Square crops of ``size`` pixels from every image, at several scales, optionally mirrored.

    Args:
        images: float RGB images ``(H, W, 3)``.
        size: crop side in pixels.
        stride: step between crops in pixels (at each scale).
        scales: resize factors applied before cropping; an image smaller than ``size`` at a scale gives no crop
            there, unless ``upscale`` (then the whole image is resized to ``size x size`` once).
        flips: also add every crop mirrored left-right.
        upscale: resize images too small for one crop to ``size x size`` (e.g. 8 x 8 digits).

    Returns:
        The crops in image, scale, row, column order (then the mirrored copies after each crop).
    """
    out: list[np.ndarray] = []
    for image in images:
        produced = 0
        for scale in scales:
            height, width = round(image.shape[0] * scale), round(image.shape[1] * scale)
            if min(height, width) < size:
                continue
            scaled = image if scale == 1.0 else _resize(image, height, width)
            for top in range(0, height - size + 1, stride):
                for left in range(0, width - size + 1, stride):
                    crop = np.ascontiguousarray(scaled[top:top + size, left:left + size])
                    out.append(crop)
                    produced += 1
                    if flips:
                        out.append(np.ascontiguousarray(crop[:, ::-1]))
        if not produced and upscale:
            crop = _resize(image, size, size)
            out.append(crop)
            if flips:
                out.append(np.ascontiguousarray(crop[:, ::-1]))
    return out


def _patches(images: Sequence[np.ndarray], patch: int) -> np.ndarray:
    """``(sum of blocks, patch * patch * 3)`` float32 vectors of all non-overlapping ``patch`` blocks."""
    vectors = []
    for index, image in enumerate(images):
        height, width = image.shape[0] // patch, image.shape[1] // patch
        if image.ndim != 3 or image.shape[2] != 3 or not height or not width:
            raise CorpusError(
                f"image {index} has shape {image.shape}; images must be (H, W, 3) RGB arrays at least "
                f"{patch} x {patch}: convert with bundled_images-style loading or crop_images"
            )
        blocks = image[:height * patch, :width * patch].reshape(height, patch, width, patch, 3)
        vectors.append(blocks.transpose(0, 2, 1, 3, 4).reshape(height * width, patch * patch * 3))
    return np.concatenate(vectors).astype(np.float32, copy=False)


@dataclass(frozen=True, eq=False)
class PatchCodebook:
    """A patch codebook: ``K`` centres of ``patch x patch`` RGB blocks.

    Attributes:
        centers: ``(K, patch * patch * 3)`` float32 centres.
        patch: block side in pixels.
        method: how the centres were fitted (``"kmeans"``).
    """

    centers: np.ndarray
    patch: int
    method: str = "kmeans"

    @property
    def size(self) -> int:
        """The number of codes ``K``."""
        return int(self.centers.shape[0])

    def quantize(self, images: Sequence[np.ndarray], *, device: str = "auto",
                 batch: int = 65536) -> list[np.ndarray]:
        """Each image as an ``(H // patch, W // patch)`` ``int64`` grid of nearest-centre ids.

        Args:
            images: float RGB images ``(H, W, 3)`` in [0, 1]; a border narrower than a block is dropped.
            device: torch device for the distance computations (``"auto"``, ``"cpu"``, ``"cuda"``).
            batch: blocks per distance computation (bounds memory: ``batch x K`` floats).
        """
        torch: Any = require("torch")
        device = resolve_device(device)
        centers = torch.from_numpy(self.centers).to(device)
        vectors = _patches(images, self.patch)  # all images at once: large matrix products run fastest
        ids = np.concatenate([_nearest(torch.from_numpy(vectors[i:i + batch]).to(device), centers).cpu().numpy()
                              for i in range(0, len(vectors), batch)]).astype(np.int64)
        grids = []
        start = 0
        for image in images:
            height, width = image.shape[0] // self.patch, image.shape[1] // self.patch
            grids.append(ids[start:start + height * width].reshape(height, width))
            start += height * width
        return grids

    def save(self, path: str | PathLike[str]) -> Path:
        """Write the centres and settings to an ``.npz`` file."""
        path = Path(path)
        np.savez(path, centers=self.centers, patch=self.patch, method=self.method)
        return path

    @classmethod
    def load(cls, path: str | PathLike[str]) -> PatchCodebook:
        """Read a codebook written by `save`.

        Raises:
            FormatError: the file is missing or not a saved codebook.
        """
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(np.asarray(data["centers"], dtype=np.float32), int(data["patch"]), str(data["method"]))
        except (OSError, KeyError, ValueError) as exc:
            raise FormatError(f"{path}: not a lexkit patch codebook ({exc}); write one with PatchCodebook.save") from None


def _nearest(vectors: Any, centers: Any) -> Any:
    """Index of the nearest centre (squared Euclidean) for each row of ``vectors``."""
    distances = (centers * centers).sum(1)[None, :] - 2.0 * vectors @ centers.T
    return distances.argmin(1)


def fit_patch_codebook(images: Sequence[np.ndarray], *, patch: int = 4, size: int = 1024,
                       method: Literal["kmeans"] = "kmeans", iterations: int = 20, sample: int = 200_000,
                       seed: int = 0, device: str = "auto") -> PatchCodebook:
    """Fit a ``size``-code k-means codebook on the ``patch x patch`` blocks of ``images``.

    k-means++ seeding (Arthur and Vassilvitskii 2007), then Lloyd iterations; an emptied cluster keeps its
    centre. Runs in torch on ``device``; on the CPU the result is deterministic given ``seed``.

    Args:
        images: float RGB training images ``(H, W, 3)`` in [0, 1].
        patch: block side in pixels (a ``32 x 32`` grid covers a ``32 * patch`` pixel square).
        size: the number of codes ``K``.
        method: ``"kmeans"`` (the only method so far).
        iterations: Lloyd iterations.
        sample: fit on at most this many blocks, drawn without replacement with ``seed``.
        seed: random seed for the sample and the seeding.
        device: torch device (``"auto"``, ``"cpu"``, ``"cuda"``).

    Raises:
        CorpusError: fewer distinct blocks than ``size``, or a malformed image.

    >>> import numpy as np
    >>> images = [np.linspace(0, 1, 8 * 8 * 3, dtype=np.float32).reshape(8, 8, 3)]
    >>> codebook = fit_patch_codebook(images, patch=2, size=4, device="cpu")
    >>> codebook.size, codebook.quantize(images, device="cpu")[0].shape
    (4, (4, 4))
    """
    torch: Any = require("torch")
    device = resolve_device(device)
    vectors = _patches(images, patch)
    generator = np.random.default_rng(seed)
    if len(vectors) > sample:
        vectors = vectors[np.sort(generator.choice(len(vectors), sample, replace=False))]
    distinct = len(np.unique(vectors, axis=0))
    if distinct < size:
        raise CorpusError(
            f"the images have {distinct} distinct {patch} x {patch} blocks, fewer than the {size} codes asked "
            f"for; pass size={distinct} or less, or more images"
        )
    data = torch.from_numpy(vectors).to(device)
    # k-means++ seeding on a subsample of 16 blocks per code (seeding is sequential; Lloyd then uses all):
    # each next centre is drawn with probability proportional to its squared distance to the chosen ones.
    pool = data[torch.from_numpy(np.sort(generator.permutation(len(data))[:16 * size])).to(device)]
    draws = torch.from_numpy(generator.random(size)).to(device)
    chosen = [int(draws[0] * len(pool))]
    closest = ((pool - pool[chosen[0]]) ** 2).sum(1)
    for step in range(1, size):
        cumulative = torch.cumsum(closest.double(), 0)
        index = int(torch.searchsorted(cumulative, draws[step] * cumulative[-1]).clamp(max=len(pool) - 1))
        chosen.append(index)
        closest = torch.minimum(closest, ((pool - pool[index]) ** 2).sum(1))
    centers = pool[chosen].clone()
    for iteration in range(iterations):
        labels = torch.cat([_nearest(data[i:i + 65536], centers) for i in range(0, len(data), 65536)])
        sums = torch.zeros_like(centers).index_add_(0, labels, data)
        counts = torch.bincount(labels, minlength=size).to(data.dtype)
        filled = counts > 0
        moved = sums[filled] / counts[filled, None]
        shift = float(((centers[filled] - moved) ** 2).sum(1).max()) if filled.any() else 0.0
        centers[filled] = moved
        logger.debug("k-means iteration %d: %d empty clusters, largest centre move %.2e",
                     iteration, int((~filled).sum()), shift)
        if shift == 0.0:
            break
    return PatchCodebook(centers.cpu().numpy().astype(np.float32), patch, method)


def tuimg_grids(images: Sequence[np.ndarray], blocks: int = 32) -> list[np.ndarray]:
    """tuimg's LlamaGen-derived patch codes: each image resized to ``16 * blocks`` pixels square, one code per
    16 x 16 block, ``(blocks, blocks)`` grids of ids in ``[0, 4096)`` (tuimg's ``match.quantize_blocks``).

    The codes are the 4,096 shape masks tuimg kept from LlamaGen's 16,384-code VQ-VAE codebook; tuimg's
    quantizer picks the mask that best splits each block into two colours, so a code describes a block's
    shape, not its colour.

    Raises:
        MissingDependencyError: ``tuimg`` is not installed (``pip install tuimg``).
    """
    require("tuimg")
    from tuimg import config, match

    masks = np.load(config.GLYPH_MASKS_PATH)
    side = config.GLYPH_PX * blocks
    grids = []
    for image in images:
        pixels = np.clip(np.rint(_resize(image, side, side) * 255.0), 0, 255).astype(np.uint8)
        glyphs = match.quantize_blocks(pixels, masks)[0]
        grids.append(np.asarray(glyphs, dtype=np.int64))
    return grids
