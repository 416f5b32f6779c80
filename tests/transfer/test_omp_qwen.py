"""Centred OMP with the real Qwen2.5-Coder-0.5B donor: SmolLM2-135M gets the Qwen2.5 tokenizer (issue 17, section 3).

The full swap codes 112k new rows (about a minute on 2 cores), so the test codes the new rows that the held-out
text uses plus the lowest new ids, ROWS in all, with the CLI's CPU defaults, and leaves every other new row at
mean init. The two models differ only in those rows; both are scored in bits per byte on held-out English prose and
Python source that neither model saw in the transplant.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

import numpy as np
import pytest
import torch
from _resources import corpus_path, fixture_path, smollm2_gguf

from lexkit.transfer import evaluate, transplant
from lexkit.transfer._models import load_causal_lm
from lexkit.transfer._sides import TokenizerSide
from lexkit.transfer.anchors import match_anchors
from lexkit.transfer.evaluate import chunk_text
from lexkit.transfer.gguf_embeddings import read_gguf_embeddings
from lexkit.transfer.methods import OmpDefaults, Plan, TransferConfig, apply_plan
from lexkit.transfer.omp import omp_coefficients

ROWS = 3000
DOCUMENTS, CHARS = 12, 400
# Measured on this swap (see the assertion): centred OMP 0.6 bits per byte below mean init on the full vocabulary
# (README: 1.87-1.91 vs 2.46), and in this test's setting. Half the measured gain leaves room for other thread
# counts and BLAS builds, while a broken donor read, a wrong centring or misaligned ids (rows coded from the wrong
# donor rows score at or above mean init) cannot pass.
MARGIN = 0.25


def held_out() -> dict[str, list[str]]:
    prose = corpus_path().read_bytes()[-1_000_000:].decode("utf-8", errors="ignore")
    chunks = [c for c in chunk_text(prose, CHARS) if len(c.strip()) > CHARS // 4]
    code = [c for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))[:40]
            for c in chunk_text(path.read_text(encoding="utf-8", errors="replace"), CHARS)
            if len(c.strip()) > CHARS // 4]
    return {"prose": chunks[::max(1, len(chunks) // DOCUMENTS)][:DOCUMENTS],
            "code": code[::max(1, len(code) // DOCUMENTS)][:DOCUMENTS]}


@pytest.mark.slow
def test_centred_omp_with_the_qwen_coder_donor_beats_mean_init():
    gguf, qwen = smollm2_gguf(), fixture_path("qwen", "qwen.tiktoken")
    donor = read_gguf_embeddings(fixture_path("qwen_coder", "q.gguf"), head=False).input
    slices = held_out()
    smollm2, _ = load_causal_lm(gguf)  # de-quantized to float32
    mean_result = transplant(smollm2, qwen, "mean", source_tokenizer=gguf, device="cpu")
    model, tokenizer = mean_result.model, mean_result.tokenizer
    assert mean_result.info["tied"] and donor.shape == (151936, 896)

    source, target = TokenizerSide.from_any(gguf), TokenizerSide.from_any(qwen)
    matrix = model.get_input_embeddings().weight
    anchors = match_anchors(source, target, source_rows=49152)
    assert anchors.counts()["total"] > 39000
    used = {i for docs in slices.values() for doc in docs for i in tokenizer(doc)["input_ids"]}
    new = [t for t in range(len(target)) if t not in anchors.pairs]
    in_text = [t for t in new if t in used]
    rows = sorted(in_text + [t for t in new if t not in used][:ROWS - len(in_text)])
    assert len(in_text) > 150 and len(rows) == ROWS  # the held-out text really uses coded rows

    defaults = OmpDefaults.for_device("cpu")
    anchor_targets = np.array(sorted(anchors.pairs), dtype=np.int64)
    anchor_sources = np.array([anchors.pairs[t] for t in anchor_targets], dtype=np.int64)
    dictionary = donor[torch.from_numpy(anchor_targets)]
    center = dictionary.mean(dim=0)
    indices, coefficients = omp_coefficients(donor[torch.tensor(rows)] - center, dictionary - center, defaults.k,
                                             prefilter=defaults.prefilter, search_dim=defaults.search_dim)
    plan = Plan(size=len(target), anchors=anchors, fills=dict.fromkeys(set(new) - set(rows), "mean"))
    for row, token_id in enumerate(rows):
        plan.combos[token_id] = (anchor_sources[indices[row]], coefficients[row])
        plan.mean_weights[token_id] = 1.0 - float(coefficients[row].astype(np.float64).sum())
        plan.estimates[token_id] = "omp"
    omp_rows, _ = apply_plan(plan, smollm2.get_input_embeddings().weight, source_rows=49152, out_rows=len(target),
                             config=TransferConfig())

    mean_bpb = evaluate(model, tokenizer, slices)
    with torch.no_grad():
        matrix[torch.tensor(rows)] = omp_rows[torch.tensor(rows)]  # tied: the head changes with it
    omp_bpb = evaluate(model, tokenizer, slices)
    print(f"bits per byte: mean init {mean_bpb.bpb:.4f}, centred OMP on {ROWS} rows {omp_bpb.bpb:.4f}")
    assert omp_bpb.bpb < mean_bpb.bpb - MARGIN, (omp_bpb.bpb, mean_bpb.bpb)
