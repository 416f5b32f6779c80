"""The KV-cache path of `HFCausalLM` equals the no-cache path, on a tiny random LlamaForCausalLM built in-test."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lexkit import LexkitError
from lexkit.sampling import ByteEnsemble, ByteSampler, HFCausalLM, TokenizerAdapter, load_byte_sampler
from lexkit.sampling._oracles import TOY_EOS, TOY_TOKENS, toy_bpe


@pytest.fixture(scope="module")
def tiny_llama():
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=TOY_EOS + 2, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, bos_token_id=TOY_EOS + 1, eos_token_id=TOY_EOS,
    )
    return transformers.LlamaForCausalLM(config).eval()


def test_cache_path_equals_no_cache_path(tiny_llama):
    adapter = TokenizerAdapter(TOY_TOKENS, toy_bpe)
    cached_lm = HFCausalLM(tiny_llama, device="cpu")
    plain_lm = HFCausalLM(tiny_llama, device="cpu", use_cache=False)
    cached, plain = ByteSampler(cached_lm, adapter), ByteSampler(plain_lm, adapter)
    text = b"aabbabaaababbbaa"
    state_c, state_p = cached.start(b"ab"), plain.start(b"ab")
    for byte in text:
        np.testing.assert_allclose(cached.next_byte_logprobs(state_c), plain.next_byte_logprobs(state_p),
                                   atol=1e-5)
        assert abs(state_c.prefix_logprob - state_p.prefix_logprob) < 1e-4
        state_c, state_p = cached.push(state_c, byte), plain.push(state_p, byte)
    # one model call per pushed byte (plus the prompt's splits and T_n)
    assert cached_lm.forward_calls == plain_lm.forward_calls
    assert cached_lm.tokens_run < plain_lm.tokens_run


def test_prefix_logprobs_match_teacher_forcing(tiny_llama):
    import torch

    lm = HFCausalLM(tiny_llama, device="cpu")
    ids = [0, 3, 1, 5, 2]
    with torch.no_grad():
        logits = tiny_llama(torch.tensor([[TOY_EOS + 1, *ids]])).logits[0].double()
    expected = torch.log_softmax(logits, -1)
    total = float(sum(expected[k, ids[k]] for k in range(len(ids))))
    # ask for a different prefix first so the cache must be cropped and reused
    lm.next_token_logprobs([[0, 3, 4, 4]])
    prefix_lp, rows = lm.next_token_logprobs([ids, ids[:2]])
    assert abs(prefix_lp[0] - total) < 1e-5
    np.testing.assert_allclose(rows[0], expected[-1].numpy(), atol=1e-5)
    np.testing.assert_allclose(rows[1], expected[2].numpy(), atol=1e-5)


def _greedy(model: ByteSampler | ByteEnsemble, prompt: bytes, max_bytes: int) -> bytes:
    """Greedy bytes by hand: the argmax of ``next_byte_probs`` (EOS is outcome 256), recomputed from the prompt."""
    out = b""
    while len(out) < max_bytes:
        choice = int(np.argmax(model.next_byte_probs(prompt + out)))
        if choice == 256:
            break
        out += bytes([choice])
    return out


def _save_tiny_llama(folder, vocab_size: int, bos: int, eos: int) -> None:
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=vocab_size, hidden_size=16, intermediate_size=32,
                                      num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                                      bos_token_id=bos, eos_token_id=eos)
    transformers.LlamaForCausalLM(config).save_pretrained(folder)


@pytest.fixture(scope="module")
def gpt2_tiny_dir(tmp_path_factory):
    """A tiny random Llama saved with GPT-2's tokenizer.json."""
    import shutil

    from _resources import gpt2_tokenizer_json

    folder = tmp_path_factory.mktemp("gpt2-tiny")
    _save_tiny_llama(folder, 50257, 50256, 50256)
    shutil.copy(gpt2_tokenizer_json(), folder / "tokenizer.json")
    return folder


def test_cli_sample_on_a_saved_tiny_model(gpt2_tiny_dir):
    """`lexkit sample` end to end: a tiny random Llama saved with GPT-2's tokenizer.json."""
    from click.testing import CliRunner

    from lexkit.cli.sample import sample

    result = CliRunner().invoke(sample, ["--model", str(gpt2_tiny_dir), "--prompt", "def hello_wor", "--max-bytes",
                                         "4", "--temperature", "0", "--mask-floor", "1e-3", "--device", "cpu",
                                         "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    # the expectation through the library API on fresh loads: greedy = the argmax of each exact next-byte
    # distribution, and the forward calls of one generate() call
    expected = _greedy(load_byte_sampler(gpt2_tiny_dir, device="cpu", mask_floor=1e-3), b"def hello_wor", 4)
    fresh = load_byte_sampler(gpt2_tiny_dir, device="cpu", mask_floor=1e-3)
    assert fresh.generate("def hello_wor", 4, temperature=0) == expected
    assert payload["prompt"] == "def hello_wor" and payload["bytes"] == len(expected)
    assert payload["completion"] == expected.decode("utf-8", errors="replace")
    assert payload["model_calls"] == fresh.lm.forward_calls > 0


def test_cli_sample_ensemble_across_tokenizers(gpt2_tiny_dir, tmp_path):
    """`lexkit sample --ensemble`: a GPT-2-tokenized and a Mistral-SentencePiece-tokenized tiny random Llama
    generate together (the SentencePiece folder holds only tokenizer.model); a wrong --weights count fails."""
    import shutil

    from _resources import mistral_sp_model
    from click.testing import CliRunner

    from lexkit.cli.main import main

    _save_tiny_llama(tmp_path, 32000, 1, 2)
    shutil.copy(mistral_sp_model(), tmp_path / "tokenizer.model")
    common = ["sample", "--model", str(gpt2_tiny_dir), "--ensemble", str(tmp_path), "--prompt", "Hello wor",
              "--max-bytes", "3", "--temperature", "0", "--mask-floor", "1e-3", "--device", "cpu"]
    result = CliRunner().invoke(main, [*common, "--ensemble-mode", "mixture", "--weights", "0.3,0.7", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)

    def ensemble() -> ByteEnsemble:
        members = [load_byte_sampler(gpt2_tiny_dir, device="cpu", mask_floor=1e-3),
                   load_byte_sampler(tmp_path, device="cpu", mask_floor=1e-3)]
        return ByteEnsemble(members, mode="mixture", weights=[0.3, 0.7])

    expected = _greedy(ensemble(), b"Hello wor", 3)
    fresh = ensemble()
    assert fresh.generate("Hello wor", 3, temperature=0) == expected
    assert payload["models"] == 2 and payload["bytes"] == len(expected)
    assert payload["completion"] == expected.decode("utf-8", errors="replace")
    assert payload["model_calls"] == sum(m.lm.forward_calls for m in fresh.members) > 0
    result = CliRunner().invoke(main, [*common, "--weights", "1,2,3"])
    assert result.exit_code == 1
    assert "--weights has 3 values but there are 2 models" in result.stderr


def test_fim_context_is_conditioned_on(tiny_llama):
    """`ContextLM` scores prefixes relative to the fixed context; `fim_generate` greedily follows that model."""
    from lexkit.sampling.fim import ContextLM, fim_generate

    lm = HFCausalLM(tiny_llama, device="cpu", use_cache=False)
    context = [0, 4, 1, 7]
    conditioned = ContextLM(lm, context)
    prefix_lp, rows = conditioned.next_token_logprobs([[2, 3]])
    full_lp, full_rows = lm.next_token_logprobs([[*context, 2, 3]])
    base_lp, _ = lm.next_token_logprobs([context])
    assert prefix_lp[0] == pytest.approx(full_lp[0] - base_lp[0])
    np.testing.assert_allclose(rows, full_rows)

    adapter = TokenizerAdapter(TOY_TOKENS, toy_bpe)
    byte_lm = ByteSampler(HFCausalLM(tiny_llama, device="cpu"), adapter)
    sentinels = (2, 3, 5)  # toy token ids standing in for <fim_prefix>, <fim_suffix>, <fim_middle>
    middle = fim_generate(byte_lm, b"ab", b"ba", sentinels=sentinels, max_bytes=5, temperature=0)
    psm = ByteSampler(ContextLM(HFCausalLM(tiny_llama, device="cpu"), [2, *toy_bpe(b"ab"), 3, *toy_bpe(b"ba"), 5]),
                 adapter)
    assert middle == psm.generate(b"", 5, temperature=0)
    with pytest.raises(LexkitError, match="fmt="):
        fim_generate(byte_lm, b"a", b"b", sentinels=sentinels, max_bytes=1, fmt="mps")
