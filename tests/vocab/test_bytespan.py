"""ByteSpan: span rules on synthetic signals, vocabulary construction and fills, WordPiece inference and round trips,
the byte LM plumbing, and (on real text) better morphological alignment than BPE at the same size."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from strategies import varied_text
from tokenizers import Tokenizer as HFTokenizer

from lexkit import Tokenizer
from lexkit.cli.main import main
from lexkit.embedded import iter_lines
from lexkit.errors import ByteLMError, LexkitError, VocabularyError
from lexkit.formats import hf
from lexkit.vocab import BPEConfig, ByteSpanConfig, ByteSpanTrainer, train
from lexkit.vocab.byte_lm import ByteSignals
from lexkit.vocab.bytespan import PrecomputedSignals, initial_contents, span_boundaries

INITIAL = len(initial_contents())


def _bounds(signal, starts, text: bytes, constraint: str, theta: float = 0.0) -> list[int]:
    return span_boundaries(np.array(signal, float), np.array(starts, bool), np.frombuffer(text, np.uint8),
                           constraint=constraint, theta=theta).astype(int).tolist()


def test_span_rules_on_synthetic_signals():
    # monotonic: a byte joins while the signal falls; every rise is a spike that opens a span
    assert _bounds([5, 3, 1, 4, 2, 6], [1, 0, 0, 0, 0, 0], b"abcdef", "monotonic") == [1, 0, 0, 1, 0, 1]
    # combined: also joins below theta even when the signal rises
    assert _bounds([5, 3, 1, 1.5, 2, 6], [1, 0, 0, 0, 0, 0], b"abcdef", "combined", 1.8) == [1, 0, 0, 0, 1, 1]
    # global: only the threshold counts
    assert _bounds([5, 3, 1, 1.5, 2, 6], [1, 0, 0, 0, 0, 0], b"abcdef", "global", 1.8) == [1, 1, 0, 0, 1, 1]
    # never across a pre-token boundary, even with a falling signal
    assert _bounds([5, 3, 1, 0.5], [1, 0, 1, 0], b"abcd", "monotonic") == [1, 0, 1, 0]
    # a space that starts a pre-token always joins the next byte, whatever the signal
    assert _bounds([1, 9, 1], [1, 0, 0], b" ab", "monotonic") == [1, 0, 0]
    assert _bounds([1, 9], [1, 1], b" a", "monotonic") == [1, 1]  # unless that byte starts a pre-token itself


class _MorphLM:
    """Entropy that spikes at the first byte of every morph and falls inside it: spans should be the morphs."""

    name = "morph-oracle"

    def __init__(self, morph_starts: set[bytes]) -> None:
        self.morph_starts = morph_starts

    def score(self, texts):
        out = []
        for text in texts:
            signal = np.zeros(len(text))
            level = 0.0
            for i in range(len(text)):
                spike = text[i] == 0x20 or any(text.startswith(m, i) and text[i - 1:i] != b" "
                                                for m in self.morph_starts)
                level = 5.0 if spike or i == 0 else max(level - 1.0, 0.5)
                signal[i] = level
            out.append(ByteSignals(signal.copy(), signal))
        return out


def _morph_vocabulary(**changes) -> object:
    texts = [" walking talked walks talking jumped jumps\n"] * 20
    config = ByteSpanConfig(vocab_size=INITIAL + 5, constraint="monotonic", min_frequency=2, **changes)
    return ByteSpanTrainer(config, byte_lm=_MorphLM({b"ing", b"ed", b"s"})).train_from_texts(texts)


def test_spans_follow_the_signal_and_become_wordpiece_tokens():
    vocabulary = _morph_vocabulary()
    learned = {t.content for t in vocabulary.tokens[INITIAL:]}
    assert learned == {b" walk", b" talk", b" jump", b"##ing", b"##ed"}  # "##s" is one byte: already there
    assert vocabulary.model == "wordpiece" and vocabulary.metadata["encoder"] == "longest-prefix"
    tokenizer = Tokenizer(vocabulary)
    pieces = [tokenizer.token_to_bytes(i) for i in tokenizer.encode(" talking jumps")]
    assert pieces == [b" talk", b"##ing", b" jump", b"##s"]


@functools.cache
def _trained(**changes) -> object:
    lines = list(iter_lines("prose"))
    return train(lines, ByteSpanConfig(vocab_size=1400, **changes), progress=False)


def test_frequency_fill_reaches_the_size_and_continues_with_bpe_when_spans_run_out():
    vocabulary = _trained()
    assert len(vocabulary) == 1400
    info = vocabulary.metadata["bytespan"]
    assert info["spans_in_vocabulary"] + info["bpe_fill_tokens"] == 1400 - INITIAL
    texts = [" walking talked walks talking jumped jumps\n"] * 20
    small = train(texts, ByteSpanConfig(vocab_size=INITIAL + 12), progress=False)
    assert len(small) == INITIAL + 12 and small.metadata["bytespan"]["bpe_fill_tokens"] > 0
    contents = [t.content for t in small.tokens]
    assert len(set(contents)) == len(contents)


@pytest.mark.parametrize("changes", [
    {"fill": "seeding"}, {"fill": "seeding", "seed_proportion": 0.0}, {"constraint": "global", "global_min_count": 3},
    {"constraint": "monotonic", "signal": "surprisal"},
])
def test_every_constraint_and_fill_reaches_the_size(changes):
    vocabulary = _trained(**changes)
    assert len(vocabulary) == 1400
    if changes.get("seed_proportion") == 0.0:  # BPE in WordPiece form: no span at all
        assert vocabulary.metadata["bytespan"]["spans_in_vocabulary"] == 0


def test_hashes_round_trip_although_wordpiece_marks_continuations_with_them():
    texts = ["## heading\n", "###x ##y a##b #include\n"] * 30
    vocabulary = train(texts, ByteSpanConfig(vocab_size=INITIAL + 30), progress=False)
    tokenizer = Tokenizer(vocabulary)
    engine = HFTokenizer.from_str(hf.dumps(hf.to_hf(vocabulary)))
    for text in [*texts, "##", "\n##'s", "a###"]:
        ids = tokenizer.encode(text)
        assert tokenizer.decode(ids) == text and engine.decode(ids) == text


@settings(max_examples=60)
@given(text=varied_text)
def test_round_trip_and_hf_agree(text):
    tokenizer = _tokenizer()
    ids = tokenizer.encode(text)
    # WordPiece maps pre-tokens longer than max_input_chars_per_word (100) to <|unk|>, as HF does
    if all(len(piece) <= 100 for piece in _pieces(text)):
        assert tokenizer.decode(ids) == text
    engine = _hf()
    assert engine.encode(text, add_special_tokens=False).ids == ids
    assert engine.decode(ids) == tokenizer.decode(ids)


@functools.cache
def _tokenizer() -> Tokenizer:
    return Tokenizer(_trained())


@functools.cache
def _hf() -> HFTokenizer:
    return HFTokenizer.from_str(hf.dumps(hf.to_hf(_trained())))


def _pieces(text: str) -> list[str]:
    from lexkit.components import build_pipeline

    vocabulary = _trained()
    return build_pipeline(vocabulary.normalizer, vocabulary.pre_tokenizer).pre_tokenize(text)


def test_save_load_and_deterministic(tmp_path):
    tokenizer = _tokenizer()
    tokenizer.save(tmp_path / "a")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["lexkit.json", "tokenizer.json"]
    again = Tokenizer.load(tmp_path / "a")
    text = "Tokenizers split words: unbelievable, résumé 😀 ## end"
    assert again.encode(text) == tokenizer.encode(text) and again.encoder_name == "longest-prefix"
    lines = list(iter_lines("prose"))
    Tokenizer(train(lines, ByteSpanConfig(vocab_size=1400), progress=False)).save(tmp_path / "b")
    assert (tmp_path / "a" / "lexkit.json").read_bytes().replace(b"/a", b"") == \
        (tmp_path / "b" / "lexkit.json").read_bytes().replace(b"/b", b"")


def test_precomputed_signals_and_bad_byte_lms():
    texts = [" walks walked\n"] * 10
    data = [t.encode() for t in texts]
    signals = [ByteSignals(np.linspace(3, 1, len(d)), np.linspace(3, 1, len(d))) for d in data]
    config = ByteSpanConfig(vocab_size=INITIAL + 5, constraint="monotonic", block_bytes=1)
    vocabulary = ByteSpanTrainer(config, byte_lm=PrecomputedSignals(data, signals)).train_from_texts(texts)
    assert vocabulary.metadata["bytespan"]["byte_lm"] == "precomputed"

    class NaNs:
        name = "nan-lm"

        def score(self, blocks):
            return [ByteSignals(np.full(len(b), np.nan), np.zeros(len(b))) for b in blocks]

    with pytest.raises(ByteLMError, match="byte LM 'nan-lm' returned nan as surprisal at byte 0"):
        ByteSpanTrainer(ByteSpanConfig(vocab_size=INITIAL + 5), byte_lm=NaNs()).train_from_texts(texts)
    with pytest.raises(ByteLMError, match=r"returned surprisal of shape \(0,\) for text 0 of 11 bytes"):
        ByteSpanTrainer(config, byte_lm=PrecomputedSignals([], [])).train_from_texts(["other text\n"])


def test_configuration_errors_are_actionable():
    with pytest.raises(VocabularyError, match=f"pass --vocab-size {INITIAL} or more"):
        ByteSpanConfig(vocab_size=300)
    with pytest.raises(VocabularyError, match="constraint 'local' is not one of combined, monotonic, global"):
        ByteSpanConfig(vocab_size=2000, constraint="local")  # type: ignore[arg-type]
    with pytest.raises(VocabularyError, match="seed_proportion"):
        ByteSpanConfig(vocab_size=2000, seed_proportion=1.5)


def test_cli_trains_with_a_saved_byte_lm_and_rejects_misplaced_options(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(iter_lines("prose")))
    runner = CliRunner()
    first = runner.invoke(main, ["train", "bytespan", "-n", "1000", "-o", str(tmp_path / "out"),
                                 "--save-byte-lm", str(tmp_path / "lm"), "--no-progress", str(corpus)])
    assert first.exit_code == 0, first.output
    assert (tmp_path / "lm" / "ngram_byte_lm.npz").exists()
    second = runner.invoke(main, ["train", "bytespan", "-n", "1000", "-o", str(tmp_path / "out2"),
                                  "--byte-lm", str(tmp_path / "lm"), "--signal", "surprisal", "--no-progress",
                                  "--json", str(corpus)])
    assert second.exit_code == 0, second.output
    assert json.loads(second.output)["encoder"] == "longest-prefix"
    saved = json.loads((tmp_path / "out2" / "lexkit.json").read_text())["metadata"]["bytespan"]
    assert saved["byte_lm"] == f"ngram:{tmp_path / 'lm'}"
    wrong = runner.invoke(main, ["train", "bpe", "-n", "300", "-o", str(tmp_path / "x"), "--fill",
                                 "seeding", str(corpus)])
    assert wrong.exit_code == 1 and "--fill is not an option of `lexkit train bpe`; it belongs to `lexkit train bytespan`" in wrong.output
    missing = runner.invoke(main, ["train", "bytespan", "-n", "1000", "-o", str(tmp_path / "y"),
                                   "--byte-lm", str(tmp_path / "nowhere"), str(corpus)])
    assert missing.exit_code == 1 and "no byte LM found" in missing.output


def test_real_english_bytespan_aligns_with_morphology_better_than_bpe():
    """On 400 KB of the English fixture, at 3,000 tokens each: MorphScore on the hunspell gold set."""
    from _resources import corpus_path, hunspell_en_path

    from lexkit.analysis.metrics import morph_score
    from lexkit.analysis.morph_gold import affix_segmentations, corpus_word_counts

    lines = []
    with open(corpus_path(), encoding="utf-8") as handle:
        for line in handle:
            lines.append(line)
            if len(lines) == 8000:
                break
    gold = affix_segmentations(hunspell_en_path("en_US.dic"), hunspell_en_path("en_US.aff"),
                               word_counts=corpus_word_counts(lines), min_count=3)
    assert len(gold) > 300
    morphs = {word: list(parts) for word, parts in gold.items()}
    bytespan = morph_score(Tokenizer(train(lines, ByteSpanConfig(vocab_size=3000), progress=False)), morphs)
    bpe = morph_score(Tokenizer(train(lines, BPEConfig(vocab_size=3000), progress=False, workers=1)), morphs)
    assert bytespan["words"] > 200 and bpe["words"] > 200
    assert bytespan["score"] > bpe["score"] + 0.1


@pytest.fixture
def one_torch_thread():
    """A tiny model gains nothing from threads, and on a busy CI machine spinning threads cost seconds."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_cli_trains_a_byte_transformer_and_keeps_it_beside_the_vocabulary(tmp_path, one_torch_thread):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(iter_lines("prose")))
    runner = CliRunner()
    out = tmp_path / "out"
    result = runner.invoke(main, ["train", "bytespan", "-n", "900", "-o", str(out), "--byte-lm",
                                  "transformer", "--lm-steps", "2", "--max-bytes", "8000", "--no-progress",
                                  str(corpus)])
    assert result.exit_code == 0, result.output
    assert (out / "byte_lm" / "byte_lm.json").exists() and (out / "lexkit.json").exists()
    info = json.loads((out / "lexkit.json").read_text())["metadata"]["bytespan"]
    assert info["byte_lm"] == "transformer" and info["transformer"][0]["steps"] == 2
    assert 8000 <= info["corpus_bytes"] < 9000
    again = runner.invoke(main, ["train", "bytespan", "-n", "900", "-o", str(tmp_path / "again"),
                                 "--byte-lm", str(out / "byte_lm"), "--max-bytes", "8000", "--no-progress",
                                 str(corpus)])
    assert again.exit_code == 0, again.output


def test_dask_counting_does_not_apply():
    with pytest.raises(LexkitError, match="drop engine='dask'"):
        train(["some text\n"], ByteSpanConfig(vocab_size=1000), engine="dask", progress=False)
