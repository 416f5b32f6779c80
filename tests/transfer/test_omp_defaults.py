"""The OMP defaults' machinery: exact two-level top-k, the reduced-dimension search, the GGUF embedding reader,
the device defaults and the CLI's settings line."""

from __future__ import annotations

import json

import click
import pytest
import torch
from _resources import fixture_path, smollm2_gguf
from click.testing import CliRunner

from lexkit.cli.main import LexkitGroup
from lexkit.cli.transfer import transplant
from lexkit.transfer.gguf_embeddings import gguf_tokenizer_type, read_gguf_embeddings
from lexkit.transfer.methods import OmpDefaults
from lexkit.transfer.omp import _top_m, batched_omp, nearest_candidates, omp_coefficients
from lexkit.transfer.tokenizer import TransferTokenizer


@pytest.mark.parametrize(("width", "m"), [(1000, 5), (1007, 64), (39234, 256), (40, 8)])
def test_two_level_top_m_finds_the_same_scores_as_a_full_top_k(width, m):
    scores = torch.rand(30, width, generator=torch.Generator().manual_seed(width))
    found = _top_m(scores, m)
    torch.testing.assert_close(torch.gather(scores, 1, found), scores.topk(m, dim=1).values, rtol=0, atol=0)


def test_reduced_search_is_exact_when_the_atoms_span_few_dimensions():
    generator = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(96, 12, generator=generator))[0].T  # 12 orthonormal rows in 96 dims
    atoms = torch.randn(500, 12, generator=generator) @ basis
    targets = torch.randn(40, 12, generator=generator) @ basis
    exact = nearest_candidates(targets, atoms, 10)
    reduced = nearest_candidates(targets, atoms, 10, search_dim=12)
    assert torch.equal(exact.sort(dim=1).values, reduced.sort(dim=1).values)
    everything = torch.arange(500).expand(40, -1)
    assert torch.equal(batched_omp(targets, atoms, 4)[0], batched_omp(targets, atoms, 4, candidates=everything)[0])


def test_first_chunk_estimate_is_reported_once():
    generator = torch.Generator().manual_seed(1)
    atoms, targets = torch.randn(300, 16, generator=generator), torch.randn(3000, 16, generator=generator)
    estimates: list[float] = []
    indices, _ = omp_coefficients(targets, atoms, 3, prefilter=32, search_dim=8, estimate=estimates.append)
    assert len(estimates) == 1 and estimates[0] > 0 and indices.shape == (3000, 3)


def test_gguf_embedding_reader_matches_transformers_dequantization():
    from lexkit.transfer._models import load_causal_lm

    gguf = smollm2_gguf()
    read = read_gguf_embeddings(gguf)
    model, _ = load_causal_lm(gguf)
    assert read.output is None  # SmolLM2 is tied: no output.weight tensor
    assert torch.equal(read.input, model.get_input_embeddings().weight.detach().float())
    side = TransferTokenizer.from_any(gguf)
    assert read.tokens == side.hf.convert_ids_to_tokens(list(range(len(side))))  # the donor check's fast path


def test_device_defaults_and_the_cli_settings_line(tmp_path, make_llama, source_tokenizer, target_tokenizer):
    assert OmpDefaults.for_device("cpu") == OmpDefaults(k=8, prefilter=64, search_dim=128, center=True)
    assert OmpDefaults.for_device("cuda:0").k == 64

    @click.group(cls=LexkitGroup)
    @click.pass_context
    def cli(ctx: click.Context) -> None:
        ctx.obj = {"verbose": False}

    cli.add_command(transplant)
    source, donor = tmp_path / "source", tmp_path / "donor"
    make_llama(len(source_tokenizer.vocabulary)).save_pretrained(source)
    TransferTokenizer.from_any(source_tokenizer).hf.save_pretrained(source)
    make_llama(len(target_tokenizer.vocabulary), seed=1).save_pretrained(donor)
    TransferTokenizer.from_any(target_tokenizer).hf.save_pretrained(donor)
    target = target_tokenizer.save(tmp_path / "target")
    for extra, line, center in (([], "k=8, pre-filter 64 nearest anchors (searched in 128 dimensions), centred", True),
                                (["--no-center", "--prefilter", "0", "-k", "3"],
                                 "k=3, exact OMP over all anchors, uncentred (mergekit)", False)):
        out = tmp_path / f"out{len(extra)}"
        result = CliRunner().invoke(
            cli, ["transplant", "--model", str(source), "--tokenizer", str(target), "-o", str(out), "--donor",
                  str(donor), "--device", "cpu", *extra])
        assert result.exit_code == 0, result.output
        assert result.stderr.splitlines()[0] == f"lexkit: omp on cpu: {line}"
        params = json.loads((out / "transplant_report.json").read_text(encoding="utf-8"))["matrices"]["input"]["params"]
        assert params["center"] is center and params["k"] == (8 if center else 3)


def test_chunks_coded_in_worker_threads_match_one_batch_at_a_time_and_restore_the_thread_count():
    generator = torch.Generator().manual_seed(2)
    atoms, targets = torch.randn(400, 24, generator=generator), torch.randn(5000, 24, generator=generator)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # two worker threads, whatever this machine has
    try:
        indices, coefficients = omp_coefficients(targets, atoms, 4, prefilter=40)
        assert torch.get_num_threads() == 2  # the workers' single-threaded setting did not leak out
    finally:
        torch.set_num_threads(threads)
    candidates = nearest_candidates(targets, atoms, 40)
    for start in (0, 2048, 4992):  # the first chunk, the second worker's first chunk, the ragged last one
        expected, weights = batched_omp(targets[start:start + 8], atoms, 4, candidates=candidates[start:start + 8])
        assert (indices[start:start + 8] == expected.numpy()).all()
        torch.testing.assert_close(torch.from_numpy(coefficients[start:start + 8]), weights, rtol=1e-4, atol=1e-5)


def test_gguf_tokenizer_type_builds_the_tokenizer_autotokenizer_picks():
    from transformers import AutoTokenizer

    qwen = fixture_path("qwen_coder", "q.gguf")
    assert gguf_tokenizer_type(qwen) == {"tokenizer_type": "qwen2"}
    assert gguf_tokenizer_type(smollm2_gguf()) == {}  # llama: AutoTokenizer's own lookup decides
    fast = AutoTokenizer.from_pretrained(str(qwen.parent), gguf_file=qwen.name, tokenizer_type="qwen2")
    full = AutoTokenizer.from_pretrained(str(qwen.parent), gguf_file=qwen.name)
    assert type(fast) is type(full) and fast.get_vocab() == full.get_vocab()
    assert fast.backend_tokenizer.to_str() == full.backend_tokenizer.to_str()
    assert fast.special_tokens_map == full.special_tokens_map and fast.chat_template == full.chat_template
