"""The analysis report over real corpora, and analysis throughput / memory on 10 MB vs 100 MB.

1. Builds four held-out corpora from the fixtures (English prose: bytes 10-12 MB of corpus_100M.txt, i.e. after the
   training text; code: CPython stdlib modules; Turkish: treebank sentences + Atatürk speeches; legal: licence
   texts), trains lexkit 32k BPE (and Scaffold-BPE / LBPE when registered) on corpus_10M.txt, and writes the
   comparison report against GPT-2, cl100k, o200k, Llama-3 and Qwen2.5 to cache/bench/report/.
2. Times `lexkit analyze`-style streaming over 10 MB and 100 MB in fresh processes and prints MB/s and peak RSS.

Usage: python bench/bench_analysis.py [--skip-report] [--skip-scale] [--vocab-size 32000]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, fixtures_dir  # noqa: E402

WORK = ROOT / "cache" / "bench"
CORPUS_BYTES = 2_000_000


def _take(lines, limit: int = CORPUS_BYTES) -> str:
    out, total = [], 0
    for line in lines:
        out.append(line)
        total += len(line.encode("utf-8"))
        if total >= limit:
            break
    return "".join(out)


def build_corpora() -> dict[str, Path]:
    """The four held-out corpora as text files under cache/bench/corpora (rebuilt each run, deterministic)."""
    folder = WORK / "corpora"
    folder.mkdir(parents=True, exist_ok=True)
    fixtures = fixtures_dir()
    with open(fixtures / "corpus" / "corpus_100M.txt", encoding="utf-8") as handle:
        handle.seek(10_000_000)
        handle.readline()  # to a line start
        prose = _take(handle)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    code = _take(line for path in sorted(stdlib.glob("*/*.py")) for line in open(path, encoding="utf-8",
                                                                                    errors="replace"))
    turkish_lines = [line[len("# text = "):] + "\n" for conllu in sorted((fixtures / "turkish").rglob("*.conllu"))
                     for line in conllu.read_text(encoding="utf-8").splitlines() if line.startswith("# text = ")]
    with sqlite3.connect(fixtures / "turkish" / "speeches.db") as db:
        turkish_lines += [body + "\n" for (body,) in db.execute(
            "select body from speech_texts where lang='tr' order by rowid")]
    turkish = _take(turkish_lines)
    legal = _take(line for path in sorted((fixtures / "legal" / "licenses").glob("*.LICENSE"))
                  for line in path.read_text(encoding="utf-8", errors="replace").split("---", 2)[-1]
                  .splitlines(keepends=True))
    paths = {}
    for name, text in (("prose", prose), ("code", code), ("turkish", turkish), ("legal", legal)):
        paths[name] = folder / f"{name}.txt"
        paths[name].write_text(text, encoding="utf-8")
    return paths


def train_lexkit(vocab_size: int) -> dict[str, Path]:
    """lexkit tokenizers trained on corpus_10M.txt, one per BPE-family algorithm that exists."""
    from lexkit import Tokenizer
    from lexkit.corpus import Corpus
    from lexkit.vocab import TRAINERS, train

    trained = {}
    for algorithm in ("bpe", "scaffold-bpe", "lbpe"):
        if algorithm not in TRAINERS:
            continue
        out = WORK / f"{algorithm}-{vocab_size // 1000}k"
        if not (out / "lexkit.json").exists():
            start = time.perf_counter()
            config = TRAINERS[algorithm][0](vocab_size=vocab_size, special_tokens=("<|endoftext|>",))
            vocabulary = train(Corpus(str(fixtures_dir() / "corpus" / "corpus_10M.txt")), config,
                               algorithm=algorithm, progress=False)
            Tokenizer(vocabulary, encoder=vocabulary.metadata.get("encoder")).save(out)
            print(f"trained {algorithm} {vocab_size} in {time.perf_counter() - start:.1f}s", flush=True)
        trained[f"lexkit-{algorithm}-{vocab_size // 1000}k"] = out
    return trained


def report(vocab_size: int) -> None:
    from lexkit import Tokenizer
    from lexkit.analysis.report import analyze, load_tokenizer, write_report
    from lexkit.formats.tiktoken import from_tiktoken

    corpora = build_corpora()
    tokenizers = {name: Tokenizer.load(path) for name, path in train_lexkit(vocab_size).items()}
    fixtures = fixtures_dir()
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str((fixtures / "tiktoken").resolve()))
    for spec in (f"gpt2={fixtures / 'gpt2' / 'tokenizer.json'}", "cl100k=tiktoken:cl100k_base",
                 "o200k=tiktoken:o200k_base", f"llama3={fixtures / 'llama3' / 'tokenizer.json'}"):
        name, tokenizer = load_tokenizer(spec)
        tokenizers[name] = tokenizer
    sys.path.insert(0, str(ROOT / "tests"))
    import _resources

    tokenizers["qwen2.5"] = Tokenizer(from_tiktoken(_resources.qwen_tiktoken("qwen2.5")))
    start = time.perf_counter()
    result = analyze(tokenizers, {n: (lambda p=p: open(p, encoding="utf-8")) for n, p in corpora.items()},
                     progress=False)
    index = write_report(result, WORK / "report")
    print(f"report over {len(corpora)} corpora x {len(tokenizers)} tokenizers in "
          f"{time.perf_counter() - start:.1f}s -> {index}")
    print((WORK / "report" / "report.md").read_text(encoding="utf-8").split("## Corpus")[0])


def scale() -> None:
    """Analysis throughput and peak memory on 10 MB vs 100 MB, each in a fresh process."""
    tokenizer = fixtures_dir() / "gpt2" / "tokenizer.json"
    print(f"{'corpus':<16} {'seconds':>8} {'MB/s':>6} {'peak RSS MB':>12}")
    for name in ("corpus_10M.txt", "corpus_100M.txt"):
        corpus = fixtures_dir() / "corpus" / name
        out = subprocess.run([sys.executable, __file__, "--measure-one", str(tokenizer), str(corpus)],
                             capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{name:<16} {row['seconds']:>8.1f} {row['mb'] / row['seconds']:>6.2f} {row['rss_mb']:>12.0f}")


def measure_one(tokenizer_path: str, corpus: str) -> None:
    from lexkit import Tokenizer
    from lexkit.analysis.metrics import measure_corpus

    tokenizer = Tokenizer.load(tokenizer_path)
    start = time.perf_counter()
    with open(corpus, encoding="utf-8") as handle:
        counts = measure_corpus(tokenizer, handle)
    seconds = time.perf_counter() - start
    # subtle: ru_maxrss survives fork+exec (it would report the parent's peak); VmHWM is this process's own.
    status = Path("/proc/self/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")) / 1024
    print(json.dumps({"seconds": seconds, "mb": counts.bytes / 1e6, "rss_mb": rss}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--skip-report", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--measure-one", nargs=2, metavar=("TOKENIZER", "CORPUS"))
    args = parser.parse_args()
    if args.measure_one:
        measure_one(*args.measure_one)
    else:
        if not args.skip_report:
            report(args.vocab_size)
        if not args.skip_scale:
            scale()
