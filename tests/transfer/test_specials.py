"""Special tokens across a swap (tiny models): carried by role, rows copied, config ids set, template checked."""

from __future__ import annotations

import logging

import pytest
import torch

from lexkit import Tokenizer
from lexkit.transfer import transplant
from lexkit.transfer.specials import carry_specials, check_chat_template, template_literals
from lexkit.transfer.tokenizer import TransferTokenizer
from lexkit.vocab import BPEConfig, train

TEMPLATE = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
            "{% endfor %}")


@pytest.fixture(scope="module")
def chat_source(prose):
    """A source tokenizer like SmolLM2-Instruct's: bos <|im_start|>, eos/pad <|im_end|>, unk <|endoftext|>."""
    specials = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<file_sep>")
    vocabulary = train(prose, BPEConfig(vocab_size=420, special_tokens=specials), workers=1, progress=False)
    hf = TransferTokenizer.from_any(Tokenizer(vocabulary)).hf
    hf.bos_token, hf.eos_token, hf.pad_token, hf.unk_token = "<|im_start|>", "<|im_end|>", "<|im_end|>", \
        "<|endoftext|>"
    hf.chat_template = TEMPLATE
    return TransferTokenizer.from_any(hf)


@pytest.fixture(scope="module")
def bare_target():
    """A target with no special tokens at all (like a bare .tiktoken ranks file)."""
    from lexkit.embedded import default_corpus

    code = [line for doc in default_corpus("code")[:6] for line in doc.splitlines(keepends=True)]
    return Tokenizer(train(code, BPEConfig(vocab_size=460), workers=1, progress=False))


def test_a_bare_target_gets_the_source_specials_by_role_and_for_the_template(chat_source, bare_target):
    target = TransferTokenizer.from_any(bare_target)
    assert target.roles == {} and target.chat_template is None
    extended, carried = carry_specials(chat_source, target)
    assert carried.roles == {"bos": "<|im_start|>", "eos": "<|im_end|>", "pad": "<|im_end|>", "unk": "<|endoftext|>"}
    assert carried.extra == ()  # both template literals are role tokens already
    assert carried.ids == {"<|im_start|>": 460, "<|im_end|>": 461, "<|endoftext|>": 462}
    assert extended.roles == {"bos": 460, "eos": 461, "pad": 461, "unk": 462} and len(extended) == 463
    assert extended.chat_template == TEMPLATE and TransferTokenizer.from_any(bare_target).roles == {}
    assert check_chat_template(extended.hf, chat_source) == []


def test_the_targets_own_specials_win(chat_source, target_tokenizer):
    target = TransferTokenizer.from_any(target_tokenizer)  # <|endoftext|> as bos/eos/unk, <pad> as pad
    extended, carried = carry_specials(chat_source, target)
    assert carried.roles == {}  # every role the source has, the target has
    assert carried.extra == ("<|im_start|>", "<|im_end|>")  # the kept template writes them
    assert extended.roles == target.roles and len(extended) == len(target) + 2


def test_transplant_copies_the_carried_rows_and_sets_both_configs(make_llama, chat_source, bare_target, tmp_path):
    model = make_llama(len(chat_source), seed=2)
    result = transplant(model, bare_target, "mean", source_tokenizer=chat_source)
    weight, source = result.model.get_input_embeddings().weight, model.get_input_embeddings().weight
    for text, new_id in result.info["special_tokens"]["ids"].items():
        old_id = chat_source.hf.convert_tokens_to_ids(text)
        assert torch.equal(weight[new_id], source[old_id]), text
    config, generation = result.model.config, result.model.generation_config
    assert (config.bos_token_id, config.eos_token_id, config.pad_token_id) == (460, 461, 461)
    assert (generation.bos_token_id, generation.eos_token_id, generation.pad_token_id) == (460, 461, 461)
    rendered = result.tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], return_dict=False)
    assert rendered[0] == 460 and rendered.count(461) == 1
    assert result.info["special_tokens"]["chat_template_split"] == []


def test_a_template_literal_the_tokenizer_splits_is_reported_in_one_line(make_llama, chat_source, target_tokenizer,
                                                                        caplog):
    target = TransferTokenizer.from_any(target_tokenizer)
    target.hf.chat_template = "{{ '<|user|>' + messages[0]['content'] + '<|im_end|>' }}"
    assert template_literals(target.hf.chat_template, ["<|im_end|>"]) == ["<|im_end|>", "<|user|>"]
    model = make_llama(len(chat_source), seed=2)
    with caplog.at_level(logging.WARNING, logger="lexkit.transfer.transplant"):
        result = transplant(model, target, "mean", source_tokenizer=chat_source)
    split = result.info["special_tokens"]["chat_template_split"]
    assert sorted(entry.split(" (")[0] for entry in split) == ["'<|im_end|>'", "'<|user|>'"]
    warning = [r.getMessage() for r in caplog.records if "chat template" in r.getMessage()]
    assert len(warning) == 1 and "\n" not in warning[0] and "<|user|>" in warning[0]
