"""`lexkit analyze` with two tokenizers (GPT-2 and o200k) over 10 MB and 100 MB: MB/s and peak RSS.

Each run is a fresh process under GNU time. "MB/s (whole command)" is what a user waits for: corpus MB / wall,
loading and report included. A run on a one-line corpus gives the fixed cost (loading both tokenizers and their
engines, the digit and inference-method probes, plots, writing the report), so the streaming rate can be told
apart from it: "stream MB/s" is corpus MB / (wall - fixed wall), and the last line gives the rate between the two
largest corpora (their MB difference over their wall difference), which no fixed cost enters. Memory is flat when
the 100 MB run peaks about where the 10 MB run does. Reports go to a temporary folder and are deleted.

Usage: python bench/bench_analyze_cli.py [--sizes 10M,100M]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fixtures_dir, timed_lexkit  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10M,100M")
    args = parser.parse_args()
    tokenizers = ["-t", f"gpt2={fixtures_dir() / 'gpt2' / 'tokenizer.json'}", "-t", "o200k=tiktoken:o200k_base"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        one_line = folder / "one_line.txt"
        one_line.write_text("The quick brown fox jumps over the lazy dog.\n", encoding="utf-8")

        def run(corpus: Path) -> tuple[float, float]:
            return timed_lexkit(["analyze", *tokenizers, "-c", f"prose={corpus}", "-o", str(folder / "report"),
                           "--passages", "0", "--no-progress"])

        fixed_wall, fixed_rss = run(one_line)
        print(f"fixed cost (one-line corpus): {fixed_wall:.1f} s, peak RSS {fixed_rss:.0f} MB")
        print("| corpus | MB | wall s | MB/s (whole command) | stream MB/s | tokenizer-MB/s (2 tokenizers) | "
              "peak RSS MB |")
        print("|---|---|---|---|---|---|---|")
        runs: list[tuple[float, float]] = []
        for size in args.sizes.split(","):
            corpus = fixtures_dir() / "corpus" / f"corpus_{size}.txt"
            megabytes = corpus.stat().st_size / 1e6
            wall, rss = run(corpus)
            stream = megabytes / max(wall - fixed_wall, 1e-9)
            print(f"| {corpus.name} | {megabytes:.0f} | {wall:.1f} | {megabytes / wall:.1f} | {stream:.1f} | "
                  f"{2 * stream:.1f} | {rss:.0f} |", flush=True)
            runs.append((megabytes, wall))
        if len(runs) > 1:
            (small_mb, small_wall), (large_mb, large_wall) = runs[-2], runs[-1]
            print(f"streaming rate between the last two corpora: {large_mb - small_mb:.0f} MB in "
                  f"{large_wall - small_wall:.1f} s = {(large_mb - small_mb) / max(large_wall - small_wall, 1e-9):.1f} "
                  "MB/s")


if __name__ == "__main__":
    main()
