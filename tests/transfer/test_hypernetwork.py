"""The ZeTT-style hypernetwork on tiny models: sampler, network, training/resume, transplant and CLI."""

from __future__ import annotations

import json

import click
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from transformers import AutoModelForCausalLM

from lexkit import FormatError, LexkitError
from lexkit.cli.hypernet import hypernet
from lexkit.cli.main import LexkitGroup
from lexkit.cli.transfer import transplant as transplant_command
from lexkit.transfer import transplant
from lexkit.transfer.hypernetwork import PRESETS, HypernetConfig, Hypernetwork, TokenizerSampler, train
from lexkit.transfer.hypernetwork.network import HypernetModule, fit_rescalers, piece_table
from lexkit.transfer.hypernetwork.training import CHECKPOINT_FILE, HISTORY_FILE
from lexkit.transfer.tokenizer import TransferTokenizer


@pytest.fixture(scope="module")
def corpus_text(prose) -> str:
    return "".join(prose)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, make_llama, source_tokenizer, corpus_text):
    """An untied tiny model and a hypernetwork trained for it with the ``tiny`` preset (two heads)."""
    model = make_llama(len(source_tokenizer.vocabulary), tied=False, seed=3)
    network, config = PRESETS["tiny"]
    out = tmp_path_factory.mktemp("hn")
    result = train(model, [corpus_text], out, config=config, network=network, source_tokenizer=source_tokenizer,
                   device="cpu", progress=False)
    return model, result, out


# ------------------------------------------------------------------------------------------------------------
# sampler
def test_sampler_vocabularies_cover_bytes_round_trip_and_vary(corpus_text):
    sampler = TokenizerSampler(600, queue_size=2)
    sampler.add([corpus_text[:5000]])
    rng = np.random.default_rng(0)
    first, second = sampler.sample(rng), sampler.sample(rng)
    assert len(first) == len(second) == 600 and len(set(first.pieces)) == 600
    assert {first.content(i) for i in range(256)} == {bytes([b]) for b in range(256)}
    text = corpus_text[5000:5600] + " ünïcödé ✓"
    ids = first.encode([text])[0]
    assert b"".join(first.content(i) for i in ids) == text.encode("utf-8")
    assert len(ids) < len(text.encode("utf-8")) / 1.5  # substrings are used, not only bytes
    assert set(first.pieces[256:]) != set(second.pieces[256:])  # a new noise draw, a new vocabulary


def test_sampler_queue_forgets_old_text_and_rejects_bad_sizes():
    sampler = TokenizerSampler(400, queue_size=1)
    sampler.add(["zebra zebra zebra"])
    sampler.add(["apple apple apple"])
    assert sampler.substring_table(["ab"])["Ġab"] == 3  # frequency x byte length, one leading space added
    assert "Ġzebra" not in sampler._merged and sampler._merged["Ġapple"] > 0
    with pytest.raises(LexkitError, match="sample_vocab_size=100"):
        TokenizerSampler(100)
    with pytest.raises(LexkitError, match="add"):
        TokenizerSampler(400).sample(np.random.default_rng(0))


# ------------------------------------------------------------------------------------------------------------
# network
def test_residual_network_starts_at_the_subword_mean_and_zett_layout_matches_anchor_statistics():
    torch.manual_seed(0)
    table = torch.randn(50, 16) * 0.3 + 1.0
    residual = HypernetModule(HypernetConfig(hidden=16, layers=1, heads=2).resolved(16), 16, 1)
    fit_rescalers(residual, table, list(range(50)))
    ids = torch.tensor([[3, 7, 0], [5, 0, 0]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    out = residual(table[ids], mask)
    assert torch.allclose(out[0, 0], (table[3] + table[7]) / 2, atol=1e-6)
    assert torch.allclose(out[1, 0], table[5], atol=1e-6)
    zett = HypernetModule(HypernetConfig(hidden=16, layers=1, heads=2, residual=False).resolved(16), 16, 1)
    fit_rescalers(zett, table, list(range(50)), max_tokens=50)
    predicted = zett(table.unsqueeze(1), torch.ones(50, 1, dtype=torch.bool))[:, 0]
    assert torch.allclose(predicted.mean(0), table.mean(0), atol=1e-4)
    assert torch.allclose(predicted.std(0), table.std(0), rtol=1e-3)


def test_save_load_round_trip_and_source_check(tmp_path, trained):
    model, network, out = trained
    loaded = Hypernetwork.load(out)
    table = piece_table(model.get_input_embeddings().weight, model.get_output_embeddings().weight)
    decompositions = [[5], [7, 9, 11], [260, 300]]
    assert torch.equal(loaded.predict(decompositions, table), network.predict(decompositions, table))
    assert loaded.outputs == 2 and loaded.training["steps"] == PRESETS["tiny"][1].steps
    other = torch.randn_like(model.get_input_embeddings().weight)
    with pytest.raises(LexkitError, match="trained for"):
        loaded.check_source(other, other.shape[0])
    with pytest.raises(FormatError, match="not a hypernetwork folder"):
        Hypernetwork.load(tmp_path)


# ------------------------------------------------------------------------------------------------------------
# training
def test_training_leaves_the_model_frozen_logs_and_resumes(tmp_path, make_llama, source_tokenizer, corpus_text):
    model = make_llama(len(source_tokenizer.vocabulary), tied=True, seed=4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    network, config = PRESETS["tiny"]
    first = train(model, [corpus_text], tmp_path, config=config.replace(steps=4), network=network,
                  source_tokenizer=source_tokenizer, device="cpu", progress=False)
    assert first.outputs == 1 and (tmp_path / CHECKPOINT_FILE).exists()
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    resumed = train(model, [corpus_text], tmp_path, config=config.replace(steps=6), network=network,
                    source_tokenizer=source_tokenizer, device="cpu", progress=False)
    log = json.loads((tmp_path / HISTORY_FILE).read_text())
    assert [r["step"] for r in log["history"]] == [1, 2, 3, 4, 5, 6] and resumed.training["steps"] == 6
    lm_rows = [r for r in log["history"] if "lm" in r]
    assert lm_rows and all(np.isfinite(r["lm"]) and r["tokens"] > 0 and r["predicted"] > 0 for r in lm_rows)
    assert log["summary"]["tokens"] == sum(r["tokens"] for r in lm_rows)


def test_identity_warm_up_learns_to_reproduce_source_rows(tmp_path, make_llama, source_tokenizer, corpus_text):
    model = make_llama(len(source_tokenizer.vocabulary), tied=True, seed=5)
    network = HypernetConfig(hidden=32, layers=1, heads=2, residual=False)
    config = PRESETS["tiny"][1].replace(steps=41, identity_steps=40, identity_learning_rate=3e-3, grad_clip=1.0)
    train(model, [corpus_text], tmp_path, config=config, network=network, source_tokenizer=source_tokenizer,
          device="cpu", progress=False)
    history = json.loads((tmp_path / HISTORY_FILE).read_text())["history"]
    assert history[39]["aux"] < 0.5 * history[0]["aux"]


def test_bad_training_input(tmp_path, make_llama, source_tokenizer):
    model = make_llama(len(source_tokenizer.vocabulary))
    network, config = PRESETS["tiny"]
    with pytest.raises(LexkitError, match="identity_steps"):
        config.replace(identity_steps=config.steps)
    with pytest.raises(LexkitError, match="no such corpus file"):
        train(model, str(tmp_path / "missing.txt"), tmp_path, config=config, network=network,
              source_tokenizer=source_tokenizer, device="cpu", progress=False)


# ------------------------------------------------------------------------------------------------------------
# transplant and CLI
def test_transplant_copies_anchors_and_uses_both_heads(trained, source_tokenizer, target_tokenizer):
    model, network, out = trained
    result = transplant(model, target_tokenizer, "hypernetwork", hypernetwork=out, source_tokenizer=source_tokenizer,
                        device="cpu")
    source, target = TransferTokenizer.from_any(source_tokenizer), TransferTokenizer.from_any(target_tokenizer)
    new_in = result.model.get_input_embeddings().weight
    new_out = result.model.get_output_embeddings().weight
    predicted = [p for p in result.provenance if p.estimate == "hypernetwork"]
    copied = [p for p in result.provenance if p.status == "copied"]
    assert predicted and copied and "output" in result.reports
    for entry in copied[:20]:
        assert torch.equal(new_in[entry.target_id], model.get_input_embeddings().weight[entry.source_id])
    table = piece_table(model.get_input_embeddings().weight, model.get_output_embeddings().weight)
    ids = [p.target_id for p in predicted[:10]]
    expected = network.predict([source.decompose(target.vocabulary.tokens[i].content) for i in ids], table)
    assert torch.allclose(new_in[ids], expected[:, 0], atol=1e-5)
    assert torch.allclose(new_out[ids], expected[:, 1], atol=1e-5)
    assert not torch.allclose(new_in[ids], new_out[ids])


def test_transplant_needs_the_matching_network(trained, make_llama, source_tokenizer, target_tokenizer):
    _, _, out = trained
    with pytest.raises(LexkitError, match="hypernetwork=PATH"):
        transplant(make_llama(len(source_tokenizer.vocabulary)), target_tokenizer, "hypernetwork",
                   source_tokenizer=source_tokenizer)
    other = make_llama(len(source_tokenizer.vocabulary), tied=False, seed=9)
    with pytest.raises(LexkitError, match="trained for"):
        transplant(other, target_tokenizer, "hypernetwork", hypernetwork=out, source_tokenizer=source_tokenizer)


def test_cli_train_then_transplant(tmp_path, make_llama, source_tokenizer, target_tokenizer, corpus_text):
    @click.group(cls=LexkitGroup)
    @click.pass_context
    def cli(ctx: click.Context) -> None:
        ctx.obj = {"verbose": False}

    cli.add_command(hypernet)
    cli.add_command(transplant_command)
    source = tmp_path / "source"
    make_llama(len(source_tokenizer.vocabulary), tied=True, seed=6).save_pretrained(source)
    TransferTokenizer.from_any(source_tokenizer).hf.save_pretrained(source)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(corpus_text, encoding="utf-8")
    target = target_tokenizer.save(tmp_path / "target")
    hn = tmp_path / "hn"
    trained = CliRunner().invoke(cli, ["hypernet", "train", "--model", str(source), "--corpus", str(corpus),
                                       "-o", str(hn), "--preset", "tiny", "--steps", "3", "--device", "cpu",
                                       "--json"])
    assert trained.exit_code == 0, trained.output
    assert json.loads(trained.stdout)["steps"] == 3
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["transplant", "--model", str(source), "--tokenizer", str(target), "-o",
                                      str(out), "--method", "hypernetwork", "--hypernetwork", str(hn), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["method"] == "hypernetwork"
    assert AutoModelForCausalLM.from_pretrained(out).config.vocab_size == len(target_tokenizer.vocabulary)
    missing = CliRunner().invoke(cli, ["transplant", "--model", str(source), "--tokenizer", str(target), "-o",
                                       str(tmp_path / "x"), "--method", "hypernetwork", "--hypernetwork",
                                       str(tmp_path / "nothing")])
    assert missing.exit_code == 1 and missing.output.startswith("lexkit: error: ")
    assert missing.output.count("\n") == 1
