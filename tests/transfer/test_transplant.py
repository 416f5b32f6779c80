"""`transplant` on tiny Llama models: tying, heads, config, save/reload, donors, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, BertConfig, BertModel

from lexkit import FormatError, LexkitError
from lexkit.transfer import transplant
from lexkit.transfer.tokenizer import TransferTokenizer


@pytest.fixture
def source_model(make_llama, source_tokenizer):
    return make_llama(len(source_tokenizer.vocabulary), tied=True)


@pytest.fixture
def model_folder(tmp_path, make_llama, source_tokenizer):
    """A saved untied source model with its tokenizer beside it."""
    folder = tmp_path / "source"
    make_llama(len(source_tokenizer.vocabulary), tied=False, seed=1).save_pretrained(folder)
    TransferTokenizer.from_any(source_tokenizer).hf.save_pretrained(folder)
    return folder


def test_tied_transplant_shapes_config_and_provenance(source_model, source_tokenizer, target_tokenizer):
    before = source_model.get_input_embeddings().weight.clone()
    result = transplant(source_model, target_tokenizer, "subword-mean", source_tokenizer=source_tokenizer)
    model = result.model
    size = len(target_tokenizer.vocabulary)
    embedding = model.get_input_embeddings()
    assert embedding.weight.shape == (size, 32) and embedding.weight.dtype == torch.float32
    assert model.get_output_embeddings().weight.data_ptr() == embedding.weight.data_ptr()
    assert model.config.vocab_size == size and model.config.tie_word_embeddings
    assert [p.target_id for p in result.provenance] == list(range(size)) and "output" not in result.reports
    assert (model.config.bos_token_id, model.config.eos_token_id, model.config.pad_token_id) == (0, 0, 1)
    assert model.generation_config.pad_token_id == 1 and embedding.padding_idx == 1
    assert result.tokenizer.pad_token == "<pad>" and len(result.tokenizer) == size
    assert torch.equal(source_model.get_input_embeddings().weight, before)  # the source model is untouched
    assert result.anchors == result.reports["input"].counts()["copied"] > 250
    for entry in result.provenance:
        if entry.status == "copied":
            assert torch.equal(embedding.weight[entry.target_id], before[entry.source_id])
    assert result.info["numeric_probe"]["match"] is True
    with torch.no_grad():
        logits = model(torch.tensor([[0, 5, 300, 455]])).logits
    assert logits.shape == (1, 4, size) and torch.isfinite(logits).all()


def test_untied_head_is_rebuilt_from_the_head(model_folder, target_tokenizer):
    source = AutoModelForCausalLM.from_pretrained(model_folder)
    result = transplant(model_folder, target_tokenizer, "subword-mean")
    head = result.model.get_output_embeddings().weight
    assert head.data_ptr() != result.model.get_input_embeddings().weight.data_ptr()
    assert not result.model.config.tie_word_embeddings and result.info["tied"] is False
    output = result.reports["output"]
    source_head = source.get_output_embeddings().weight
    for entry in output.provenance:
        if entry.status == "copied":
            assert torch.equal(head[entry.target_id], source_head[entry.source_id])
        elif entry.status == "approximated":
            torch.testing.assert_close(head[entry.target_id], source_head[list(entry.sources)].mean(0))


def test_tie_can_be_forced_either_way(source_model, model_folder, source_tokenizer, target_tokenizer):
    untied = transplant(source_model, target_tokenizer, "mean", source_tokenizer=source_tokenizer, tie="untied")
    model = untied.model
    assert not model.config.tie_word_embeddings and set(untied.reports) == {"input", "output"}
    assert model.get_output_embeddings().weight.data_ptr() != model.get_input_embeddings().weight.data_ptr()
    assert torch.equal(model.get_output_embeddings().weight, model.get_input_embeddings().weight)
    tied = transplant(model_folder, target_tokenizer, "mean", tie="tied").model
    assert tied.config.tie_word_embeddings
    assert tied.get_output_embeddings().weight.data_ptr() == tied.get_input_embeddings().weight.data_ptr()


@pytest.mark.parametrize("tied", [True, False])
def test_save_reloads_with_plain_auto_classes(tied, tmp_path, make_llama, source_tokenizer, target_tokenizer):
    model = make_llama(len(source_tokenizer.vocabulary), tied=tied)
    result = transplant(model, target_tokenizer, "subword-mean", source_tokenizer=source_tokenizer,
                        pad_to_multiple_of=64)
    out = result.save(tmp_path / "out")
    reloaded = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    text = "def transplant(model):\n    return model  # done"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert ids == target_tokenizer.encode(text) and tokenizer.decode(ids) == text
    with torch.no_grad():
        torch.testing.assert_close(reloaded(torch.tensor([ids])).logits, result.model(torch.tensor([ids])).logits)
    rows = reloaded.get_input_embeddings().weight
    assert rows.shape[0] == reloaded.config.vocab_size == 512  # 462 target tokens padded to a multiple of 64
    assert reloaded.config.tie_word_embeddings == tied
    torch.testing.assert_close(rows, result.model.get_input_embeddings().weight)
    report = json.loads((out / "transplant_report.json").read_text())
    assert report["method"] == "subword-mean" and len(report["matrices"]["input"]["provenance"]) == len(tokenizer)
    assert report["rows"] == 512 and report["tied"] == tied


def test_padding_rows_are_the_mean_row(source_model, source_tokenizer, target_tokenizer):
    result = transplant(source_model, target_tokenizer, "mean", source_tokenizer=source_tokenizer,
                        pad_to_multiple_of=100)
    rows = result.model.get_input_embeddings().weight
    size = len(target_tokenizer.vocabulary)
    assert rows.shape[0] == 500
    expected = source_model.get_input_embeddings().weight.mean(0)
    torch.testing.assert_close(rows[size:], expected.expand(500 - size, -1))


def test_bf16_models_keep_their_dtype(make_llama, source_tokenizer, target_tokenizer):
    model = make_llama(len(source_tokenizer.vocabulary), dtype=torch.bfloat16)
    result = transplant(model, target_tokenizer, "subword-mean", source_tokenizer=source_tokenizer)
    assert result.model.get_input_embeddings().weight.dtype == torch.bfloat16


def test_omp_with_an_untied_donor_model_codes_each_matrix_separately(tmp_path, make_llama, source_model,
                                                                     source_tokenizer, target_tokenizer):
    donor_folder = tmp_path / "donor"
    make_llama(len(target_tokenizer.vocabulary), tied=False, hidden=24, seed=5).save_pretrained(donor_folder)
    TransferTokenizer.from_any(target_tokenizer).hf.save_pretrained(donor_folder)
    result = transplant(source_model, target_tokenizer, "omp", donor=donor_folder, source_tokenizer=source_tokenizer,
                        tie="untied", k=8, device="cpu")
    inputs, outputs = result.reports["input"], result.reports["output"]
    assert result.info["donor"] == str(donor_folder) and inputs.counts() == outputs.counts()
    pairs = [(a.sources, b.sources) for a, b in zip(inputs.provenance, outputs.provenance)
             if a.status == "approximated"]
    assert pairs and all(len(a) == 8 for a, _ in pairs)
    assert any(a != b for a, b in pairs)  # the donor head gives each new token its own support
    wrong_donor = tmp_path / "wrong"
    make_llama(len(target_tokenizer.vocabulary), seed=6).save_pretrained(wrong_donor)
    TransferTokenizer.from_any(source_tokenizer).hf.save_pretrained(wrong_donor)
    with pytest.raises(LexkitError, match="donor's tokenizer does not match the target"):
        transplant(source_model, target_tokenizer, "omp", donor=wrong_donor, source_tokenizer=source_tokenizer)


class CharacterEmbedder:
    """A fake auxiliary space: character counts of each string."""

    def embed(self, texts):
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            for char in text:
                out[row, ord(char) % 64] += 1.0
        return out


def test_omp_in_the_auxiliary_space_is_reported_as_experimental(source_model, source_tokenizer, target_tokenizer):
    result = transplant(source_model, target_tokenizer, "omp", donor="auxiliary", aux=CharacterEmbedder(),
                        source_tokenizer=source_tokenizer, k=4)
    assert "auxiliary space" in result.info["donor"] and "experimental" in result.info["donor"]
    approximated = [p for p in result.provenance if p.status == "approximated"]
    assert approximated and all(p.estimate == "omp" and 1 <= len(p.sources) <= 4 for p in approximated)


def test_bad_input_gives_one_line_errors(tmp_path, make_llama, source_model, source_tokenizer, target_tokenizer):
    cases = [
        (lambda: transplant(make_llama(300), target_tokenizer, "mean", source_tokenizer=source_tokenizer),
         "do not belong together"),
        (lambda: transplant(source_model, target_tokenizer, "mean"), "source model's tokenizer is unknown"),
        (lambda: transplant(tmp_path / "missing", target_tokenizer, "mean"), "no such file or folder"),
        (lambda: transplant(tmp_path, target_tokenizer, "mean"), "no config.json"),
        (lambda: transplant(source_model, target_tokenizer, source_tokenizer=source_tokenizer), "needs a donor"),
        (lambda: transplant(source_model, target_tokenizer, "mean", kk=3), "unknown transfer option"),
        (lambda: transplant(source_model, target_tokenizer, "mean", tie="maybe"), "not a layout"),
        (lambda: transplant(source_model, tmp_path / "nope.json", "mean", source_tokenizer=source_tokenizer),
         "no such file"),
    ]
    bert = BertModel(BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=16))
    bert_folder = tmp_path / "bert"
    bert.save_pretrained(bert_folder)
    cases += [(lambda: transplant(bert_folder, target_tokenizer, "mean"), "not a causal LM"),
              (lambda: transplant(bert, target_tokenizer, "mean"), "no language-model head")]
    for call, message in cases:
        with pytest.raises(LexkitError, match=message) as info:
            call()
        assert "\n" not in str(info.value)
    assert issubclass(FormatError, LexkitError)
