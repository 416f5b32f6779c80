"""The real-model ``adapt`` test: SmolLM2-135M (GGUF fixture) adapted to Turkish (UD treebank sentences + speeches).

A 4,000-token BPE trained on 240 kB of Turkish must cut the tokens SmolLM2's English-centric tokenizer needs on the
held-out Turkish slice by a wide margin, and every number of the report must equal an independent recomputation
from the written folder and the original GGUF. The transplant uses ``subword-mean`` to stay within the test budget:
the default heuristic embeds all 49k source tokens with MiniLM (minutes on 2 cores); the unit tests in
test_adapt.py run the heuristic path.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from _resources import corpus_path, smollm2_gguf, turkish_path
from transformers import AutoModelForCausalLM, AutoTokenizer

from lexkit.cli.adapt import REPORT_JSON, adapt, split_held_out, tokens_per_byte
from lexkit.transfer import HealConfig, evaluate
from lexkit.transfer.tokenizer import TransferTokenizer

CHARS = 400
DOCUMENTS = 3
SAVING = 30.0  # % fewer tokens on held-out Turkish the adapted tokenizer must reach (measured: 0.452 -> 0.285
#               tokens per byte, 36.9 % fewer)


def _turkish() -> list[str]:
    """Two domain texts: 120 kB of treebank sentences and 120 kB of parliamentary speeches."""
    sentences = [line[len("# text = "):] for line in turkish_path("wiki.conllu").read_text(encoding="utf-8")
                 .splitlines() if line.startswith("# text = ")]
    with sqlite3.connect(turkish_path("speeches.db")) as db:
        bodies = [body for (body,) in db.execute("select body from speech_texts where lang='tr' order by rowid "
                                                 "limit 80")]
    return ["\n".join(sentences)[:120_000], "\n\n".join(bodies)[:120_000]]


def _spread(pieces: list[str], count: int) -> list[str]:
    return pieces if len(pieces) <= count else [pieces[int(i * len(pieces) / count)] for i in range(count)]


@pytest.mark.slow
def test_adapt_smollm2_to_turkish_saves_tokens_and_reports_true_numbers(tmp_path):
    gguf = smollm2_gguf()
    domain = _turkish()
    general = [corpus_path().read_bytes()[:30_000].decode("utf-8", errors="ignore")]
    out = tmp_path / "adapted"
    report = adapt(gguf, domain, vocabulary="replace", vocab_size=4000, output=out, method="subword-mean", steps=2, general=general,
                   eval_documents=DOCUMENTS, device="cpu", workers=1,
                   heal_config=HealConfig(sequence_chars=CHARS, batch_size=2, learning_rate=1e-2))
    _, held_out = split_held_out(domain, fraction=0.1, chunk_chars=CHARS)
    original_hf = TransferTokenizer.from_any(gguf).hf
    adapted_hf = AutoTokenizer.from_pretrained(out)
    expected = {"original": tokens_per_byte(original_hf, held_out), "adapted": tokens_per_byte(adapted_hf, held_out)}
    assert report.tokens_per_byte["domain"] == pytest.approx(expected, abs=1e-5)
    assert report.saving("domain") > SAVING, report.tokens_per_byte
    # Bits per byte, recomputed from the GGUF and from the written folder on the same spread of held-out pieces.
    scored = {"domain": _spread(held_out, DOCUMENTS)}
    original = evaluate(gguf, gguf, scored, chunk_chars=CHARS)
    adapted = evaluate(AutoModelForCausalLM.from_pretrained(out), adapted_hf, scored, chunk_chars=CHARS)
    assert report.bpb["domain"]["original"] == pytest.approx(original.bpb, abs=1e-4)
    assert report.bpb["domain"]["adapted"] == pytest.approx(adapted.bpb, abs=1e-4)
    assert json.loads((out / REPORT_JSON).read_text(encoding="utf-8"))["bpb"] == report.bpb
