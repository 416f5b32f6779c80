"""Sticky-token detection on all-MiniLM-L6-v2: throughput, the cost of a full faithful run, downstream effect.

``throughput``: embeds the real insertion texts of a few tokens (scoring and verification pairs from the
English corpus), reports texts per second, counts the texts a full paper-faithful run must embed (after
de-duplication) and projects its time on this machine.
``downstream``: licence retrieval (``cache/fixtures/legal``: first paragraph -> rest of the licence) clean,
with the report's top sticky tokens inserted, and with as many random OK-category tokens inserted.

``precision``: the same insertion texts embedded in fp32 and in low-precision variants (bf16 weights, bf16
autocast, fp32 with bf16 matmul math, int8 dynamic quantization, bf16 under torch.compile): texts per
second, distance errors, the verification cases whose success flag flips, the rank agreement of sticky
scores, and how much an exactness guard would have to recompute in fp32 (bands of 1, 2, 4 times the
largest measured error). ``speed``: the variants timed round by round on the same texts, so that other
load on the machine hits them alike (ratios within a round). ``isa``: a few texts through one variant;
run it under ``ONEDNN_VERBOSE=1`` to see which kernels (AMX or not) oneDNN picks.
``agreement``: two ``lexkit sticky -o X.json`` reports of the same run in two precisions (fp32 and ``--fast``):
overlap of the shortlists and of the final lists, verification and score differences on shared candidates,
and each run's start-of-run estimate against its measured time.

Measured on the 2-core AMX Xeon (issue #10, 2026-11-24, other jobs running: load 2-5): bf16 matmuls do run
on AMX (``brg_matmul:avx10_1_512_amx``). Against fp32 in the same rounds: bf16 weights 2.1x (2 threads) /
2.8-3.1x (1 thread), bf16 + torch.compile 2.7x / 3.7x, autocast 1.5x, fp32 with bf16 matmul math 0.7x,
int8 dynamic about 1x (and 0.02 cosine error). bf16 errors: cosine distance p99 1.8e-3, max 3.0e-3;
0.43 % of verification cases flip; Spearman of 300 sticky scores 0.96. A rigorous score guard must
rescore >99 % of tokens in fp32 even with a band of 1x the largest error; the verification guard
recomputes 8-25 % of cases. A full faithful run needs about 14.6x fp32 to fit in 15 minutes.

``subset`` (issue #17, 2026-12-06, on the project's later machine: an AVX2-only AMD EPYC without native bf16,
2 cores, alone under ``cpu-lock measure``): ``--sample 300 --mu-sample 2000`` (6 candidates, 250 verification
pairs, 239 distinct) took 486 s in fp32 (131.7 texts/s; no token above the final cut); the same command with
``--fast`` (emulated bf16) embedded 20 texts/s (first 64-token batch 392 s vs 58 s: 6.7x slower) and projected
58 more minutes when cpu-lock stopped it at 600 s; its scores of those 64 tokens had a Spearman of 0.34 with
fp32's. So ``--fast`` keeps fp32 on CPUs without native bf16.

Usage:
    python bench/bench_sticky.py throughput [--threads N] [--tokens 24]
    python bench/bench_sticky.py --threads 2 precision [--variants fp32 bf16 ...] [--rank-tokens 300]
    python bench/bench_sticky.py --threads 2 speed [--variants fp32 bf16 ...] [--tokens 20] [--rounds 3]
    ONEDNN_VERBOSE=1 python bench/bench_sticky.py --threads 2 isa --variant bf16
    python bench/bench_sticky.py downstream --report REPORT.json [--top 5] [--insertions 8] [--size 300]
    python bench/bench_sticky.py agreement FP32.json FAST.json
    python bench/bench_sticky.py --threads 2 subset [--sample 300] [--mu-sample 2000] [--out DIR] [--only fp32|fast]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fixtures_dir  # noqa: E402

logger = logging.getLogger("bench_sticky")


def _setup(threads: int | None, *, with_sentences: bool = True):
    from lexkit.analysis.sticky import StickyConfig, StickyTokenDetector, split_sentences
    from lexkit.embedders import TransformersEmbedder
    from lexkit.tokenizer import Tokenizer

    embedder = TransformersEmbedder(fixtures_dir() / "minilm", threads=threads)
    detector = StickyTokenDetector(embedder, Tokenizer.load(embedder.tokenizer_file), StickyConfig(),
                                   raw_vocab=embedder.base_vocab_strings(), progress=False)
    if not with_sentences:
        return embedder, detector, []
    with open(fixtures_dir() / "corpus" / "corpus_10M.txt", encoding="utf-8") as handle:
        sentences = split_sentences(handle.read(5_000_000))
    return embedder, detector, sentences


def throughput(args: argparse.Namespace) -> dict[str, float]:
    """Measure insertion-text throughput and project the full faithful run."""
    embedder, detector, sentences = _setup(args.threads)
    clock = time.perf_counter()
    mean = detector.mean_similarity().mean
    mu_seconds = time.perf_counter() - clock
    pairs = detector.select_pairs(mean=mean, sentences=sentences, source="corpus_10M.txt")
    tokens = detector.scorable_tokens()
    step = max(1, len(tokens) // args.tokens)
    sample = tokens[::step][:args.tokens]
    before = detector.texts_embedded["score"]
    clock = time.perf_counter()
    detector.score(sample, pairs.scoring)
    score_rate = (detector.texts_embedded["score"] - before) / (time.perf_counter() - clock)
    before = detector.texts_embedded["verify"]
    clock = time.perf_counter()
    detector.verify(sample[:3], pairs.verification)
    verify_texts = (detector.texts_embedded["verify"] - before) / 3
    verify_rate = verify_texts * 3 / (time.perf_counter() - clock)
    candidates = round(len(tokens) * 0.02)
    score_texts = len(tokens) * (5 * 3 * 8 + 1)
    result = {
        "scorable_tokens": len(tokens), "mu_seconds": round(mu_seconds, 1),
        "score_texts_per_s": round(score_rate, 1), "verify_texts_per_s": round(verify_rate, 1),
        "full_score_texts": score_texts, "full_verify_texts": round(candidates * verify_texts),
        "distinct_verification_pairs": len(set(pairs.verification)),
        "projected_full_run_h": round((mu_seconds + score_texts / score_rate
                                       + candidates * verify_texts / verify_rate) / 3600, 2),
    }
    print(json.dumps(result, indent=2))
    return result


def downstream(args: argparse.Namespace) -> None:
    """Run the licence retrieval check with the report's sticky tokens against random OK tokens."""
    from lexkit.analysis.sticky import Category
    from lexkit.analysis.sticky.downstream import downstream_check, licence_retrieval_task

    embedder, detector, _ = _setup(args.threads)
    report = json.loads(Path(args.report).read_text(encoding="utf-8"))
    ranked = report["final"] or report["candidates"]
    sticky = [entry["token"] for entry in ranked[:args.top]]
    pool = [t.text for t in detector.categorize_tokens().values() if t.category is Category.OK]
    task = licence_retrieval_task(fixtures_dir() / "legal" / "licenses", size=args.size)
    for target in ("queries", "documents"):
        result = downstream_check(embedder, task, sticky, pool, insertions=args.insertions, target=target)
        print(result.markdown())


# ------------------------------------------------------------------------------------------------------------
# precision: fp32 against low-precision forward passes on the real insertion texts
VARIANTS = ("fp32", "fp32-bf16math", "bf16", "autocast", "int8", "int8-onednn", "bf16-big", "bf16-compile")


def _variant(embedder, name: str):
    """A copy of ``embedder`` whose forward pass runs in the precision ``name`` (the bench's variants)."""
    import copy
    from contextlib import nullcontext

    import torch

    from lexkit.embedders import _pool

    if name == "fp32":
        return embedder
    variant = copy.copy(embedder)
    model, context = embedder._model, nullcontext
    if name in ("bf16", "bf16-big"):
        model = copy.deepcopy(model).to(torch.bfloat16)
        if name == "bf16-big":
            variant.batch_tokens, variant.max_batch = 65536, 2048
    elif name == "bf16-compile":
        import torch._inductor.config as inductor

        inductor.freezing = True  # constant weights: oneDNN weight prepacking
        model = torch.compile(copy.deepcopy(model).to(torch.bfloat16), dynamic=True)
    elif name == "autocast":
        def context():
            return torch.autocast("cpu", dtype=torch.bfloat16)
    elif name == "fp32-bf16math":
        def context():
            return torch.backends.mkldnn.flags(enabled=True, fp32_precision="bf16")
    elif name.startswith("int8"):
        torch.backends.quantized.engine = "onednn" if name == "int8-onednn" else "x86"
        model = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)
    else:
        raise SystemExit(f"unknown variant {name!r}; choose from {', '.join(VARIANTS)}")

    def forward(batch, torch_module, _model=None):
        if name.startswith("int8"):
            torch.backends.quantized.engine = "onednn" if name == "int8-onednn" else "x86"
        width = max(len(seq) for seq in batch)
        input_ids = torch.full((len(batch), width), variant._pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, seq in enumerate(batch):
            input_ids[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, :len(seq)] = 1
        with context():
            states = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        pooled = _pool(states.float(), mask, variant.settings.pooling, torch)
        if variant.settings.normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled.numpy()

    variant._forward = forward
    return variant


def _texts_for(detector, tokens, pairs, stage: str):
    """Insertion texts of ``tokens`` on ``pairs`` (per-token seeds), de-duplicated, with their pair index and
    slots ``(T, P, M, K)`` into the text list."""
    import random

    import numpy as np

    from lexkit.analysis.sticky import MODES, draw_positions, insertion_texts

    k = detector.config.insertions
    index: dict[tuple[str, str], int] = {}  # (s1, text): the same text may meet different s1
    anchor: list[int] = []
    slots = np.empty((len(tokens), len(pairs), len(MODES), k), dtype=np.int64)
    for t, token in enumerate(tokens):
        rng = random.Random(f"{detector.config.seed}/{stage}/{token.token_id}")
        for p, pair in enumerate(pairs):
            texts = insertion_texts(token.text, pair.s2, draw_positions(rng, pair.s2, k),
                                    separator=detector.config.insertion_separator)
            for m, mode in enumerate(MODES):
                for j, text in enumerate(texts[mode]):
                    if (pair.s1, text) not in index:
                        index[pair.s1, text] = len(index)
                        anchor.append(p)
                    slots[t, p, m, j] = index[pair.s1, text]
    return [text for _, text in index], np.asarray(anchor), slots


def _timed_encode(embedder, ids) -> tuple[Any, float, float]:
    import os

    clock = time.perf_counter()
    vectors = embedder.encode_ids(ids)
    return vectors, time.perf_counter() - clock, os.getloadavg()[0]


def _quantiles(values, qs=(50, 99, 99.9, 100)) -> dict[str, float]:
    import numpy as np

    return {f"p{q:g}" if q < 100 else "max": float(f"{np.percentile(values, q):.3g}") for q in qs}


def precision(args: argparse.Namespace) -> None:
    """Throughput and accuracy of low-precision forward passes against fp32 on real detector texts."""
    import numpy as np
    from scipy.stats import spearmanr

    from lexkit.analysis.sticky import SCORE_CONSTANTS, distances, pair_mode_scores

    if args.variants[0] != "fp32":
        raise SystemExit("--variants must start with fp32, the reference")
    embedder, detector, sentences = _setup(args.threads)
    clock = time.perf_counter()
    mean = args.mean if args.mean is not None else detector.mean_similarity().mean
    logger.warning("mu=%.6f (%.0fs)", mean, time.perf_counter() - clock)
    pairs = detector.select_pairs(mean=mean, sentences=sentences, source="corpus_10M.txt")
    tokens = detector.scorable_tokens()
    ranked = tokens[::max(1, len(tokens) // args.rank_tokens)][:args.rank_tokens]
    speed = ranked[:args.speed_tokens]
    baseline_texts = sorted({p.s1 for p in pairs.scoring + pairs.verification}
                            | {p.s2 for p in pairs.scoring + pairs.verification})
    lookup = dict(zip(baseline_texts, embedder.encode(baseline_texts)))

    def anchors(pair_list):
        s1 = np.stack([lookup[p.s1] for p in pair_list])
        return s1, distances(s1, np.stack([lookup[p.s2] for p in pair_list]))

    score_s1, score_d0 = anchors(pairs.scoring)
    verify_s1, verify_d0 = anchors(pairs.verification)
    alone = embedder.encode([t.text for t in ranked])
    token_distance = distances(score_s1[None], alone[:, None])  # (T, P) per metric
    score_texts, score_anchor, score_slots = _texts_for(detector, ranked, pairs.scoring, "score")
    score_ids = embedder.token_ids(score_texts)
    speed_count = int(score_slots[:len(speed)].max()) + 1  # texts are numbered in token order
    lengths = [len(s) for s in score_ids]
    logger.warning("%d scoring texts (%d for speed), mean length %.1f tokens", len(score_texts), speed_count,
                   float(np.mean(lengths)))

    def scores(vectors):
        d = distances(score_s1[score_anchor], vectors)
        out = {}
        for metric, (alpha, beta, gamma) in SCORE_CONSTANTS.items():
            per_mode = pair_mode_scores(score_d0[metric][None, :, None], d[metric][score_slots],
                                        token_distance[metric][:, :, None], alpha=alpha, beta=beta, gamma=gamma)
            out[metric] = (per_mode * np.asarray(detector.config.score_weights)).sum(-1).mean(-1)
        return out, d

    results: dict[str, dict] = {}
    reference: dict[str, object] = {}
    for name in args.variants:
        variant = _variant(embedder, name)
        variant.encode_ids(score_ids[:256])  # warm-up: oneDNN primitive creation, weight packing
        row: dict[str, object] = {"variant": name}
        vectors, seconds, load = _timed_encode(variant, score_ids[:speed_count])
        row.update(speed_texts=speed_count, texts_per_s=round(speed_count / seconds, 1), load=round(load, 2))
        if args.rank_tokens > args.speed_tokens and (name == "fp32" or name in args.rank_variants):
            rest, more_seconds, _ = _timed_encode(variant, score_ids[speed_count:])
            vectors = np.concatenate([vectors, rest])
            row["all_score_texts_per_s"] = round(len(score_ids) / (seconds + more_seconds), 1)
            values, d = scores(vectors)
            if name == "fp32":
                reference["score"], reference["d"] = values, d
            else:
                fp32_values, fp32_d = reference["score"], reference["d"]
                row["distance_error"] = {m: _quantiles(np.abs(d[m] - fp32_d[m])) for m in d}
                row["score_rank"] = _rank_agreement(fp32_values["cos"], values["cos"], spearmanr)
                row["score_rel_error"] = _quantiles(np.abs(values["cos"] - fp32_values["cos"])
                                                    / np.abs(fp32_values["cos"]))
                row["score_guard"] = {}
                for factor in args.guard_factors:
                    eps = factor * float(np.abs(d["cos"] - fp32_d["cos"]).max())
                    alpha, beta, gamma = SCORE_CONSTANTS["cos"]
                    lo, hi = _score_bounds(score_d0["cos"][None, :, None], d["cos"][score_slots],
                                           token_distance["cos"][:, :, None], eps, alpha=alpha, beta=beta,
                                           gamma=gamma)
                    weights = np.asarray(detector.config.score_weights)
                    lo, hi = (lo * weights).sum(-1).mean(-1), (hi * weights).sum(-1).mean(-1)
                    assert np.all(lo <= fp32_values["cos"] + 1e-9) and np.all(fp32_values["cos"] <= hi + 1e-9)
                    floor = np.sort(lo)[int(np.floor(0.98 * (len(lo) - 1))) - 1]
                    row["score_guard"][f"band_{factor:g}x_max_error"] = {
                        "band": float(f"{eps:.3g}"), "rescored_share": float(f"{np.mean(hi >= floor):.4g}")}
        elif name != "fp32":
            fp32_d = reference["d"]
            d = distances(score_s1[score_anchor[:speed_count]], vectors)
            row["distance_error"] = {m: _quantiles(np.abs(d[m] - fp32_d[m][:speed_count])) for m in d}
        results[name] = row
        print(json.dumps(row), flush=True)

    # verification cases of the highest-scoring and some random tokens of the sample
    top = np.argsort(-reference["score"]["cos"])[:args.verify_tokens // 2]
    rest = [i for i in range(len(ranked)) if i not in set(top)][::max(1, len(ranked) // args.verify_tokens)]
    picked = [ranked[i] for i in list(top) + rest[:args.verify_tokens - len(top)]]
    verify_texts, verify_anchor, verify_slots = _texts_for(detector, picked, pairs.verification, "verify")
    verify_ids = embedder.token_ids(verify_texts)
    logger.warning("%d verification texts for %d tokens", len(verify_texts), len(picked))
    margins: dict[str, dict] = {}
    for name in ["fp32"] + [v for v in args.rank_variants if v != "fp32"]:
        variant = _variant(embedder, name)
        variant.encode_ids(verify_ids[:256])
        vectors, seconds, load = _timed_encode(variant, verify_ids)
        d = distances(verify_s1[verify_anchor], vectors)
        margins[name] = {m: d[m][verify_slots].mean(-1) - verify_d0[m][None, :, None] for m in d}  # (T, P, M)
        row = {"variant": name, "verify_texts_per_s": round(len(verify_ids) / seconds, 1), "load": round(load, 2)}
        if name != "fp32":
            for metric in margins[name]:
                exact, approx = margins["fp32"][metric], margins[name][metric]
                row[f"verify_{metric}"] = {
                    "cases": int(exact.size), "flips": int(((exact < 0) != (approx < 0)).sum()),
                    "margin_error": _quantiles(np.abs(exact - approx)),
                    "abs_margin": _quantiles(np.abs(exact), (0.1, 1, 5, 50)),
                    "share_abs_margin_below": {str(b): float(f"{(np.abs(exact) < b).mean():.4g}")
                                               for b in (1e-3, 3e-3, 1e-2, 3e-2)}}
            row["verify_guard"] = {}
            for factor in args.guard_factors:
                band = {m: factor * float(np.abs(margins[name][m] - margins["fp32"][m]).max())
                        for m in margins[name]}
                near = np.any([np.abs(margins[name][m]) <= band[m] for m in band], axis=0)
                row["verify_guard"][f"band_{factor:g}x_max_error"] = {
                    "band": {m: float(f"{b:.3g}") for m, b in band.items()},
                    "recomputed_share": float(f"{near.mean():.4g}"),
                    "recomputed_share_cos_only": float(f"{(np.abs(margins[name]['cos']) <= band['cos']).mean():.4g}")}
        print(json.dumps(row), flush=True)


def _score_bounds(d0, d, token_distance, band: float, *, alpha: float, beta: float, gamma: float):
    """Bounds ``(lo, hi)`` of the per-(pair, mode) sticky score when each distance of ``d (..., K)`` may be
    off by up to ``band`` (``d0`` and ``token_distance`` exact): step 1 may move by ``band``, later steps by
    ``2 band``, and each step takes the value in its interval that pushes the ratio furthest (for ``hi`` the
    lowest: the largest fall or smallest rise; for ``lo`` the highest). The rigorous form of a guard."""
    import numpy as np

    start = np.broadcast_to(np.asarray(d0)[..., None], (*d.shape[:-1], 1))
    steps = np.diff(np.concatenate([start, d], axis=-1), axis=-1)
    error = np.full(steps.shape[-1], 2.0 * band)
    error[0] = band
    low, high = steps - error, steps + error
    most = np.where(low < 0, alpha - low, 0.0).sum(-1) + alpha * token_distance
    least_rise = np.where(low > 0, low + beta, 0.0).sum(-1) + gamma
    least = np.where(high < 0, alpha - high, 0.0).sum(-1) + alpha * token_distance
    most_rise = np.where(high > 0, high + beta, 0.0).sum(-1) + gamma
    return least / most_rise, most / least_rise


def speed(args: argparse.Namespace) -> None:
    """Texts per second of each variant on the same scoring texts, interleaved round by round so that other
    load on the machine hits every variant alike; ratios are taken within a round."""
    import os

    import numpy as np

    embedder, detector, sentences = _setup(args.threads)
    pairs = detector.select_pairs(mean=args.mean, sentences=sentences, source="corpus_10M.txt")
    tokens = detector.scorable_tokens()
    sample = tokens[::max(1, len(tokens) // args.tokens)][:args.tokens]
    texts, _, _ = _texts_for(detector, sample, pairs.scoring, "score")
    ids = embedder.token_ids(texts)
    print(json.dumps({"texts": len(ids), "mean_tokens": round(float(np.mean([len(i) for i in ids])), 1)}))
    variants = {name: _variant(embedder, name) for name in args.variants}
    for variant in variants.values():
        variant.encode_ids(ids[:256])
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(args.rounds):
        loads = [os.getloadavg()[0]]
        for name, variant in variants.items():
            _, seconds, load = _timed_encode(variant, ids)
            rates[name].append(len(ids) / seconds)
            loads.append(load)
        print(json.dumps({"round": round_, "load": [round(x, 2) for x in loads],
                          **{name: round(r[-1], 1) for name, r in rates.items()}}), flush=True)
    base = np.asarray(rates[args.variants[0]])
    for name, values in rates.items():
        ratio = np.asarray(values) / base
        print(json.dumps({"variant": name, "texts_per_s_median": round(float(np.median(values)), 1),
                          "texts_per_s_max": round(float(np.max(values)), 1),
                          "ratio_median": round(float(np.median(ratio)), 2),
                          "ratio_per_round": [round(float(x), 2) for x in ratio]}))


def _rank_agreement(exact, approx, spearmanr) -> dict[str, object]:
    """Spearman of the two score vectors, and the smallest top share of ``approx`` that holds the top 2 % of
    ``exact`` (the shortlist)."""
    import numpy as np

    n = len(exact)
    top = set(np.argsort(-exact)[:max(1, round(0.02 * n))].tolist())
    order = np.argsort(-approx).tolist()
    needed = max(order.index(i) for i in top) + 1
    return {"spearman": float(f"{spearmanr(exact, approx).statistic:.5f}"), "tokens": n,
            "top2pct_within_top_share": float(f"{needed / n:.4f}"),
            "top2pct_within_top6pct": needed <= round(0.06 * n)}


def _checkpoint_scores(report_path: Path) -> dict[int, float] | None:
    """Cosine sticky scores of every scored token, from the checkpoint beside a ``lexkit sticky`` report."""
    path = report_path.parent / f"{report_path.stem}.checkpoint" / "scores.jsonl"
    if not path.exists():
        return None
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {int(row["token_id"]): float(row["cos"]) for row in rows}


def agreement(args: argparse.Namespace) -> dict[str, Any]:
    """Compare two sticky reports of the same run (reference first): lists, scores, values, estimates."""
    from dataclasses import asdict

    from lexkit.analysis.sticky.agreement import compare_runs

    paths = [Path(args.reference), Path(args.other)]
    reference, other = (json.loads(path.read_text(encoding="utf-8")) for path in paths)
    measured = compare_runs(reference, other, reference_scores=_checkpoint_scores(paths[0]),
                            other_scores=_checkpoint_scores(paths[1]))
    result: dict[str, Any] = {
        "precision": [reference.get("precision", "fp32"), other.get("precision", "fp32")],
        "scored": [reference["scored"], other["scored"]],
        "candidates": [len(reference["candidates"]), len(other["candidates"])],
        **asdict(measured),
        "final_tokens": [[e["token"] for e in reference["final"]], [e["token"] for e in other["final"]]],
        "mu": [reference["mean_similarity"]["mean"], other["mean_similarity"]["mean"]],
        "cut": [reference["cut"]["cut"], other["cut"]["cut"]],
        "speedup": round(measured.seconds[0] / measured.seconds[1], 2),
    }
    for name, report in (("reference", reference), ("other", other)):
        estimate, timings = report.get("estimate") or {}, report["timings"]
        if estimate:
            result[f"{name}_estimate_vs_measured_s"] = [
                round(estimate["elapsed"] + estimate["seconds_left"], 1), timings["total"]]
        result[f"{name}_seconds"] = timings
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return result


def subset(args: argparse.Namespace) -> None:
    """Run ``lexkit sticky`` on a token subset of all-MiniLM-L6-v2 in fp32 and with ``--fast`` (same command
    otherwise; wall time of each whole command), then compare the two reports (`agreement`)."""
    import subprocess

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lexkit = str(Path(sys.executable).with_name("lexkit"))
    base = [lexkit, "sticky", "--model", str(fixtures_dir() / "minilm"),
            "--corpus", str(fixtures_dir() / "corpus" / "corpus_10M.txt"), "--corpus-bytes", str(args.corpus_bytes),
            "--sample", str(args.sample), "--mu-sample", str(args.mu_sample), "--no-progress",
            *(["--threads", str(args.threads)] if args.threads else [])]
    walls = {}
    for name, extra in (("fp32", []), ("fast", ["--fast"])):
        if args.only and name != args.only:
            continue
        report = out / f"{name}.json"
        for stale in (report, out / f"{name}.checkpoint" / "scores.jsonl",
                      out / f"{name}.checkpoint" / "verification.jsonl"):
            stale.unlink(missing_ok=True)  # a fresh run, not a resumed one
        command = [*base, *extra, "-o", str(report)]
        print("$ " + " ".join(command), flush=True)
        clock = time.perf_counter()
        subprocess.run(command, check=True)
        walls[name] = round(time.perf_counter() - clock, 1)
    print(json.dumps({"command_wall_s": walls}), flush=True)
    if (out / "fp32.json").exists() and (out / "fast.json").exists():
        agreement(argparse.Namespace(reference=out / "fp32.json", other=out / "fast.json"))


def isa(args: argparse.Namespace) -> None:
    """Encode a few texts with one variant (run under ONEDNN_VERBOSE=1 to see the kernels oneDNN picks)."""
    embedder, _, _ = _setup(args.threads, with_sentences=False)
    variant = _variant(embedder, args.variant)
    variant.encode(["the quick brown fox jumps over the lazy dog " * 3] * 64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (1 on a busy machine)")
    sub = parser.add_subparsers(dest="command", required=True)
    rate = sub.add_parser("throughput")
    rate.add_argument("--tokens", type=int, default=24, help="tokens to score for the measurement")
    effect = sub.add_parser("downstream")
    effect.add_argument("--report", required=True, help="a `lexkit sticky -o REPORT.json` report")
    effect.add_argument("--top", type=int, default=5, help="sticky tokens to insert")
    effect.add_argument("--insertions", type=int, default=8, help="tokens inserted per text")
    effect.add_argument("--size", type=int, default=300, help="licences in the task")
    accuracy = sub.add_parser("precision")
    accuracy.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS,
                          help="forward passes to time (fp32 first: it is the reference)")
    accuracy.add_argument("--rank-variants", nargs="*", default=["bf16"], choices=VARIANTS,
                          help="variants also run on all rank tokens and the verification cases")
    accuracy.add_argument("--rank-tokens", type=int, default=300, help="tokens for the score rank agreement")
    accuracy.add_argument("--speed-tokens", type=int, default=40, help="tokens whose scoring texts are timed")
    accuracy.add_argument("--verify-tokens", type=int, default=4, help="tokens for the verification cases")
    accuracy.add_argument("--guard-factors", type=float, nargs="+", default=[1.0, 2.0, 4.0],
                          help="guard bands to evaluate, as multiples of the largest measured error")
    accuracy.add_argument("--mean", type=float, default=None, help="mu, if known (skips step 0)")
    timing = sub.add_parser("speed")
    timing.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    timing.add_argument("--tokens", type=int, default=20, help="tokens whose scoring texts are timed")
    timing.add_argument("--rounds", type=int, default=3)
    timing.add_argument("--mean", type=float, default=0.199845, help="mu (all-MiniLM-L6-v2: 0.199845)")
    compare = sub.add_parser("agreement")
    compare.add_argument("reference", help="the fp32 report (lexkit sticky -o X.json)")
    compare.add_argument("other", help="the report of the same run with --fast")
    quick = sub.add_parser("subset")
    quick.add_argument("--sample", type=int, default=300, help="scorable tokens (lexkit sticky --sample)")
    quick.add_argument("--mu-sample", type=int, default=2000, help="vocabulary strings for mu (--mu-sample)")
    quick.add_argument("--corpus-bytes", type=int, default=1_000_000, help="bytes of corpus_10M.txt for sentences")
    quick.add_argument("--out", default="bench-sticky-subset", help="folder for the two reports")
    quick.add_argument("--only", choices=("fp32", "fast"), default=None,
                       help="run one half (each takes about 8 min at --sample 300 on 2 cores, and cpu-lock stops a "
                            "command after 10); the comparison runs once both reports are in --out")
    kernels = sub.add_parser("isa")
    kernels.add_argument("--variant", default="bf16", choices=VARIANTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    {"throughput": throughput, "downstream": downstream, "precision": precision, "speed": speed,
     "isa": isa, "agreement": agreement, "subset": subset}[args.command](args)


if __name__ == "__main__":
    main()
