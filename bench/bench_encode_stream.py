"""`lexkit encode --input FILE -o OUT` on 10 MB and 100 MB: MB/s and peak RSS, each run in a fresh process.

Memory is flat when the 100 MB run peaks about where the 10 MB run does. Each tokenizer is also run on a one-word
text, so its load time and resident size can be told apart from the streaming: MB/s counts the encoding alone
(wall time minus the load run's). Outputs go to a temporary folder and are deleted.

Usage: python bench/bench_encode_stream.py [--only gpt2,o200k_base,llama3] [--sizes 10M,100M]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, fixtures_dir, timed_lexkit  # noqa: E402


def _tokenizer_path(name: str, folder: Path) -> Path:
    """A path ``lexkit encode -t`` loads: the published tokenizer.json, or a saved lexkit folder for tiktoken."""
    sys.path.insert(0, str(ROOT / "tests"))
    import _resources

    from lexkit import Tokenizer
    from lexkit.formats.tiktoken import from_tiktoken

    if name == "gpt2":
        return _resources.gpt2_tokenizer_json()
    if name == "llama3":
        return _resources.llama3_tokenizer_json()
    saved = folder / name
    Tokenizer(from_tiktoken(_resources.tiktoken_encoding(name))).save(saved)
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="gpt2,o200k_base,llama3")
    parser.add_argument("--sizes", default="10M,100M")
    args = parser.parse_args()
    corpora = [fixtures_dir() / "corpus" / f"corpus_{size}.txt" for size in args.sizes.split(",")]
    print("| tokenizer | input | MB | wall s | load s | encode MB/s | peak RSS MB | load-only RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in args.only.split(","):
            path = _tokenizer_path(name, folder)
            load_wall, load_rss = timed_lexkit(["encode", "-t", str(path), "-o", str(folder / "ids.txt"), "x"])
            for corpus in corpora:
                megabytes = corpus.stat().st_size / 1e6
                wall, rss = timed_lexkit(["encode", "-t", str(path), "-i", str(corpus), "-o", str(folder / "ids.txt")])
                rate = megabytes / max(wall - load_wall, 1e-9)
                print(f"| {name} | {corpus.name} | {megabytes:.0f} | {wall:.1f} | {load_wall:.1f} | {rate:.1f} | "
                      f"{rss:.0f} | {load_rss:.0f} |", flush=True)


if __name__ == "__main__":
    main()
