"""Visual BPE on real quantized images: training time and memory vs data size, tokens per image on held-out
images, and the exact grid round trip.

Data (built once, cached as .npy under --cache):
  photos  128 x 128 crops (stride 64, scales 1 / 0.75 / 0.5) of the photos bundled with scikit-image,
          scikit-learn and matplotlib, quantized to 32 x 32 grids by a K = 1,024 k-means codebook of 4 x 4 RGB
          patches that lexkit fits itself (torch). Training photos are mirrored too; the held-out photos
          (astronaut, coffee, flower, grace_hopper) are never seen by the codebook or the merges.
  faces   the 200 LFW faces of scikit-image, upscaled 25 -> 128 px and quantized with the same codebook
          (held out only: a domain the merges never saw).
  tuimg   LlamaGen-derived 16 x 16 patch codes (tuimg, K = 4,096) of 256 px crops (stride 128) upscaled to
          512 px, 32 x 32 grids (226 training, 32 held-out); same train / held-out photo split.
Each training run is a fresh process; peak memory is its high-water mark (VmHWM) minus its resident size after
loading the grids, i.e. what training and the trainer's result add.

Usage: python bench/bench_visual.py [--runs photos:500:4096 ...] [--cache DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT  # noqa: E402

HELD_OUT = ("astronaut", "coffee", "flower", "grace_hopper")
DEFAULT_RUNS = ("photos:500:4096", "photos:1000:4096", "photos:2000:4096", "photos:3998:4096",
                "photos:2000:4096:0", "photos:3998:8192", "tuimg:226:2048")


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc (VmRSS: now; VmHWM: peak since exec, unlike ru_maxrss, which
    Linux carries over from the parent process across exec)."""
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith(field + ":")) / 1024


def build_data(cache: Path, device: str) -> None:
    """Write photos_{train,heldout}.npy, faces_heldout.npy, tuimg_{train,heldout}.npy and codebook.npz."""
    sys.path.insert(0, str(ROOT / "tests"))
    from _image_grids import bundled_images, crop_images, fit_patch_codebook, lfw_faces, tuimg_grids

    cache.mkdir(parents=True, exist_ok=True)
    if (cache / "tuimg_heldout.npy").exists():
        return
    images = bundled_images()
    train = [image for name, image in images.items() if name not in HELD_OUT]
    held = [images[name] for name in HELD_OUT]
    scales = (1.0, 0.75, 0.5)
    train_crops = crop_images(train, 128, stride=64, scales=scales, flips=True)
    held_crops = crop_images(held, 128, stride=64, scales=scales)
    start = time.perf_counter()
    codebook = fit_patch_codebook(train_crops, patch=4, size=1024, iterations=15, sample=100_000, device=device)
    print(f"k-means codebook (K=1024, 4x4 RGB, 100k patches, 15 iterations) on {device}: "
          f"{time.perf_counter() - start:.0f}s", flush=True)
    codebook.save(cache / "codebook.npz")
    order = np.random.default_rng(0).permutation(len(train_crops))  # subsets mix all training photos
    np.save(cache / "photos_train.npy", np.stack(codebook.quantize([train_crops[i] for i in order], device=device)))
    np.save(cache / "photos_heldout.npy", np.stack(codebook.quantize(held_crops, device=device)))
    faces = crop_images(list(lfw_faces()), 128, stride=128, upscale=True)
    np.save(cache / "faces_heldout.npy", np.stack(codebook.quantize(faces, device=device)))
    tuimg_train = crop_images(train, 256, stride=128)
    tuimg_held = crop_images(held, 256, stride=128)
    pick = np.random.default_rng(0).permutation(len(tuimg_train))
    start = time.perf_counter()
    np.save(cache / "tuimg_train.npy", np.stack(tuimg_grids([tuimg_train[i] for i in pick], blocks=32)))
    np.save(cache / "tuimg_heldout.npy", np.stack(tuimg_grids(tuimg_held, blocks=32)))
    print(f"tuimg codes for {len(pick) + len(tuimg_held)} grids: {time.perf_counter() - start:.0f}s", flush=True)


def worker(cache: Path, dataset: str, size: int, merges: int, alpha: float) -> dict[str, object]:
    """One training run plus held-out encoding, in this (fresh) process."""
    from lexkit.encoders.visual import VisualEncoder
    from lexkit.vocab.visual import VisualBPEConfig, VisualBPETrainer

    codebook_size = 4096 if dataset == "tuimg" else 1024
    train = np.load(cache / f"{dataset}_train.npy")
    if size > len(train):
        raise SystemExit(f"{dataset}: only {len(train)} training grids, {size} asked for")
    grids = list(train[:size])
    baseline = _status_mb("VmRSS")
    wall, cpu = time.perf_counter(), time.process_time()
    vocabulary = VisualBPETrainer(VisualBPEConfig(num_merges=merges, alpha=alpha)).train(grids, codebook_size)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = _status_mb("VmHWM") - baseline
    encoder = VisualEncoder(vocabulary)
    held_sets = {"photos": ["photos", "faces"], "tuimg": ["tuimg"]}[dataset]
    held_out: dict[str, object] = {}
    for name in held_sets:
        held = np.load(cache / f"{name}_heldout.npy")
        start = time.perf_counter()
        encodings = encoder.encode_grids(held)
        encode_seconds = time.perf_counter() - start
        exact = all(np.array_equal(encoder.decode_grid(e.ids, *e.shape), g) for e, g in zip(encodings, held))
        lengths = np.array([len(e) for e in encodings])
        held_out[name] = {"grids": len(held), "tokens_before": int(held[0].size), "mean_after": float(lengths.mean()),
                          "min_after": int(lengths.min()), "max_after": int(lengths.max()), "exact_round_trip": exact,
                          "encode_ms_per_grid": 1000 * encode_seconds / len(held)}
    train_after = np.mean([len(e) for e in encoder.encode_grids(grids[:500])])
    return {"dataset": dataset, "grids": size, "merges": len(vocabulary.merges), "alpha": alpha,
            "vocab_size": len(vocabulary), "stop_reason": vocabulary.metadata["stop_reason"],
            "train_seconds": round(wall, 1), "train_cpu_seconds": round(cpu, 1), "peak_mb": round(peak),
            "train_mean_after": float(train_after), "held_out": held_out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=ROOT / "cache" / "visual", help="where the grids go")
    parser.add_argument("--runs", nargs="+", default=list(DEFAULT_RUNS),
                        help="DATASET:GRIDS:MERGES[:ALPHA] (alpha default 0.1)")
    parser.add_argument("--device", default="auto", help="torch device for the codebook (auto, cpu, cuda)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        dataset, size, merges, alpha = (args.worker.split(":") + ["0.1"])[:4]
        print(json.dumps(worker(args.cache, dataset, int(size), int(merges), float(alpha))))
        return

    from lexkit.device import resolve_device

    build_data(args.cache, resolve_device(args.device))
    results = []
    print(f"{'data':>6} {'grids':>5} {'merges':>6} {'alpha':>5} {'wall s':>7} {'cpu s':>6} {'peak MB':>7}  "
          f"held-out tokens/image (1024 before): mean [min..max], exact round trip", flush=True)
    for run in args.runs:
        out = subprocess.run([sys.executable, __file__, "--cache", str(args.cache), "--worker", run],
                             capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(result)
        held = "; ".join(f"{name} {h['mean_after']:.0f} [{h['min_after']}..{h['max_after']}] "
                         f"{'exact' if h['exact_round_trip'] else 'MISMATCH'} ({h['grids']} grids)"
                         for name, h in result["held_out"].items())
        print(f"{result['dataset']:>6} {result['grids']:>5} {result['merges']:>6} {result['alpha']:>5} "
              f"{result['train_seconds']:>7} {result['train_cpu_seconds']:>6} {result['peak_mb']:>7}  {held}",
              flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
