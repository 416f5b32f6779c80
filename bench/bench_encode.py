"""Encoding throughput: lexkit vs fastokens, tiktoken, sentencepiece and HF ``tokenizers``, each at its best use.

Every tokenizer runs on the same text (default: 10 MB of ``corpus_10M.txt``) in one process, contenders
alternating round by round, and the table gives MB/s (median of ``--repeat`` rounds) with two ratios per
tokenizer: lexkit's best form to the fastest other engine, and to HF ``encode_batch`` on the lines. lexkit is
timed with its default special-token scan and without it (``disallowed_special=()``, what every peer does).
Each contender gets its best ordinary use: batches of 2,000-line chunks (one string per chunk) for every engine
that parallelises, tiktoken also as a plain loop of ``encode_ordinary`` (its per-item thread overhead
dominates on single lines), ids as Python lists and, where the engine offers it, as one flat buffer.
Before timing, lexkit's ids are checked equal to HF's on the first 2,000 lines of every tokenizer, and every
other contender's ids are compared with lexkit's on the first chunk: one that differs (the plain BPE file of a
Scaffold-BPE or LBPE vocabulary, which is what a user without lexkit would run) is shown with
``[other ids: no peer]`` and is never the peer, but its HF ``encode_batch(lines)`` row is still the HF ratio's base.
tiktoken runs the published encodings (cl100k, o200k, Qwen2.5's ranks, GPT-2's Whisper ranks), Llama-3 as an
``Encoding`` of its ``tokenizer.json`` ranks and regex, and a lexkit-trained folder through `to_tiktoken_encoding`.

Lexkit-trained vocabularies join with ``--trained NAME=DIR`` (a ``lexkit train`` output folder), e.g. the three 32k
vocabularies of the README table::

    lexkit train bpe -n 32768 -o out/bpe-32k cache/fixtures/corpus/corpus_10M.txt    # and scaffold-bpe, lbpe
    python bench/bench_encode.py --mb 5 --repeat 3 --trained bpe-32k=out/bpe-32k \
        --trained scaffold-bpe-32k=out/scaffold-bpe-32k --trained lbpe-32k=out/lbpe-32k

Usage: python bench/bench_encode.py [--mb 10] [--repeat 3] [--trained NAME=DIR ...] [--only gpt2,...] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _common import fixtures_dir, load_text  # noqa: E402

CHUNK_LINES = 2000
ORDINARY = "lexkit encode_batch_flat(chunks, disallowed_special=())"
#: Contenders faster than this (seconds) run once untimed right before each timed run.
WARM_BELOW_S = 1.0
#: Marks a contender that runs the exported plain-BPE tokenizer.json, not lexkit's encoder: shown, not a peer.
OTHER_IDS = "[other ids: no peer]"


@dataclass
class Case:
    """One tokenizer: how lexkit loads it, and which other engines can run it."""

    name: str
    load: Callable[[], Any]
    tiktoken: Callable[[], Any] | None = None
    sentencepiece: Path | None = None
    trained: bool = False


def _cases(trained: dict[str, Path]) -> list[Case]:
    import _resources

    from lexkit import Tokenizer
    from lexkit.formats.hf import from_hf
    from lexkit.formats.sentencepiece import from_sentencepiece
    from lexkit.formats.tiktoken import from_tiktoken

    cases = [
        Case("gpt2", lambda: Tokenizer(from_hf(_resources.gpt2_tokenizer_json())), _resources.gpt2_tiktoken),
        Case("cl100k_base", lambda: Tokenizer(from_tiktoken(_resources.tiktoken_encoding("cl100k_base"))),
             lambda: _resources.tiktoken_encoding("cl100k_base")),
        Case("o200k_base", lambda: Tokenizer(from_tiktoken(_resources.tiktoken_encoding("o200k_base"))),
             lambda: _resources.tiktoken_encoding("o200k_base")),
        Case("llama3", lambda: Tokenizer(from_hf(_resources.llama3_tokenizer_json())), _llama3_tiktoken),
        Case("qwen2.5", lambda: Tokenizer(from_tiktoken(_resources.qwen_tiktoken("qwen2.5"))),
             lambda: _resources.qwen_tiktoken("qwen2.5")),
        Case("mistral-v1 (sentencepiece)", lambda: Tokenizer(from_sentencepiece(_resources.mistral_sp_model())),
             sentencepiece=_resources.mistral_sp_model()),
        Case("bert-minilm (wordpiece)", lambda: Tokenizer(from_hf(_resources.minilm_dir() / "tokenizer.json"))),
    ]
    for name, folder in trained.items():
        cases.append(Case(name, lambda folder=folder: Tokenizer.load(folder), trained=True))
    return cases


def _llama3_tiktoken() -> Any:
    """Llama-3 as a tiktoken Encoding: the ids of ``tokenizer.json``'s byte-level vocabulary as ranks and its
    ``Split`` regex (what `scripts/check_encode_parity.py` compares against; the test suite builds the same)."""
    import _resources
    import tiktoken

    from lexkit.formats.surface import decode_surface

    data = json.loads(_resources.llama3_tokenizer_json().read_text(encoding="utf-8"))
    pattern = data["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"]
    ranks = {decode_surface(piece): rank for piece, rank in data["model"]["vocab"].items()}
    return tiktoken.Encoding("llama3", pat_str=pattern, mergeable_ranks=ranks, special_tokens={})


#: name -> (timed call, ids of some texts or None): the second compares a foreign contender's ids with lexkit's.
Contenders = dict[str, tuple[Callable[[], object], Callable[[list[str]], list[list[int]]] | None]]


def _contenders(case: Case, tok: Any, lines: list[str], chunks: list[str]) -> Contenders:
    import fastokens

    from lexkit.encoders import HFEncoder
    from lexkit.formats import hf as hf_format

    encoder = tok.encoder
    out: Contenders = {
        "lexkit encode_batch(chunks)": (lambda: tok.encode_batch(chunks), None),
        "lexkit encode_batch_flat(chunks)": (lambda: tok.encode_batch_flat(chunks), None),
        # What the peers do: no scan for special-token text (tiktoken's encode_ordinary, raw fastokens).
        ORDINARY: (lambda: tok.encode_batch_flat(chunks, disallowed_special=()), None),
        "lexkit encode_batch(lines)": (lambda: tok.encode_batch(lines), None),
    }
    if isinstance(encoder, HFEncoder):  # the same tokenizer.json lexkit runs (specials removed)
        hf_json, hf = encoder.hf_json(), encoder.backend
    else:  # e.g. an LBPE reading: the vocabulary's plain BPE file, what a user without lexkit would run
        from tokenizers import Tokenizer as HFTokenizer

        hf_json = hf_format.to_hf(tok.vocabulary, allow_lossy=True)
        hf = HFTokenizer.from_str(json.dumps(hf_json, ensure_ascii=False))
    try:
        fast = fastokens.Tokenizer.from_json_str(json.dumps(hf_json, ensure_ascii=False))
    except Exception as exc:  # noqa: BLE001 - a tokenizer fastokens cannot load is reported, not fatal
        print(f"  fastokens cannot load {case.name}: {str(exc).splitlines()[0][:100]}")
    else:
        fast_ids = lambda texts: [e.ids for e in fast.encode_batch(texts)]  # noqa: E731
        out["fastokens encode_batch(chunks)"] = (lambda: fast_ids(chunks), fast_ids)
        out["fastokens encode_batch_flat(chunks)"] = (lambda: fast.encode_batch_flat(chunks), fast_ids)
    hf_ids = lambda texts: [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]  # noqa: E731
    out["HF encode_batch(lines)"] = (lambda: hf_ids(lines), hf_ids)
    out["HF encode_batch(chunks)"] = (lambda: hf_ids(chunks), hf_ids)
    tik = case.tiktoken() if case.tiktoken is not None else _trained_tiktoken(case, tok)
    if tik is not None:
        out["tiktoken loop encode_ordinary(chunk)"] = (lambda: [tik.encode_ordinary(c) for c in chunks],
                                                       lambda texts: [tik.encode_ordinary(t) for t in texts])
        out["tiktoken encode_ordinary_batch(chunks)"] = (
            lambda: tik.encode_ordinary_batch(chunks, num_threads=os.cpu_count() or 1),
            lambda texts: tik.encode_ordinary_batch(texts))
    if case.sentencepiece is not None:
        import sentencepiece as spm

        processor = spm.SentencePieceProcessor(model_file=str(case.sentencepiece))
        out["sentencepiece encode(chunks)"] = (
            lambda: processor.encode(chunks, num_threads=os.cpu_count() or 1), lambda texts: processor.encode(texts))
    return out


def _trained_tiktoken(case: Case, tok: Any) -> Any:
    """A lexkit-trained byte-level vocabulary as a tiktoken Encoding (None when its pipeline cannot be one)."""
    from lexkit.errors import LexkitError
    from lexkit.formats.tiktoken import to_tiktoken_encoding

    if not case.trained:
        return None
    try:
        return to_tiktoken_encoding(tok.vocabulary, allow_lossy=True)
    except LexkitError as exc:
        print(f"  tiktoken cannot load {case.name}: {str(exc).splitlines()[0][:100]}")
        return None


def _check(case: Case, tok: Any, lines: list[str]) -> bool:
    """Whether lexkit's ids equal HF's on the exported tokenizer.json (False for Scaffold-BPE's demolition)."""
    from lexkit.encoders import HFEncoder

    sample = lines[:CHUNK_LINES]
    if not isinstance(tok.encoder, HFEncoder):
        return False
    reference = [e.ids for e in tok.encoder.backend.encode_batch(sample, add_special_tokens=False)]
    same = tok.encode_batch(sample) == reference
    assert same or hasattr(tok.encoder, "demolish"), f"{case.name}: lexkit and HF disagree; nothing to compare"
    return same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=None, help="text file (default: corpus_10M.txt fixture)")
    parser.add_argument("--mb", type=float, default=10.0, help="megabytes of text to encode")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--trained", action="append", default=[], metavar="NAME=DIR",
                        help="also time a lexkit-trained tokenizer folder (e.g. bpe-32k=out/bpe32k)")
    parser.add_argument("--only", default="", help="comma-separated tokenizer names to run (default: all)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    fixtures_dir()

    lines = load_text(args.corpus, args.mb)
    chunks = ["".join(lines[i:i + CHUNK_LINES]) for i in range(0, len(lines), CHUNK_LINES)]
    megabytes = sum(len(line.encode("utf-8")) for line in lines) / 1e6
    trained = {spec.split("=", 1)[0]: Path(spec.split("=", 1)[1]) for spec in args.trained}
    only = set(filter(None, args.only.split(",")))
    print(f"{megabytes:.1f} MB in {len(lines)} lines ({len(chunks)} chunks of {CHUNK_LINES}), median of "
          f"{args.repeat} rounds, {os.cpu_count()} cores")
    report: dict[str, Any] = {"megabytes": megabytes, "lines": len(lines), "tokenizers": {}}
    summary = []
    for case in _cases(trained):
        if only and case.name not in only:
            continue
        tok = case.load()
        tok.encode("warm up")
        same_ids = _check(case, tok, lines)
        probed = _contenders(case, tok, lines, chunks)
        # e.g. Scaffold-BPE or LBPE: the plain BPE file other engines run gives other ids than lexkit's encoder
        expected = tok.encode_batch(chunks[:1], disallowed_special=())
        contenders = {(name if probe is None or probe(chunks[:1]) == expected else f"{name} {OTHER_IDS}"): run
                      for name, (run, probe) in probed.items()}
        print(f"  {case.name}: lexkit = HF on {CHUNK_LINES} lines: {same_ids}; other ids: "
              f"{[name for name in contenders if name.endswith(OTHER_IDS)] or 'none'}")
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(args.repeat):  # alternate so machine drift hits every contender alike
            for name, run in contenders.items():
                # subtle: fastokens keeps each thread's pre-token cache for one tokenizer instance only, so the
                # first call after another instance ran (lexkit's engine vs the raw fastokens contender) runs
                # cold; a warm-up call right before the timed one gives every contender the same state.
                if not times[name] or min(times[name]) < WARM_BELOW_S:
                    run()
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
        speeds = {name: megabytes / statistics.median(t) for name, t in times.items()}
        engine = getattr(tok.encoder, "engine", None)
        segmenter = getattr(tok.encoder, "segmenter", None)  # the LBPE readings: lexkit._lbpe's C kernel
        runner = engine.name if engine else "lbpe-kernel" if segmenter is not None and segmenter.compiled else "python"
        print(f"\n{case.name} (encoder {tok.encoder_name!r}, engine {runner})")
        for name, speed in speeds.items():
            print(f"  {name:<42} {speed:>9.2f} MB/s")
        ours = max(v for k, v in speeds.items() if k.startswith("lexkit"))
        peers = {k: v for k, v in speeds.items() if not k.startswith("lexkit") and not k.endswith(OTHER_IDS)}
        best_peer = max(peers, key=peers.__getitem__) if peers else None
        hf = speeds.get("HF encode_batch(lines)") or speeds.get(f"HF encode_batch(lines) {OTHER_IDS}")
        checked = max(v for k, v in speeds.items() if k.startswith("lexkit") and k != ORDINARY)
        row = {"lexkit_best_mb_s": ours, "fastest_peer": best_peer, "lexkit_checked_mb_s": checked,
               "vs_fastest_peer": ours / peers[best_peer] if best_peer else None,
               "checked_vs_fastest_peer": checked / peers[best_peer] if best_peer else None,
               "vs_hf_encode_batch": ours / hf if hf else None, "mb_per_s": speeds,
               "engine": runner}
        report["tokenizers"][case.name] = row
        summary.append((case.name, row))
    print("\nlexkit best: any lexkit form; checked: the best form that scans for special-token text (the default)")
    print(f"{'tokenizer':<28} {'lexkit best':>11} {'checked':>8} {'fastest peer':>44} {'best/peer':>9} "
          f"{'checked/peer':>12} {'best/HF':>8}")
    for name, row in summary:
        peer = row["fastest_peer"]
        peer_text = f"{peer} {row['mb_per_s'][peer]:.1f}" if peer else "-"
        ratio = f"{row['vs_fastest_peer']:.2f}x" if row["vs_fastest_peer"] else "-"
        checked_ratio = f"{row['checked_vs_fastest_peer']:.2f}x" if row["checked_vs_fastest_peer"] else "-"
        hf_ratio = f"{row['vs_hf_encode_batch']:.1f}x" if row["vs_hf_encode_batch"] else "-"
        print(f"{name:<28} {row['lexkit_best_mb_s']:>11.1f} {row['lexkit_checked_mb_s']:>8.1f} {peer_text:>44} "
              f"{ratio:>9} {checked_ratio:>12} {hf_ratio:>8}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
