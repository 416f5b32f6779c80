"""SmolLM2-135M-Instruct (GGUF fixture) swapped to Qwen2.5's bare ranks file: specials, chat, eos, scored bytes.

``qwen.tiktoken`` brings no special tokens, so every role and the chat template's ``<|im_start|>``/``<|im_end|>``
come from the source: carried as added tokens with the source rows. Slow (loads and saves the model).
"""

from __future__ import annotations

import json

import pytest
import torch
from _resources import fixture_path, smollm2_gguf
from transformers import AutoModelForCausalLM, AutoTokenizer

from lexkit.transfer import evaluate, transplant
from lexkit.transfer._models import load_causal_lm
from lexkit.transfer.tokenizer import TransferTokenizer

CHAT = [{"role": "user", "content": "What is 2 + 2?"}]  # the swapped model answers "2 + 2 = 4" then <|im_end|>
TEXTS = ["The capital of France is Paris. It is known for the Eiffel Tower and its museums.",
         "def add(a, b):\n    return a + b  # naïve café 😀\n"]
MAX_NEW = 60


@pytest.mark.slow
def test_smollm2_instruct_on_qwen_ranks_keeps_its_specials_chat_and_eos(tmp_path):
    gguf = smollm2_gguf()
    model, _ = load_causal_lm(gguf)
    source = TransferTokenizer.from_any(gguf)
    result = transplant(model, fixture_path("qwen", "qwen.tiktoken"), "subword-mean", source_tokenizer=gguf,
                        device="cpu")
    # qwen.tiktoken has 151,643 ranks; the source's three role tokens follow them
    carried = {"<|im_start|>": 151643, "<|im_end|>": 151644, "<|endoftext|>": 151645}
    assert result.info["special_tokens"]["ids"] == carried
    assert result.info["special_tokens"]["chat_template_split"] == []
    out = result.save(tmp_path / "swapped")

    for name in ("config.json", "generation_config.json"):
        config = json.loads((out / name).read_text(encoding="utf-8"))
        assert (config["bos_token_id"], config["eos_token_id"], config["pad_token_id"]) == (151643, 151644, 151644)
    swapped = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    weight, original = swapped.get_input_embeddings().weight, model.get_input_embeddings().weight
    for text, new_id in carried.items():
        assert torch.equal(weight[new_id], original[source.hf.convert_tokens_to_ids(text)]), text

    # the chat template renders the same text, with the source's specials at the carried ids
    before = source.hf.apply_chat_template(CHAT, add_generation_prompt=True, return_dict=False)
    after = tokenizer.apply_chat_template(CHAT, add_generation_prompt=True, return_dict=False)
    to_new = {source.hf.convert_tokens_to_ids(text): i for text, i in carried.items()}
    assert [i for i in after if i >= 151643] == [to_new[i] for i in before if i in to_new] != []
    assert tokenizer.decode(after) == source.hf.decode(before)

    # greedy generation ends with the end token, well before the limit
    with torch.no_grad():
        generated = swapped.generate(torch.tensor([after]), max_new_tokens=MAX_NEW, do_sample=False)
    new = generated[0, len(after):].tolist()
    assert new[-1] == 151644 and len(new) < MAX_NEW, tokenizer.decode(new)

    # bits per byte covers the same bytes for both tokenizers: every byte of every document
    scores = [evaluate(m, t, TEXTS) for m, t in ((model, gguf), (swapped, out))]
    sizes = [[d.n_bytes for d in s.slices["all"].documents] for s in scores]
    assert sizes[0] == sizes[1] == [len(t.encode("utf-8")) for t in TEXTS]
