"""Training speed and memory: lexkit ``bpe`` / ``scaffold-bpe`` vs HF ``tokenizers`` and sentencepiece, side by side.

Every contender trains in its own subprocess (wall time and peak RSS from ``resource.getrusage``), in turns,
``--repeat`` times, on the same file; the table prints medians and ratios. Settings: vocabulary 32,000 (``--vocab``),
byte-level BPE with the GPT-2 pattern and ``min_frequency=2`` for lexkit and HF (HF trains with
``Tokenizer.train(files=...)``, its fastest path, ``ByteLevel(add_prefix_space=False)`` and
``initial_alphabet=ByteLevel.alphabet()``); sentencepiece trains ``model_type="bpe"``, ``byte_fallback=True``,
``num_threads=os.cpu_count()`` with its defaults otherwise (``input_sentence_size=0``, i.e. every line, and
``max_sentence_length=4192`` bytes: longer lines are skipped). ``--spm-input-sentence-size N`` makes sentencepiece
sample N lines instead (its table row is then labelled ``sentencepiece (N lines)``): for corpora where training on
every line takes longer than a run may.

``--phases``: instead, where lexkit ``bpe``'s time goes, in a fresh process per corpus (import, counting,
`hf_words`, the merge engine, the vocabulary and its metadata), with ``--repeat`` runs.

Then, unless ``--speed-only``: HF merge-list parity at 8k and 32k on the first corpus; encoding throughput of
the ``scaffold`` and ``long-first`` encoders against HF ``bpe``; Scaffold-BPE and LBPE behaviour (scaffold tokens,
frequency imbalance, long-token share) on tokenizers trained on the last corpus.

Usage: python bench/bench_train.py [--corpus PATH ...] [--vocab 32000] [--repeat 1] [--contenders hf ...] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fixtures_dir, load_text  # noqa: E402

CONTENDERS = ("lexkit-bpe", "lexkit-scaffold-bpe", "hf", "sentencepiece")

# Runs in a fresh interpreter: train once, print {"seconds": ..., "rss_mb": ..., "children_rss_mb": ...}.
_CHILD = r"""
import json, os, resource, sys, time
kind, corpus, vocab, out, sentences = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
start = time.perf_counter()
if kind.startswith("lexkit-"):
    from lexkit.vocab import train
    vocabulary = train(corpus, algorithm=kind[len("lexkit-"):], vocab_size=vocab, min_frequency=2, progress=False)
    seconds = time.perf_counter() - start
    from lexkit.formats import native
    native.save(vocabulary, out)
elif kind == "hf":
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.train([corpus], trainers.BpeTrainer(vocab_size=vocab, min_frequency=2, show_progress=False,
                                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    seconds = time.perf_counter() - start
    tokenizer.save(out)
else:
    import io
    import sentencepiece as spm
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(input=corpus, model_writer=model, model_type="bpe", vocab_size=vocab,
                                   byte_fallback=True, num_threads=os.cpu_count(), minloglevel=2,
                                   input_sentence_size=sentences)
    seconds = time.perf_counter() - start
mb = lambda who: resource.getrusage(who).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "rss_mb": mb(resource.RUSAGE_SELF), "children_rss_mb": mb(resource.RUSAGE_CHILDREN)}))
"""


# Runs in a fresh interpreter: lexkit bpe's phases, timed apart; prints {"import": s, "count": s, ...}.
_PHASES = r"""
import json, sys, time
start = time.perf_counter()
from lexkit.corpus import count_pre_tokens
from lexkit.vocab import _hf_compat
from lexkit.vocab.bpe import BPEConfig, BPETrainer
seconds = {"import": time.perf_counter() - start}
config = BPEConfig(vocab_size=int(sys.argv[2]), min_frequency=2)
components = config.components()
mark = time.perf_counter()
counts = count_pre_tokens(sys.argv[1], normalizer=components["normalizer"], pre_tokenizer=components["pre_tokenizer"],
                          progress=False)
seconds["count"] = time.perf_counter() - mark
def timed(name, function):
    def run(*args, **kwargs):
        begin = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[name] = time.perf_counter() - begin
    return run
_hf_compat.hf_words = timed("hf_words", _hf_compat.hf_words)
_hf_compat.learn_with_progress = timed("merge engine", _hf_compat.learn_with_progress)
mark = time.perf_counter()
BPETrainer(config).train_from_counts(counts)
seconds["vocabulary and metadata"] = time.perf_counter() - mark - seconds["hf_words"] - seconds["merge engine"]
seconds["total"] = time.perf_counter() - start
print(json.dumps(seconds))
"""


def phases(corpora: list[Path], vocab: int, repeat: int) -> dict[str, Any]:
    """lexkit bpe's time per phase on each corpus, ``repeat`` fresh processes each (medians)."""
    table = {}
    for corpus in corpora:
        runs = []
        for _ in range(repeat):
            done = subprocess.run([sys.executable, "-c", _PHASES, str(corpus.resolve()), str(vocab)],
                                  capture_output=True, text=True, cwd=tempfile.gettempdir())
            if done.returncode:
                raise SystemExit(f"phases failed on {corpus}:\n{done.stderr}")
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        medians = {name: statistics.median(run[name] for run in runs) for name in runs[0]}
        print(f"{corpus.name}, vocab {vocab}, median of {repeat}: "
              + ", ".join(f"{name} {value:.2f} s" for name, value in medians.items()))
        table[corpus.name] = {"medians": medians, "runs": runs}
    return table


def _train(kind: str, corpus: Path, vocab: int, out: Path, spm_sentences: int = 0) -> dict[str, float]:
    # subtle: run outside the repository, where the bare lexkit/ folder would shadow the installed package (so
    # the corpus path must be absolute).
    done = subprocess.run([sys.executable, "-c", _CHILD, kind, str(corpus.resolve()), str(vocab), str(out),
                           str(spm_sentences)],
                          capture_output=True, text=True, cwd=out.parent)
    if done.returncode:
        raise SystemExit(f"{kind} failed on {corpus}:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def speed(corpora: list[Path], vocab: int, repeat: int, work: Path, contenders: tuple[str, ...] = CONTENDERS,
          spm_sentences: int = 0) -> dict[str, Any]:
    """Train every contender ``repeat`` times on each corpus, in turns; medians and ratios."""
    table: dict[str, Any] = {}
    spm_label = f"sentencepiece ({spm_sentences} lines)" if spm_sentences else "sentencepiece"
    for corpus in corpora:
        runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in contenders}
        for _ in range(repeat):  # alternate so machine load hits every contender alike
            for kind in contenders:
                runs[kind].append(_train(kind, corpus, vocab, work / f"{corpus.stem}-{kind}.json", spm_sentences))
        medians = {kind: {key: statistics.median(r[key] for r in rs) for key in rs[0]} for kind, rs in runs.items()}
        base = {name: medians[kind]["seconds"] for name, kind in (("HF", "hf"), ("spm", "sentencepiece"))
                if kind in medians}
        print(f"\n{corpus.name} ({corpus.stat().st_size / 1e6:.0f} MB), vocab {vocab}, median of {repeat}, "
              f"{os.cpu_count()} cores")
        print(f"{'contender':<34}{'seconds':>9}" + "".join(f"{'vs ' + name:>8}" for name in base)
              + f"{'RSS MB':>9}{'workers MB':>12}")
        for kind, m in medians.items():
            label = spm_label if kind == "sentencepiece" else kind
            print(f"{label:<34}{m['seconds']:>9.2f}" + "".join(f"{m['seconds'] / s:>7.2f}x" for s in base.values())
                  + f"{m['rss_mb']:>9.0f}{m['children_rss_mb']:>12.0f}")
        if "lexkit-scaffold-bpe" in medians and "lexkit-bpe" in medians:
            ratio = medians["lexkit-scaffold-bpe"]["seconds"] / medians["lexkit-bpe"]["seconds"]
            print(f"scaffold-bpe / bpe: {ratio:.2f}x")
        if "hf" in medians and "lexkit-bpe" in medians:
            print(f"lexkit bpe peak RSS / HF: {medians['lexkit-bpe']['rss_mb'] / medians['hf']['rss_mb']:.2f}x")
        table[corpus.name] = {"medians": medians, "runs": runs, "sentencepiece_input_sentence_size": spm_sentences}
    return table


def parity(corpus: Path, work: Path) -> dict[str, Any]:
    """Merge lists of lexkit ``bpe`` and HF trained from the file, at 8k and 32k."""
    out = {}
    for vocab in (8000, 32000):
        _train("hf", corpus, vocab, work / "hf.json")
        _train("lexkit-bpe", corpus, vocab, work / "lexkit.json")
        from lexkit.formats import hf as hf_format
        from lexkit.formats import native

        ours = hf_format.to_hf(native.load(work / "lexkit.json"))["model"]
        theirs = json.loads((work / "hf.json").read_text(encoding="utf-8"))["model"]
        same = ours["merges"] == theirs["merges"] and ours["vocab"] == theirs["vocab"]
        first = next((i for i, (a, b) in enumerate(zip(ours["merges"], theirs["merges"])) if a != b), None)
        print(f"parity {corpus.name} vocab {vocab}: {len(ours['merges'])} merges, identical to HF: {same}"
              + ("" if same else f" (first difference at rank {first})"))
        out[str(vocab)] = {"identical": same, "merges": len(ours["merges"]), "first_difference": first}
    return out


def encoding(vocabulary_paths: dict[str, Path], lines: list[str], repeat: int) -> dict[str, Any]:
    """encode_batch throughput of lexkit's scaffold and long-first encoders vs HF running plain BPE."""
    from tokenizers import Tokenizer as HFTokenizer

    from lexkit import Tokenizer
    from lexkit.formats import hf as hf_format
    from lexkit.formats import native

    bpe = native.load(vocabulary_paths["bpe"])
    hf_tokenizer = HFTokenizer.from_str(hf_format.dumps(hf_format.to_hf(bpe)))
    scaffold = Tokenizer(native.load(vocabulary_paths["scaffold-bpe"]), encoder="scaffold")
    long_first = Tokenizer(bpe, encoder="long-first")
    contenders = {
        "HF bpe encode_batch": lambda: [e.ids for e in hf_tokenizer.encode_batch(lines, add_special_tokens=False)],
        "lexkit scaffold": lambda: scaffold.encode_batch(lines),
        "lexkit long-first": lambda: long_first.encode_batch(lines),
    }
    for fn in contenders.values():
        fn()  # build the engines first
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    megabytes = sum(len(line.encode("utf-8")) for line in lines) / 1e6
    base = statistics.median(times["HF bpe encode_batch"])
    out = {}
    print(f"\nencoding {megabytes:.1f} MB, median of {repeat}")
    for name, ts in times.items():
        median = statistics.median(ts)
        out[name] = {"mb_per_s": megabytes / median, "throughput_vs_hf": base / median}
        print(f"{name:<24}{megabytes / median:>8.2f} MB/s{base / median:>8.2f}x HF")
    return out


def behaviour(vocabulary_paths: dict[str, Path], lines: list[str]) -> dict[str, Any]:
    """Scaffold tokens and frequency imbalance (Gini, share below median) per encoder, and long-token share."""
    import numpy as np

    from lexkit import Tokenizer
    from lexkit.analysis.metrics import gini, share_below_median
    from lexkit.formats import native

    bpe = native.load(vocabulary_paths["bpe"])
    scaffold_vocabulary = native.load(vocabulary_paths["scaffold-bpe"])
    scaffolds = [t for t in scaffold_vocabulary.tokens if t.scaffold]
    frequencies = dict(scaffold_vocabulary.metadata["scaffold_tokens"])
    examples = sorted(scaffolds, key=lambda t: -frequencies[t.id])[:12]
    print(f"\nScaffold-BPE: {len(scaffolds)} scaffold tokens ({len(scaffolds) / scaffold_vocabulary.model_size:.2%} "
          f"of {scaffold_vocabulary.model_size}), {scaffold_vocabulary.metadata['scaffold_reactivations']} "
          "re-activations; most frequent at the end of training:")
    print("  " + ", ".join(f"{t.content.decode('utf-8', 'replace')!r} ({frequencies[t.id]})" for t in examples))
    out: dict[str, Any] = {"scaffold_tokens": len(scaffolds),
                           "examples": [[t.content.decode("utf-8", "replace"), frequencies[t.id]] for t in examples]}
    megabytes = sum(len(line.encode("utf-8")) for line in lines) / 1e6
    print(f"token frequencies over {megabytes:.0f} MB of the training text:")
    print(f"{'encoder':<16}{'tokens':>11}{'bytes/token':>12}{'Gini':>7}{'<median':>9}{'unused':>8}{'>=6 bytes':>10}")
    for label, vocabulary, encoder in (("bpe", bpe, "bpe"), ("scaffold", scaffold_vocabulary, "scaffold"),
                                       ("long-first", bpe, "long-first"), ("longest-token", bpe, "longest-token")):
        tokenizer = Tokenizer(vocabulary, encoder=encoder)
        ids = np.fromiter((i for seq in tokenizer.encode_batch(lines) for i in seq), dtype=np.int64)
        counts = np.bincount(ids, minlength=vocabulary.model_size)[:vocabulary.model_size].astype(np.float64)
        lengths = np.array([len(t.content) for t in vocabulary.tokens[:vocabulary.model_size]])
        long_share = float(counts[lengths >= 6].sum() / counts.sum())
        row = {"tokens": int(counts.sum()), "bytes_per_token": megabytes * 1e6 / counts.sum(), "gini": gini(counts),
               "share_below_median": share_below_median(counts), "unused": int((counts == 0).sum()),
               "long_token_share": long_share}
        out[label] = row
        print(f"{label:<16}{row['tokens']:>11}{row['bytes_per_token']:>12.3f}{row['gini']:>7.3f}"
              f"{row['share_below_median']:>9.3f}{row['unused']:>8}{long_share:>10.3f}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, action="append", default=None,
                        help="text file (repeatable; default: corpus_10M.txt and corpus_100M.txt)")
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--speed-only", action="store_true")
    parser.add_argument("--phases", action="store_true", help="only time lexkit bpe's phases (see above)")
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=list(CONTENDERS),
                        help="which trainers the speed table runs")
    parser.add_argument("--spm-input-sentence-size", type=int, default=0,
                        help="sentencepiece samples this many lines (0: every line, its default)")
    parser.add_argument("--sample-mb", type=float, default=10.0, help="text encoded for throughput and behaviour")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    corpora = args.corpus or [fixtures_dir() / "corpus" / "corpus_10M.txt", fixtures_dir() / "corpus" / "corpus_100M.txt"]
    results: dict[str, Any] = {}
    if args.phases:
        results["phases"] = phases(corpora, args.vocab, args.repeat)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2, default=str))
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        results["speed"] = speed(corpora, args.vocab, args.repeat, work, tuple(args.contenders),
                                 args.spm_input_sentence_size)
        if not args.speed_only:
            results["parity"] = parity(corpora[0], work)
            paths = {}
            for algorithm in ("bpe", "scaffold-bpe"):
                paths[algorithm] = work / f"final-{algorithm}.json"
                _train(f"lexkit-{algorithm}", corpora[-1], args.vocab, paths[algorithm])
            lines = load_text(corpora[-1], args.sample_mb)
            results["encoding"] = encoding(paths, lines, max(args.repeat, 3))
            results["behaviour"] = behaviour(paths, lines)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
