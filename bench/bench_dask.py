"""Pre-token counting: one process vs a process pool on all cores vs a 2-worker Dask LocalCluster, side by side.

Each engine counts the same file in its own subprocess; the parent samples the resident memory of that process
and all its descendants (pool workers, Dask nannies and workers) every 20 ms with psutil and keeps the peak of
the sum, and adds up the CPU seconds of every process (start-up and imports included). Counting throughput
excludes interpreter start-up; for Dask the cluster start-up is timed apart (the ``with_startup`` figure includes
it). On a shared machine wall-clock MB/s measures the share of the cores the run got; MB per CPU-second does not. All count tables must be equal, in the same order, and BPE trained on each
(``--vocab``, byte-level GPT-2 pattern, ``min_frequency=2``) must give identical merges.

``--scaling`` also measures the size of the count table (distinct pre-tokens, bytes) on growing prefixes of
the full corpus, fits Heaps' law (distinct = K * bytes^beta) and projects it to 100 GB (docs/scaling.md).

``--prune N`` also counts on Dask with ``reduce_min_count=N`` and reports how many merges stay identical.

Usage: python bench/bench_dask.py [--corpus PATH] [--vocab 8000] [--scaling] [--prune N] [--json OUT]
Default: the 10 MB corpus (quick); the issue's figures use --corpus cache/fixtures/corpus/corpus_100M.txt.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fixtures_dir  # noqa: E402

ENGINES = ("single-process", "all-cores", "dask-2-workers")
PREFIX_MB = (1, 3, 10, 30, 100)


def _child(engine: str, corpus: str, out: str) -> None:
    """Count ``corpus`` with one engine; write the counts (pickle) and timings (JSON) next to ``out``."""
    from lexkit.components import byte_level_pre_tokenizer
    from lexkit.corpus import count_pre_tokens

    pre_tokenizer = byte_level_pre_tokenizer("gpt2")
    startup = 0.0
    if engine.startswith("dask-2-workers"):
        from distributed import Client, LocalCluster

        start = time.perf_counter()
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None)
        client = Client(cluster)
        startup = time.perf_counter() - start
        prune = int(engine.rsplit("-", 1)[1]) if "-prune-" in engine else 1
        options: dict[str, Any] = {"engine": "dask", "scheduler": client, "reduce_min_count": prune}
    else:
        options = {"workers": 1 if engine == "single-process" else os.cpu_count()}
    start = time.perf_counter()
    counts = count_pre_tokens(corpus, normalizer=None, pre_tokenizer=pre_tokenizer, progress=False, **options)
    seconds = time.perf_counter() - start
    if engine.startswith("dask-2-workers"):
        client.close()
        cluster.close()
    Path(out).write_bytes(pickle.dumps(counts, protocol=pickle.HIGHEST_PROTOCOL))
    print(json.dumps({"seconds": seconds, "startup_seconds": startup}))


def _sample(process: Any, cpu: dict[int, float], peaks: dict[int, int]) -> tuple[int, int]:
    """(sum of resident bytes of ``process`` and its descendants, resident bytes of ``process`` alone); records
    each process's latest CPU seconds (user + system) in ``cpu`` and its peak resident bytes in ``peaks``."""
    import psutil

    total = own = 0
    try:
        own = process.memory_info().rss
        total = own
        for member in [process, *process.children(recursive=True)]:
            try:
                rss = member.memory_info().rss
                peaks[member.pid] = max(peaks.get(member.pid, 0), rss)
                if member is not process:
                    total += rss
                times = member.cpu_times()
                cpu[member.pid] = times.user + times.system
            except psutil.NoSuchProcess:
                pass
    except psutil.NoSuchProcess:
        pass
    return total, own


def run_engine(engine: str, corpus: Path, out: Path) -> dict[str, Any]:
    """Run one engine in a subprocess, sampling its process tree's memory."""
    import psutil

    load_before = os.getloadavg()[0]
    # subtle: run from outside the repository so the bare lexkit/ folder cannot shadow the installed package
    child = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child", engine, str(corpus), str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tempfile.gettempdir())
    process = psutil.Process(child.pid)
    peak_tree = peak_main = 0
    cpu: dict[int, float] = {}
    peaks: dict[int, int] = {}
    while child.poll() is None:
        tree, own = _sample(process, cpu, peaks)
        peak_tree, peak_main = max(peak_tree, tree), max(peak_main, own)
        time.sleep(0.02)
    stdout, stderr = child.communicate()
    if child.returncode:
        raise SystemExit(f"{engine} failed:\n{stderr}")
    timing = json.loads(stdout.strip().splitlines()[-1])
    size = corpus.stat().st_size
    result = {
        "seconds": round(timing["seconds"], 3),
        "mb_per_s": round(size / 1e6 / timing["seconds"], 2),
        "startup_seconds": round(timing["startup_seconds"], 3),
        "mb_per_s_with_startup": round(size / 1e6 / (timing["seconds"] + timing["startup_seconds"]), 2),
        "peak_rss_mb_all_processes": round(peak_tree / 2**20, 1),
        "peak_rss_mb_main_process": round(peak_main / 2**20, 1),
        "peak_rss_mb_other_processes": sorted((round(rss / 2**20, 1) for pid, rss in peaks.items()
                                               if pid != child.pid), reverse=True),
        "cpu_seconds_all_processes": round(sum(cpu.values()), 2),  # sampled: misses the last 20 ms of each
        "mb_per_cpu_s": round(size / 1e6 / max(sum(cpu.values()), 1e-9), 2),
        "load_average_1min_before": round(load_before, 2),
    }
    print(f"  {engine:>15}: {result['seconds']:7.2f} s  {result['mb_per_s']:6.2f} MB/s  "
          f"(with start-up {result['mb_per_s_with_startup']:6.2f} MB/s)  peak RSS {result['peak_rss_mb_all_processes']:7.1f} MB "
          f"all processes, {result['peak_rss_mb_main_process']:7.1f} MB main, "
          f"{result['cpu_seconds_all_processes']:6.1f} CPU-s", flush=True)
    return result


def compare(corpus: Path, vocab: int, work: Path, prune: int) -> dict[str, Any]:
    """Count with every engine, check the tables are identical, train BPE on each and compare the merges."""
    from lexkit.vocab import BPEConfig, BPETrainer

    print(f"counting {corpus.name} ({corpus.stat().st_size / 1e6:.1f} MB) on {os.cpu_count()} cores", flush=True)
    engines = {engine: run_engine(engine, corpus, work / f"{engine}.pkl") for engine in ENGINES}
    tables = {engine: pickle.loads((work / f"{engine}.pkl").read_bytes()) for engine in ENGINES}
    reference = tables[ENGINES[0]]
    counts_equal = all(table == reference and list(table) == list(reference) for table in tables.values())
    merges: dict[str, Any] = {}
    for engine, table in tables.items():
        start = time.perf_counter()
        vocabulary = BPETrainer(BPEConfig(vocab_size=vocab, min_frequency=2)).train_from_counts(table)
        merges[engine] = (_merge_bytes(vocabulary), round(time.perf_counter() - start, 2))
    merges_equal = all(found == merges[ENGINES[0]][0] for found, _ in merges.values())
    base = engines[ENGINES[0]]["mb_per_s"]
    for engine in ENGINES:
        engines[engine]["speedup_vs_single"] = round(engines[engine]["mb_per_s"] / base, 2)
        engines[engine]["train_seconds"] = merges[engine][1]
    print(f"  counts identical (values and order): {counts_equal}; {len(reference):,} distinct pre-tokens")
    print(f"  BPE {vocab}: {len(merges[ENGINES[0]][0])} merges, identical from all three: {merges_equal}")
    pruning = _pruning(corpus, vocab, work, prune, reference, merges[ENGINES[0]][0]) if prune > 1 else None
    print("  speed-up vs single-process: " + ", ".join(
        f"{engine} {engines[engine]['speedup_vs_single']:.2f}x" for engine in ENGINES))
    return {"corpus": corpus.name, "bytes": corpus.stat().st_size, "cpu_count": os.cpu_count(),
            "load_average_1min_at_end": round(os.getloadavg()[0], 2), "engines": engines,
            "distinct_pre_tokens": len(reference), "counts_identical": counts_equal, "bpe_vocab": vocab,
            "merges": len(merges[ENGINES[0]][0]), "merges_identical": merges_equal, "pruning": pruning}


def _pruning(corpus: Path, vocab: int, work: Path, prune: int, exact: dict[str, int],
             exact_merges: tuple[Any, ...]) -> dict[str, Any]:
    """Dask counting with ``reduce_min_count=prune``: table size, memory, and how far the merges stay exact."""
    from lexkit.vocab import BPEConfig, BPETrainer

    engine = f"dask-2-workers-prune-{prune}"
    result = run_engine(engine, corpus, work / f"{engine}.pkl")
    table = pickle.loads((work / f"{engine}.pkl").read_bytes())
    merges = _merge_bytes(BPETrainer(BPEConfig(vocab_size=vocab, min_frequency=2)).train_from_counts(table))
    same_prefix = next((rank for rank, (a, b) in enumerate(zip(merges, exact_merges)) if a != b),
                       min(len(merges), len(exact_merges)))
    result.update({
        "reduce_min_count": prune, "distinct": len(table), "distinct_exact": len(exact),
        "kept_pre_tokens_with_exact_count": sum(1 for piece, count in table.items() if exact.get(piece) == count),
        "merges_identical": merges == exact_merges, "identical_merge_prefix": same_prefix,
        "merges_in_common": len(set(merges) & set(exact_merges)),
    })
    print(f"  reduce_min_count={prune}: {len(table):,} of {len(exact):,} pre-tokens kept; merges identical for the "
          f"first {same_prefix} of {len(exact_merges)} ranks, {result['merges_in_common']} merges in common")
    return result


def _merge_bytes(vocabulary: Any) -> tuple[tuple[bytes, bytes], ...]:
    """The merges as (left bytes, right bytes): comparable across vocabularies whose ids differ."""
    content = [token.content for token in vocabulary.tokens]
    return tuple((content[merge[0]], content[merge[1]]) for merge in vocabulary.merges)


def table_size(counts: dict[str, int]) -> dict[str, Any]:
    """Size measures of a count table: entries, compact bytes (UTF-8 keys + 8-byte counts), pickle, Python heap."""
    compact = sum(len(piece.encode("utf-8")) + 8 for piece in counts)
    python = sys.getsizeof(counts) + sum(sys.getsizeof(piece) + sys.getsizeof(count) for piece, count in counts.items())
    return {"distinct": len(counts), "occurrences": sum(counts.values()),
            "count_ge_2": sum(1 for count in counts.values() if count >= 2),
            "compact_mb": round(compact / 1e6, 2), "pickle_mb": round(len(pickle.dumps(counts, protocol=5)) / 1e6, 2),
            "python_heap_mb": round(python / 1e6, 2)}


def scaling(full: Path, work: Path) -> dict[str, Any]:
    """Count-table size on prefixes of ``full`` (cut at line ends) and Heaps' law fits projected to 100 GB."""
    from lexkit.components import byte_level_pre_tokenizer
    from lexkit.corpus import count_pre_tokens

    data = full.read_bytes()
    points = []
    for megabytes in [*PREFIX_MB, len(data) / 1e6]:
        cut = min(len(data), int(megabytes * 1e6))
        cut = data.rfind(b"\n", 0, cut) + 1 if cut < len(data) else cut
        prefix = work / "prefix.txt"
        prefix.write_bytes(data[:cut])
        counts = count_pre_tokens(prefix, normalizer=None, pre_tokenizer=byte_level_pre_tokenizer("gpt2"),
                                  progress=False)
        point = {"corpus_mb": round(cut / 1e6, 2), **table_size(counts)}
        points.append(point)
        print(f"  {point['corpus_mb']:7.1f} MB: {point['distinct']:>9,} distinct ({point['count_ge_2']:,} seen twice+), "
              f"compact {point['compact_mb']} MB, pickle {point['pickle_mb']} MB, Python {point['python_heap_mb']} MB",
              flush=True)
    fits = {}
    target = 100e9
    for key in ("distinct", "count_ge_2"):
        xs = [math.log(p["corpus_mb"] * 1e6) for p in points[1:]]  # the 1 MB point is left out of the fit
        ys = [math.log(p[key]) for p in points[1:]]
        mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
        beta = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sum((x - mean_x) ** 2 for x in xs)
        k = math.exp(mean_y - beta * mean_x)
        fits[key] = {"K": k, "beta": round(beta, 4), "projected_100GB": round(k * target**beta)}
    last = points[-1]
    scale = fits["distinct"]["projected_100GB"] / last["distinct"]
    projection = {
        "distinct": fits["distinct"]["projected_100GB"],
        "count_ge_2": fits["count_ge_2"]["projected_100GB"],
        "compact_gb": round(last["compact_mb"] * scale / 1e3, 2),
        "pickle_gb": round(last["pickle_mb"] * scale / 1e3, 2),
        "python_heap_gb": round(last["python_heap_mb"] * scale / 1e3, 2),
    }
    print(f"  Heaps fit: distinct ~ bytes^{fits['distinct']['beta']}, seen twice+ ~ bytes^{fits['count_ge_2']['beta']}; "
          f"100 GB -> {projection['distinct']:,} distinct ({projection['count_ge_2']:,} seen twice+), "
          f"Python table ~{projection['python_heap_gb']} GB")
    return {"points": points, "fits": fits, "projection_100GB": projection}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=None, help="default: the 10 MB English mix")
    parser.add_argument("--vocab", type=int, default=8000, help="BPE size trained from each count table")
    parser.add_argument("--scaling", action="store_true", help="also measure count-table growth (docs/scaling.md)")
    parser.add_argument("--prune", type=int, default=0, help="also count on Dask with reduce_min_count=N (N > 1)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--child", nargs=3, metavar=("ENGINE", "CORPUS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    corpus = (args.corpus or fixtures_dir() / "corpus" / "corpus_10M.txt").resolve()
    if not corpus.exists():
        raise SystemExit(f"{corpus}: missing; run `make fixtures` (it builds the English corpus)")
    with tempfile.TemporaryDirectory() as folder:
        results: dict[str, Any] = {"compare": compare(corpus, args.vocab, Path(folder), args.prune)}
        if args.scaling:
            print("count-table size by corpus size (single process)", flush=True)
            results["scaling"] = scaling(fixtures_dir() / "corpus" / "corpus_full.txt", Path(folder))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
