"""`lexkit analyze` with two tokenizers (GPT-2 and o200k) over 10 MB and 100 MB: MB/s and peak memory.

Each run is a fresh process. "MB/s (whole command)" is what a user waits for: corpus MB / wall, loading and
report included. A run on a one-line corpus gives the fixed cost (loading both tokenizers and their engines, the
digit and inference-method probes, plots, writing the report), so the streaming rate can be told apart from it:
"stream MB/s" is corpus MB / (wall - fixed wall), and the last line gives the rate between the two largest
corpora (their MB difference over their wall difference), which no fixed cost enters. "pass s" is the corpus
pass alone, from the command's own progress line (``lexkit: measured ... in N s``; after the engines are built on
this branch, while older builds count building them in), and the rate between the passes of the two largest
corpora is printed too (less noisy than the walls, which hold 20-30 s of fixed cost). Memory: "peak RSS" is the
largest single process (GNU time's figure); "peak PSS, all" is the peak of the proportional set sizes of the
command and its worker processes summed (pages shared after the fork counted once), sampled every 0.2 s. Memory
is flat when the 100 MB run peaks about where the 10 MB run does. Reports go to a temporary folder and are
deleted unless ``--keep DIR`` (then ``DIR/<corpus>/report.json`` etc., for comparing two builds with ``cmp``).

Usage: python bench/bench_analyze_cli.py [--sizes 10M,100M] [--workers N] [--lexkit PATH] [--keep DIR]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fixtures_dir  # noqa: E402


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                queue += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _pss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def timed(command: list[str]) -> tuple[float, float, float, float]:
    """Wall seconds, peak RSS of the largest process (MB, GNU time), peak PSS of the process tree (MB) and the
    seconds of the corpus pass (the command's own "measured ... in N s" line; 0 when it prints none)."""
    process = subprocess.Popen(["/usr/bin/time", "-f", "%e %M", *command], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    peak = [0.0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], _pss_mb(_tree(process.pid)))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {stderr.strip().splitlines()[-2:]}")
    wall, rss_kb = stderr.strip().splitlines()[-1].split()
    passes = [float(found) for found in re.findall(r"^lexkit: measured .* in ([0-9.]+)s", stderr, re.MULTILINE)]
    return float(wall), int(rss_kb) / 1024, peak[0], max(passes, default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10M,100M")
    parser.add_argument("--workers", type=int, default=None, help="pass --workers N (default: the command's)")
    parser.add_argument("--lexkit", default=str(Path(sys.executable).with_name("lexkit")),
                        help="the lexkit executable to time (e.g. another checkout's, for a before/after)")
    parser.add_argument("--keep", type=Path, default=None, help="keep each corpus's report in KEEP/<corpus>/")
    args = parser.parse_args()
    tokenizers = ["-t", f"gpt2={fixtures_dir() / 'gpt2' / 'tokenizer.json'}", "-t", "o200k=tiktoken:o200k_base"]
    workers = [] if args.workers is None else ["--workers", str(args.workers)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        one_line = folder / "one_line.txt"
        one_line.write_text("The quick brown fox jumps over the lazy dog.\n", encoding="utf-8")

        def run(corpus: Path) -> tuple[float, float, float, float]:
            out = (args.keep or folder) / corpus.stem
            return timed([args.lexkit, "analyze", *tokenizers, "-c", f"prose={corpus}", "-o", str(out),
                          "--passages", "0", *workers])

        fixed_wall, fixed_rss, fixed_pss, _ = run(one_line)
        print(f"{args.lexkit} {' '.join(workers) or '(default workers)'}")
        print(f"fixed cost (one-line corpus): {fixed_wall:.1f} s, peak RSS {fixed_rss:.0f} MB, "
              f"peak PSS {fixed_pss:.0f} MB")
        print("| corpus | MB | wall s | MB/s (whole command) | stream MB/s | tokenizer-MB/s (2 tokenizers) | "
              "pass s | pass MB/s | peak RSS MB (largest process) | peak PSS MB (all processes) |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        runs: list[tuple[float, float, float]] = []
        for size in args.sizes.split(","):
            corpus = fixtures_dir() / "corpus" / f"corpus_{size}.txt"
            megabytes = corpus.stat().st_size / 1e6
            wall, rss, pss, seconds = run(corpus)
            stream = megabytes / max(wall - fixed_wall, 1e-9)
            print(f"| {corpus.name} | {megabytes:.0f} | {wall:.1f} | {megabytes / wall:.1f} | {stream:.1f} | "
                  f"{2 * stream:.1f} | {seconds:.1f} | {megabytes / max(seconds, 1e-9):.1f} | {rss:.0f} | "
                  f"{pss:.0f} |", flush=True)
            runs.append((megabytes, wall, seconds))
        if len(runs) > 1:
            (small_mb, small_wall, small_pass), (large_mb, large_wall, large_pass) = runs[-2], runs[-1]
            for what, small, large in (("walls", small_wall, large_wall), ("passes", small_pass, large_pass)):
                print(f"streaming rate between the last two corpora's {what}: {large_mb - small_mb:.0f} MB in "
                      f"{large - small:.1f} s = {(large_mb - small_mb) / max(large - small, 1e-9):.1f} MB/s")


if __name__ == "__main__":
    main()
