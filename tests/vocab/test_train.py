"""Training entry points: HF parity on the real corpus, fast counting, `train()` and `lexkit train` for all three.

The HF comparison trains ``tokenizers`` from files with ByteLevel + ``ByteLevel.alphabet()`` and the same
``min_frequency`` on the first 2 MB of the English fixture (``make fixtures``); bench/bench_train.py runs it on
10 MB at 8k and 32k.
"""

from __future__ import annotations

import json

import _resources
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from strategies import PIECES
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models, pre_tokenizers, trainers

from lexkit import LexkitError, Tokenizer
from lexkit.cli.main import main
from lexkit.components import build_pipeline, byte_level_pre_tokenizer
from lexkit.corpus import CountConfig, count_pre_tokens
from lexkit.corpus.splitting import fast_counter
from lexkit.embedded import default_corpus, iter_lines
from lexkit.formats import hf
from lexkit.vocab import BPEConfig, LBPEConfig, train

# --- HF parity -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_2mb(tmp_path_factory):
    source = _resources.fixture_path("corpus", "corpus_10M.txt")
    data = source.read_bytes()[:2_000_000]
    path = tmp_path_factory.mktemp("corpus") / "corpus_2M.txt"
    path.write_bytes(data[:data.rfind(b"\n") + 1])
    return path


@pytest.mark.parametrize("vocab_size", [2000, 8000])
def test_plain_bpe_matches_hf_trained_from_files(corpus_2mb, vocab_size):
    hf_tokenizer = HFTokenizer(models.BPE())
    hf_tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf_tokenizer.train([str(corpus_2mb)], trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=["<|endoftext|>"],
    ))
    theirs = json.loads(hf_tokenizer.to_str())["model"]
    vocabulary = train(corpus_2mb, BPEConfig(vocab_size=vocab_size, special_tokens=("<|endoftext|>",)),
                       progress=False)
    ours = hf.to_hf(vocabulary)["model"]
    assert ours["merges"] == theirs["merges"]
    assert ours["vocab"] == theirs["vocab"]


# --- fast counting -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gpt2", "cl100k", "o200k"])
def test_fast_counting_equals_the_pipeline_on_real_text(corpus_2mb, name):
    pre = byte_level_pre_tokenizer(name)
    assert fast_counter(None, pre) is not None
    fast = count_pre_tokens(corpus_2mb, normalizer=None, pre_tokenizer=pre, workers=1, progress=False)
    pipeline = build_pipeline(None, pre)
    lines = corpus_2mb.read_text(encoding="utf-8").splitlines(keepends=True)
    assert fast == dict(pipeline.count(lines))


ASCII_PIECES = [p for p in PIECES if p.isascii()] + ["'S", "'LL", "x'd", "  \n", " \t ", "\x0b", "\x1c ", "a\r\n"]


@pytest.mark.parametrize("name", ["gpt2", "cl100k", "o200k"])
@given(texts=st.lists(st.lists(st.one_of(st.sampled_from(ASCII_PIECES), st.text(alphabet=st.characters(
    max_codepoint=127), max_size=8)), max_size=10).map("".join), max_size=6))
def test_fast_counting_equals_the_pipeline_on_adversarial_ascii(name, texts):
    pre = byte_level_pre_tokenizer(name)
    counter = fast_counter(None, pre)
    assert counter is not None
    assert counter(texts) == build_pipeline(None, pre).count(texts, surface=False)


def test_fast_counting_applies_only_to_the_presets():
    assert fast_counter({"type": "Lowercase"}, byte_level_pre_tokenizer()) is None
    assert fast_counter(None, byte_level_pre_tokenizer(add_prefix_space=True)) is None
    assert fast_counter(None, {"type": "Whitespace"}) is None


# --- train() -----------------------------------------------------------------------------------------


def test_train_with_options_and_errors():
    lines = list(iter_lines("prose"))[:200]
    vocabulary = train(lines, algorithm="scaffold-bpe", vocab_size=400, progress=False, workers=1)
    assert vocabulary.metadata["trainer"] == "scaffold-bpe" and vocabulary.model_size == 400
    with pytest.raises(LexkitError, match="unknown algorithm 'bytepair'"):
        train(lines, algorithm="bytepair", vocab_size=400)
    with pytest.raises(LexkitError, match="vocab_size=32000"):
        train(lines, algorithm="lbpe")
    with pytest.raises(LexkitError, match="both a configuration and the options"):
        train(lines, LBPEConfig(vocab_size=300), vocab_size=400)
    with pytest.raises(LexkitError, match="takes a BPEConfig"):
        train(lines, LBPEConfig(vocab_size=300), algorithm="bpe")


def test_train_takes_one_count_config():
    lines = list(iter_lines("prose"))[:200]
    counted = train(lines, BPEConfig(vocab_size=300), counting=CountConfig(workers=1), progress=False)
    loose = train(lines, BPEConfig(vocab_size=300), workers=1, progress=False)
    assert counted.merges == loose.merges and len(counted.merges) == 300 - 256
    with pytest.raises(LexkitError, match="both counting= and the options"):
        train(lines, BPEConfig(vocab_size=300), counting=CountConfig(workers=1), workers=2)
    with pytest.raises(LexkitError, match="visual-bpe trains on code grids"):
        train(lines, algorithm="visual-bpe", vocab_size=300)


# --- lexkit train ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("docs")
    for i, document in enumerate(default_corpus("prose")[:30]):
        (folder / f"doc{i:02d}.txt").write_text(document, encoding="utf-8")
    return folder


def _run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize(
    ("algorithm", "extra", "encoder", "files"),
    [
        ("scaffold-bpe", (), "scaffold", ["lexkit.json"]),
        ("lbpe", (), "fewest-tokens", ["lexkit.json"]),
        ("lbpe", ("--lbpe-inference", "long-first"), "long-first", ["lexkit.json", "tokenizer.json"]),
        ("lbpe", ("--lbpe-inference", "longest-token"), "longest-token", ["lexkit.json"]),
        ("bpe", (), "bpe", ["lexkit.json", "tokenizer.json"]),
    ],
)
def test_cli_trains_each_algorithm_deterministically(corpus_dir, tmp_path, algorithm, extra, encoder, files):
    outputs = []
    for name in ("first", "second"):
        out = tmp_path / name
        result = _run("train", algorithm, *extra, "-n", "800", "-o", str(out), "--no-progress",
                      "--json", str(corpus_dir))
        assert result.exit_code == 0, result.output
        payload = json.loads(result.output)
        assert payload["encoder"] == encoder and payload["files"] == files and payload["vocab_size"] == 800
        outputs.append(out)
    assert sorted(p.name for p in outputs[0].iterdir()) == sorted(files)
    for name in files:
        assert (outputs[0] / name).read_bytes() == (outputs[1] / name).read_bytes()
    tokenizer = Tokenizer.load(outputs[0])
    assert tokenizer.encoder_name == encoder
    text = "Scaffolds hold up long tokens: Arizona, 1234 and tabs\there."
    assert tokenizer.decode(tokenizer.encode(text)) == text
    if "tokenizer.json" in files:
        assert HFTokenizer.from_file(str(outputs[0] / "tokenizer.json")).encode(text).ids == tokenizer.encode(text)


@pytest.mark.parametrize("algorithm", ["scaffold-bpe", "lbpe"])
@pytest.mark.parametrize("case", ["empty", "binary", "invalid-utf8", "tiny-vocab"])
def test_cli_bad_input_is_one_line_and_leaves_no_output(tmp_path, algorithm, case):
    source = tmp_path / "in"
    source.mkdir()
    size = "1000"
    if case == "empty":
        (source / "a.txt").write_text("")
    elif case == "binary":
        (source / "a.bin").write_bytes(bytes(range(256)) * 10)
    elif case == "invalid-utf8":
        (source / "a.txt").write_bytes(b"hello\nworld \xff\xfe here\n")
    else:
        (source / "a.txt").write_text("hello world\n")
        size = "100"
    out = tmp_path / "out"
    result = _run("train", algorithm, "-n", size, "-o", str(out), "--no-progress", str(source))
    message = result.output.strip()
    assert result.exit_code != 0 and message.startswith("lexkit: error:") and "\n" not in message, message
    assert not out.exists()
