"""Byte-level sampling: exactness on a Markov source, and SmolLM2-135M measurements on this machine.

Parts (``--part``, default all):
- ``markov``: max |lexkit - truth| of next-byte probabilities and the naive estimator's bias, over every prefix of an
  order-2 Markov source tokenized by the toy BPE, toy MPE, and GPT-2's real vocabulary over {a, b, space}.
- ``gap``: byte-level prefix log-probability of real text (sum over covers) vs its canonical encoding's.
- ``midtoken``: next-byte distributions after prompts that end mid-token (exact vs naive).
- ``speed``: greedy generation, bytes/s and model calls per byte.
- ``table``: CPython stdlib lines cut mid-identifier: P(true next byte) and P(true next 4 bytes) under the exact
  method, naive prompting and token healing.
- ``sentencepiece``: max |lexkit - truth| over every byte prefix of a source tokenized by Mistral v1's real
  SentencePiece model (byte fallback, dummy prefix), and the naive estimator's bias there.
- ``ensemble-markov``: max |ensemble - truth| for product and mixture ensembles of exact members with different
  tokenizers (two toy BPEs; GPT-2 byte-level BPE with Mistral SentencePiece) of one Markov source.
- ``ensemble``: SmolLM2-135M (its own byte-level BPE) with the same weights transplanted to GPT-2's tokenizer
  (``--ensemble-model``, made by ``lexkit.transfer.transplant(..., method="heuristic")``): bits per byte of each
  member and of product / mixture ensembles on short held-out texts, and ensemble generation speed.
Usage: python bench/bench_sampling.py [--part markov gap midtoken speed table sentencepiece ensemble-markov ensemble]
       [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, fixtures_dir  # noqa: E402

from lexkit import Tokenizer  # noqa: E402
from lexkit.sampling import EOS, ByteEnsemble, ByteSampler, TokenizerAdapter, load_byte_sampler  # noqa: E402
from lexkit.sampling._oracles import (  # noqa: E402
    TOY_EOS,
    TOY_TOKENS,
    OracleLM,
    markov_strings,
    markov_texts,
    naive_next_byte,
    next_byte_truth,
    rank_bpe,
    toy_bpe,
    toy_mpe,
)

PARTS = ("markov", "gap", "midtoken", "speed", "table", "sentencepiece", "ensemble-markov", "ensemble")
MODEL_PARTS = {"gap", "midtoken", "speed", "table", "ensemble"}


def _show(b: int) -> str:
    return "EOS" if b == EOS else repr(bytes([b]))[1:]


def markov(length_toy: int, length_gpt2: int) -> dict[str, dict[str, float]]:
    """Exactness over every prefix of the source; naive bias as total variation per state."""
    gpt2 = TokenizerAdapter.from_tokenizer(Tokenizer.load(fixtures_dir() / "gpt2" / "tokenizer.json"))
    setups = {
        "toy-bpe": (b"ab", length_toy, TokenizerAdapter(TOY_TOKENS, toy_bpe), TOY_EOS + 1, TOY_EOS),
        "toy-mpe": (b"ab", length_toy, TokenizerAdapter(TOY_TOKENS, toy_mpe), TOY_EOS + 1, TOY_EOS),
        "gpt2-ab_": (b"ab ", length_gpt2, gpt2, len(gpt2), 50256),
    }
    results = {}
    for name, (alphabet, length, adapter, size, eos) in setups.items():
        start = time.perf_counter()
        strings, transition = markov_strings(alphabet, length, order=2, seed=0)
        oracle = OracleLM(strings, adapter.encode, vocab_size=size, eos_id=eos)
        byte_lm = ByteSampler(oracle, adapter)
        worst, tvs, kls, nodes = 0.0, [], [], 0
        stack = [byte_lm.start(b"")]
        while stack:
            state = stack.pop()
            nodes += 1
            truth = np.zeros(EOS + 1)
            if len(state.data) == length:
                truth[EOS] = 1.0
            else:
                truth[list(alphabet)] = transition(state.data)
            exact = np.exp(byte_lm.next_byte_logprobs(state))
            worst = max(worst, float(np.abs(exact - truth).max()))
            if state.data:
                naive = naive_next_byte(oracle, adapter, state.data)
                tvs.append(0.5 * float(np.abs(naive - truth).sum()))
                support = truth > 0
                with np.errstate(divide="ignore"):
                    kls.append(float(np.sum(truth[support] * (np.log(truth[support]) - np.log(naive[support])))))
            if len(state.data) < length:
                stack += [byte_lm.push(state, b) for b in alphabet]
        finite = [k for k in kls if np.isfinite(k)]
        results[name] = {
            "strings": len(strings), "prefixes": nodes, "max_abs_error": worst,
            "naive_tv_max": max(tvs), "naive_tv_mean": float(np.mean(tvs)),
            "naive_kl_mean_finite": float(np.mean(finite)), "naive_kl_infinite_states": len(kls) - len(finite),
            "seconds": time.perf_counter() - start,
        }
        print(f"markov {name}: {results[name]}", flush=True)
    return results


def gap(byte_lm: ByteSampler, texts: list[str]) -> list[dict[str, float]]:
    """log P_bytes(X starts with text) (BTR, sum over covers) minus log P_tok(T starts with encode(text))."""
    out = []
    for text in texts:
        data = text.encode("utf-8")
        byte_lp = byte_lm.logprob(data)
        token_lp = float(byte_lm.lm.next_token_logprobs([byte_lm.adapter.encode(data)])[0][0])
        state = byte_lm.start(data)
        row = {"bytes": len(data), "tokens": len(byte_lm.adapter.encode(data)), "byte_logprob": byte_lp,
               "canonical_logprob": token_lp, "gap_nats": byte_lp - token_lp, "covers": len(byte_lm.covers(state))}
        out.append(row)
        print(f"gap {text[:40]!r}...: {row}", flush=True)
    return out


def midtoken(byte_lm: ByteSampler, prompts: list[str]) -> list[dict[str, object]]:
    """Top next bytes after prompts that end inside a token: exact vs naive."""
    out = []
    for prompt in prompts:
        exact = byte_lm.next_byte_probs(prompt)
        naive = naive_next_byte(byte_lm.lm, byte_lm.adapter, prompt)
        row = {"prompt": prompt,
               "exact_top": [(_show(b), round(float(exact[b]), 4)) for b in np.argsort(-exact)[:5]],
               "naive_top": [(_show(b), round(float(naive[b]), 4)) for b in np.argsort(-naive)[:5]]}
        out.append(row)
        print(f"midtoken {row}", flush=True)
    return out


def speed(byte_lm: ByteSampler, prompt: str, max_bytes: int) -> dict[str, float]:
    """Greedy generation: bytes per second and model calls per byte (the prompt's start excluded)."""
    state = byte_lm.start(prompt)
    calls = byte_lm.lm.forward_calls
    start = time.perf_counter()
    out, unchecked = bytearray(), 0.0
    for _ in range(max_bytes):
        logprobs = byte_lm.next_byte_logprobs(state)
        b = int(np.argmax(logprobs))
        if b == EOS:
            break
        out.append(b)
        state = byte_lm.push(state, b)
        unchecked = max(unchecked, state.unchecked)
    seconds = time.perf_counter() - start
    row = {"bytes": len(out), "seconds": seconds, "bytes_per_s": len(out) / seconds,
           "calls_per_byte": (byte_lm.lm.forward_calls - calls) / max(len(out), 1),
           "max_unchecked_mass": unchecked, "text": out.decode("utf-8", "replace")}
    print(f"speed {row}", flush=True)
    return row


def stdlib_cuts(count: int, seed: int) -> list[tuple[str, str]]:
    """(prompt, true continuation) pairs: a stdlib line cut inside an identifier, with two lines of context."""
    import re
    import sysconfig

    rng = np.random.default_rng(seed)
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    pairs: list[tuple[str, str]] = []
    while len(pairs) < count:
        lines = files[int(rng.integers(len(files)))].read_text(encoding="utf-8", errors="replace").splitlines()
        k = int(rng.integers(2, max(3, len(lines))))
        if k >= len(lines):
            continue
        words = [m for m in re.finditer(r"[A-Za-z_][A-Za-z0-9_]{5,}", lines[k])]
        if not words:
            continue
        word = words[int(rng.integers(len(words)))]
        cut = word.start() + int(rng.integers(2, len(word.group()) - 2))
        context = "\n".join(lines[k - 2:k]) + "\n" + lines[k][:cut]
        pairs.append((context, lines[k][cut:cut + 4]))
    return pairs


def table(byte_lm: ByteSampler, pairs: list[tuple[str, str]]) -> dict[str, dict[str, float]]:
    """Mean log-probability and mean probability of the true next byte / next 4 bytes under each method."""
    results: dict[str, dict[str, list[float]]] = {m: {"lp1": [], "lp4": [], "calls": []}
                                                   for m in ("exact", "naive", "healing")}
    for prompt, truth in pairs:
        target = truth.encode("utf-8")[:4]
        for method, scores in results.items():
            calls = byte_lm.lm.forward_calls
            state = byte_lm.start(prompt, init=method)  # type: ignore[arg-type]
            total = 0.0
            for position, b in enumerate(target):
                total += float(byte_lm.next_byte_logprobs(state)[b])
                if position == 0:
                    scores["lp1"].append(total)
                if position + 1 < len(target):
                    state = byte_lm.push(state, b)
            scores["lp4"].append(total)
            scores["calls"].append(byte_lm.lm.forward_calls - calls)
    summary = {}
    for method, scores in results.items():
        lp1, lp4 = np.array(scores["lp1"]), np.array(scores["lp4"])
        summary[method] = {"mean_logp_next_byte": float(lp1.mean()), "mean_p_next_byte": float(np.exp(lp1).mean()),
                           "mean_logp_next_4_bytes": float(lp4.mean()), "mean_p_next_4_bytes": float(np.exp(lp4).mean()),
                           "p_next_byte_below_1e-3": int((lp1 < np.log(1e-3)).sum()),
                           "mean_model_calls": float(np.mean(scores["calls"])), "cuts": len(lp1)}
        print(f"table {method}: {summary[method]}", flush=True)
    return summary


def _walk(model: object, truth, naive=None) -> tuple[float, int, list[float]]:
    """Max |model - truth| over every prefix of positive probability, node count, naive TV distances."""
    worst, nodes, tvs = 0.0, 0, []
    stack = [(b"", model.start(b""))]  # type: ignore[attr-defined]
    while stack:
        text, state = stack.pop()
        nodes += 1
        expected = truth(text)
        got = np.exp(model.next_byte_logprobs(state))  # type: ignore[attr-defined]
        worst = max(worst, float(np.abs(got - expected).max()))
        if naive is not None and text:
            tvs.append(0.5 * float(np.abs(naive(text) - expected).sum()))
        stack += [(text + bytes([b]), model.push(state, b))  # type: ignore[attr-defined]
                  for b in np.flatnonzero(expected[:EOS]).tolist()]
    return worst, nodes, tvs


def _mistral() -> TokenizerAdapter:
    from lexkit.formats.sentencepiece import from_sentencepiece

    return TokenizerAdapter.from_tokenizer(Tokenizer(from_sentencepiece(fixtures_dir() / "mistral" /
                                                                        "tokenizer.model.v1")))


def _sp_oracle(strings: dict[bytes, float], adapter: TokenizerAdapter) -> OracleLM:
    """The exact token process of ``strings`` under a dummy-prefix SentencePiece adapter (EOS is id 2)."""
    return OracleLM(strings, lambda x: adapter.encode(adapter.text_prefix + x) if x else [],
                    vocab_size=len(adapter), eos_id=2)


def sentencepiece(max_symbols: int) -> dict[str, float]:
    """Exactness over every byte prefix of a source over a, space, é (a piece), newline and 龘 (byte fallback)."""
    start = time.perf_counter()
    adapter = _mistral()
    strings = markov_texts([b"a", b" ", "é".encode(), b"\n", "龘".encode()], max_symbols, seed=0)
    oracle = _sp_oracle(strings, adapter)
    worst, nodes, tvs = _walk(ByteSampler(oracle, adapter), next_byte_truth(strings),
                              naive=lambda y: naive_next_byte(oracle, adapter, y))
    row = {"strings": len(strings), "prefixes": nodes, "max_abs_error": worst, "naive_tv_max": max(tvs),
           "naive_tv_mean": float(np.mean(tvs)), "seconds": time.perf_counter() - start}
    print(f"sentencepiece mistral-v1: {row}", flush=True)
    return row


def ensemble_markov(max_symbols: int) -> dict[str, dict[str, float]]:
    """Product and mixture ensembles of exact members with different tokenizers reproduce the source."""
    results = {}
    toy_strings = markov_texts([b"a", b"b", b"ab"], max_symbols, seed=1)
    other_tokens, other_bpe = rank_bpe(b"ab", ((b"b", b"a"), (b"b", b"b"), (b"ba", b"a"), (b"a", b"bb")))
    toy_members = [
        ByteSampler(OracleLM(toy_strings, toy_bpe, vocab_size=TOY_EOS + 1, eos_id=TOY_EOS),
               TokenizerAdapter(TOY_TOKENS, toy_bpe)),
        ByteSampler(OracleLM(toy_strings, other_bpe, vocab_size=len(other_tokens) + 1, eos_id=len(other_tokens)),
               TokenizerAdapter(other_tokens, other_bpe)),
    ]
    real_strings = markov_texts([b"a", b"b", b" "], max_symbols, seed=2)
    gpt2 = TokenizerAdapter.from_tokenizer(Tokenizer.load(fixtures_dir() / "gpt2" / "tokenizer.json"))
    mistral = _mistral()
    real_members = [
        ByteSampler(OracleLM(real_strings, gpt2.encode, vocab_size=len(gpt2), eos_id=50256), gpt2),
        ByteSampler(_sp_oracle(real_strings, mistral), mistral),
    ]
    for name, strings, members in [("toy-bpe+other-bpe", toy_strings, toy_members),
                                   ("gpt2+mistral-sp", real_strings, real_members)]:
        truth = next_byte_truth(strings)
        for mode, weights in [("product", [0.5, 0.5]), ("product", [0.9, 0.1]), ("mixture", [0.5, 0.5]),
                              ("mixture", [0.2, 0.8])]:
            start = time.perf_counter()
            ensemble = ByteEnsemble(members, mode=mode, weights=weights)  # type: ignore[arg-type]
            worst, nodes, _ = _walk(ensemble, truth)
            key = f"{name} {mode} {weights}"
            results[key] = {"strings": len(strings), "prefixes": nodes, "max_abs_error": worst,
                            "seconds": time.perf_counter() - start}
            print(f"ensemble-markov {key}: {results[key]}", flush=True)
    return results


def heldout_texts(count: int, size: int) -> list[str]:
    """``count`` paragraphs of about ``size`` characters from the embedded prose (Python documentation)."""
    from lexkit.embedded import prose_documents

    texts = []
    for doc in prose_documents()[::2]:
        start = doc.find("\n\n", 200)
        chunk = " ".join(doc[start:start + 4 * size].split())[:size] if start > 0 else ""
        if len(chunk) == size:
            texts.append(chunk)
        if len(texts) == count:
            break
    return texts


def ensemble_real(members: list[ByteSampler], names: list[str], texts: list[str], gen_bytes: int,
                  first_weights: list[float]) -> dict[str, object]:
    """Bits per byte of each member and of product / mixture ensembles (weight ``w`` on the first member, one
    pass over each text: every ensemble reads the same member states), then greedy generation speed."""
    ensembles = {"product": ByteEnsemble(members, mode="product"), "mixture": ByteEnsemble(members, mode="mixture")}
    for w in first_weights:
        for mode in ("product", "mixture"):
            ensembles[f"{mode} w={w}"] = ByteEnsemble(members, mode=mode, weights=[w, 1 - w])  # type: ignore[arg-type]
    totals = {name: 0.0 for name in [*names, *ensembles]}
    canonical = {name: 0.0 for name in names}
    total_bytes, per_text = 0, []
    start = time.perf_counter()
    for text in texts:
        data = text.encode("utf-8")
        state = ensembles["product"].start(b"")
        row: dict[str, float] = {}
        for b in data:
            for name, member, member_state in zip(names, members, state.states):
                assert member_state is not None
                row[name] = row.get(name, 0.0) - float(member.next_byte_logprobs(member_state)[b])
            for name, ensemble in ensembles.items():
                row[name] = row.get(name, 0.0) - float(ensemble.next_byte_logprobs(state)[b])
            state = ensembles["product"].push(state, b)
        for name, member in zip(names, members):
            lp = float(member.lm.next_token_logprobs([member.adapter.encode(member.adapter.text_prefix + data)])[0][0])
            canonical[name] -= lp
        for name, value in row.items():
            totals[name] += value
        total_bytes += len(data)
        per_text.append({name: value / len(data) / np.log(2) for name, value in row.items()})
        print(f"ensemble text {len(per_text)}: {per_text[-1]}", flush=True)
    seconds = time.perf_counter() - start
    bpb = {name: value / total_bytes / np.log(2) for name, value in totals.items()}
    canonical_bpb = {name: value / total_bytes / np.log(2) for name, value in canonical.items()}
    print(f"ensemble bits/byte {bpb}; canonical-encoding bits/byte {canonical_bpb}", flush=True)
    speeds: dict[str, dict[str, object]] = {}
    for mode, ensemble in ensembles.items():
        if gen_bytes == 0 or " " in mode:
            continue
        calls = sum(m.lm.forward_calls for m in members)
        begin = time.perf_counter()
        out = ensemble.generate("The quick brown fox", gen_bytes, temperature=0)
        elapsed = time.perf_counter() - begin
        speeds[mode] = {"bytes": len(out), "seconds": elapsed, "bytes_per_s": len(out) / elapsed,
                        "calls_per_byte": (sum(m.lm.forward_calls for m in members) - calls) / max(len(out), 1),
                        "text": out.decode("utf-8", "replace")}
        print(f"ensemble speed {mode}: {speeds[mode]}", flush=True)
    for name, member in zip(names, members if gen_bytes else []):
        begin = time.perf_counter()
        out = member.generate("The quick brown fox", gen_bytes, temperature=0)
        elapsed = time.perf_counter() - begin
        speeds[name] = {"bytes": len(out), "seconds": elapsed, "bytes_per_s": len(out) / elapsed,
                        "text": out.decode("utf-8", "replace")}
        print(f"member speed {name}: {speeds[name]}", flush=True)
    return {"texts": len(texts), "bytes": total_bytes, "bits_per_byte": bpb,
            "canonical_encoding_bits_per_byte": canonical_bpb, "scoring_seconds": seconds, "per_text": per_text,
            "generation": speeds}


def transplant_to_gpt2(out: Path) -> None:
    """SmolLM2-135M (GGUF fixture) moved to GPT-2's tokenizer with the heuristic transplant, saved to ``out``."""
    from lexkit.transfer import transplant

    gguf = fixtures_dir() / "smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    start = time.perf_counter()
    result = transplant(gguf, fixtures_dir() / "gpt2" / "tokenizer.json", "heuristic",
                        aux=fixtures_dir() / "minilm", device="cpu")
    result.save(out)
    print(f"built the second ensemble member in {time.perf_counter() - start:.0f} s -> {out}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--model", type=Path, default=None,
                        help="transformers folder (default: the SmolLM2 GGUF fixture, docs/fixtures.md)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy 2-core box)")
    parser.add_argument("--mask-floor", type=float, default=1e-6,
                        help="candidate next tokens below this probability skip the canonicality check")
    parser.add_argument("--cuts", type=int, default=20, help="stdlib lines cut mid-identifier for the table")
    parser.add_argument("--gap-bytes", type=int, default=100, help="bytes of each text for the gap part")
    parser.add_argument("--markov-length", type=int, nargs=2, default=(12, 8), metavar=("TOY", "GPT2"))
    parser.add_argument("--sp-symbols", type=int, default=5, help="longest text (symbols) of the SentencePiece source")
    parser.add_argument("--ensemble-symbols", type=int, default=6, help="longest text of the ensemble sources")
    parser.add_argument("--ensemble-model", type=Path, default=ROOT / "cache" / "bench" / "smollm2-on-gpt2",
                        help="second ensemble member: a transformers folder (default: SmolLM2 moved to GPT-2's "
                             "tokenizer with the heuristic transplant, built there on first use)")
    parser.add_argument("--texts", type=int, default=20, help="held-out texts for the ensemble part")
    parser.add_argument("--text-bytes", type=int, default=100, help="characters per held-out text")
    parser.add_argument("--gen-bytes", type=int, default=40, help="bytes generated in the ensemble speed run (0: none)")
    parser.add_argument("--first-weights", type=float, nargs="*", default=[],
                        help="also score ensembles with these weights on the first member (the other gets 1 - w)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    results: dict[str, object] = {}
    if "markov" in args.part:
        results["markov"] = markov(*args.markov_length)
    if "sentencepiece" in args.part:
        results["sentencepiece"] = sentencepiece(args.sp_symbols)
    if "ensemble-markov" in args.part:
        results["ensemble_markov"] = ensemble_markov(args.ensemble_symbols)
    if set(args.part) & MODEL_PARTS:
        import torch

        torch.set_num_threads(args.threads)
        start = time.perf_counter()
        if args.model is not None:
            byte_lm = load_byte_sampler(args.model, device="cpu", bos_id=0, mask_floor=args.mask_floor)
        else:
            gguf = fixtures_dir() / "smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"
            byte_lm = load_byte_sampler(gguf.parent, gguf_file=gguf.name, device="cpu", bos_id=0,
                                   mask_floor=args.mask_floor)
        print(f"model loaded in {time.perf_counter() - start:.1f} s", flush=True)
        if "gap" in args.part:
            from lexkit.embedded import prose_documents

            docs = prose_documents()
            texts = [docs[k][:args.gap_bytes] for k in (3, 40, 70)]
            texts.append("def read_config(path):\n    with open(path) as handle:\n        return json.load(h")
            results["gap"] = gap(byte_lm, texts)
        if "midtoken" in args.part:
            results["midtoken"] = midtoken(byte_lm, ["import numpy as np\ndef hello_wor", "The capital of Fra",
                                                     "for i in ran", "print(json.dum", "https://www.goo"])
        if "speed" in args.part:
            results["speed"] = speed(byte_lm, "def fibonacci(n):\n", 120)
        if "table" in args.part:
            results["table"] = table(byte_lm, stdlib_cuts(args.cuts, seed=0))
        if "ensemble" in args.part:
            if not (args.ensemble_model / "config.json").exists():
                transplant_to_gpt2(args.ensemble_model)
            other = load_byte_sampler(args.ensemble_model, device="cpu", mask_floor=args.mask_floor)
            results["ensemble"] = ensemble_real([byte_lm, other], ["smollm2", "smollm2-on-gpt2"],
                                                heldout_texts(args.texts, args.text_bytes), args.gen_bytes,
                                                args.first_weights)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
