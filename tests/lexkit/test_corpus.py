"""Corpus input and parallel pre-token counting, with HF's trainer as the oracle for what is counted."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import FrozenInstanceError
from pathlib import Path

import datasets
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models, trainers

from lexkit.components import byte_level_pre_tokenizer, metaspace_pre_tokenizer
from lexkit.corpus import Corpus, CountConfig, DatasetSource, count_pre_tokens, iter_texts
from lexkit.embedded import iter_lines
from lexkit.errors import CorpusError, UnsupportedComponentError

BYTE_LEVEL = byte_level_pre_tokenizer()
MIXED = "Hello world!\r\n\n  indented line\twith tab\nnaïve café 日本語 😀\nlast line without newline"


def hf_trainer_counts(normalizer, pre_tokenizer, *, files=None, texts=None) -> dict[str, int]:
    """Exact counts HF's trainer accumulates (``train`` on files or ``train_from_iterator``).

    WordLevelTrainer keeps words counted at least ``min_frequency`` times: a word's count is the largest threshold
    whose vocabulary still holds it.
    """
    document = json.loads(HFTokenizer(models.WordLevel(unk_token="[UNK]")).to_str())
    document["normalizer"], document["pre_tokenizer"] = normalizer, pre_tokenizer
    counts: dict[str, int] = {}
    threshold = 1
    while True:
        tokenizer = HFTokenizer.from_str(json.dumps(document))
        trainer = trainers.WordLevelTrainer(vocab_size=10**7, min_frequency=threshold, show_progress=False,
                                            special_tokens=[])
        if files is not None:
            tokenizer.train([str(f) for f in files], trainer)
        else:
            tokenizer.train_from_iterator(texts, trainer)
        words = tokenizer.get_vocab()
        if not words:
            return counts
        for word in words:
            counts[word] = threshold
        threshold += 1


@pytest.fixture
def write(tmp_path: Path):
    def write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8", newline="")
        else:
            path.write_bytes(content)
        return path

    return write


# ---------------------------------------------------------------------------------------------------------------
# Sources


def test_file_items_are_lines_with_their_newline(write):
    path = write("a.txt", "one\r\ntwo\n\nthree\rstill three\x0b\u2028\x85same line")
    assert list(iter_texts(path)) == ["one\r\n", "two\n", "\n", "three\rstill three\x0b\u2028\x85same line"]
    assert list(iter_texts(str(path))) == list(iter_texts(path))


def test_counts_equal_hf_train_on_files_including_newline_pre_tokens(write):
    """The HF finding: ``train(files=...)`` feeds each line with its "\\n" (and "\\r\\n") to the pipeline."""
    path = write("mixed.txt", MIXED)
    expected = hf_trainer_counts(None, BYTE_LEVEL, files=[path])
    assert expected["Ċ"] == 3 and expected["čĊ"] == 1  # the newline survives into HF's counts
    assert count_pre_tokens(path, normalizer=None, pre_tokenizer=BYTE_LEVEL, workers=1, progress=False) == expected


@pytest.mark.parametrize(
    ("normalizer", "pre_tokenizer"),
    [
        ({"type": "NFKC"}, byte_level_pre_tokenizer("cl100k")),
        ({"type": "Lowercase"}, {"type": "Whitespace"}),
        ({"type": "Strip", "strip_left": True, "strip_right": True}, metaspace_pre_tokenizer(prepend_scheme="first")),
        (None, None),
    ],
    ids=["nfkc-cl100k", "lowercase-whitespace", "strip-metaspace-first", "none"],
)
def test_counts_equal_hf_trainer_for_files_and_iterables(write, normalizer, pre_tokenizer):
    path = write("mixed.txt", MIXED * 3)
    assert count_pre_tokens(path, normalizer=normalizer, pre_tokenizer=pre_tokenizer, workers=1,
                            progress=False) == hf_trainer_counts(normalizer, pre_tokenizer, files=[path])
    texts = ["  Hello there", "hello", "", "ﬁne  wörds\n", "  "]
    assert count_pre_tokens(texts, normalizer=normalizer, pre_tokenizer=pre_tokenizer, workers=1,
                            progress=False) == hf_trainer_counts(normalizer, pre_tokenizer, texts=texts)


def test_counts_equal_per_line_hf_pre_tokenization_on_real_text(tmp_path):
    path = tmp_path / "prose.txt"
    lines = list(iter_lines("prose"))
    path.write_text("".join(lines), encoding="utf-8", newline="")
    pre = HFTokenizer.from_str(json.dumps({**json.loads(HFTokenizer(models.BPE()).to_str()),
                                           "pre_tokenizer": BYTE_LEVEL})).pre_tokenizer
    expected = Counter(piece for line in lines for piece, _ in pre.pre_tokenize_str(line))
    assert count_pre_tokens(path, normalizer=None, pre_tokenizer=BYTE_LEVEL, workers=2, progress=False,
                            block_bytes=50_000) == dict(expected)


def test_directories_recurse_sorted_and_skip_hidden_files(write, tmp_path):
    write("corpus/b.txt", "b\n")
    write("corpus/a.txt", "a\n")
    write("corpus/sub/c.md", "c\n")
    write("corpus/.hidden.txt", "hidden\n")
    write("corpus/.git/config", "hidden too\n")
    assert list(iter_texts(tmp_path / "corpus")) == ["a\n", "b\n", "c\n"]


def test_globs_and_several_sources_in_order(write, tmp_path):
    write("g/x1.txt", "x1\n")
    write("g/x2.txt", "x2\n")
    write("g/y.md", "y\n")
    corpus = Corpus(str(tmp_path / "g" / "x*.txt"), ["in memory"], tmp_path / "g" / "y.md")
    assert list(iter_texts(corpus)) == ["x1\n", "x2\n", "in memory", "y\n"]
    assert "x*.txt" in repr(corpus)


def test_globs_follow_shell_rules_for_hidden_files(write, tmp_path):
    write("h/.secret.txt", "hidden\n")
    write("h/shown.txt", "shown\n")
    assert list(iter_texts(str(tmp_path / "h" / "*.txt"))) == ["shown\n"]
    assert list(iter_texts(str(tmp_path / "h" / ".*.txt"))) == ["hidden\n"]
    assert list(iter_texts(str(tmp_path / "**" / "shown.txt"))) == ["shown\n"]


def test_iterables_are_texts_one_item_each():
    assert list(iter_texts(["a b", "", "c\n"])) == ["a b", "", "c\n"]
    assert list(iter_texts(text for text in ["x", "y"])) == ["x", "y"]


def test_paths_inside_an_iterable_are_refused_with_the_fix(tmp_path):
    with pytest.raises(CorpusError, match=r"Corpus\(path1, path2\)"):
        list(iter_texts([tmp_path / "a.txt"]))
    with pytest.raises(CorpusError, match="decode"):
        list(iter_texts(b"bytes"))


def test_datasets_saved_to_disk_data_files_and_objects(tmp_path):
    dataset = datasets.Dataset.from_dict({"text": ["hello world", "foo bar", None], "body": ["b1", "b2", "b3"]})
    dataset.save_to_disk(str(tmp_path / "saved"))
    datasets.DatasetDict({"train": dataset, "test": dataset.select([0])}).save_to_disk(str(tmp_path / "dict"))
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps({"text": t}) for t in ["a b", "c"]), encoding="utf-8")

    assert list(iter_texts(tmp_path / "saved")) == ["hello world", "foo bar"]  # None rows are left out
    assert list(iter_texts(tmp_path / "saved", text_column="body")) == ["b1", "b2", "b3"]
    assert list(iter_texts(DatasetSource(str(tmp_path / "dict"), split="test"))) == ["hello world"]
    assert list(iter_texts(tmp_path / "data.jsonl")) == ["a b", "c"]
    assert list(iter_texts(dataset)) == ["hello world", "foo bar"]
    assert count_pre_tokens(tmp_path / "saved", normalizer=None, pre_tokenizer={"type": "Whitespace"}, workers=1,
                            progress=False) == {"hello": 1, "world": 1, "foo": 1, "bar": 1}


def test_dataset_errors_name_the_column_and_split(tmp_path):
    datasets.Dataset.from_dict({"content": ["x"]}).save_to_disk(str(tmp_path / "saved"))
    with pytest.raises(CorpusError, match=r"no column 'text'.*content.*text_column"):
        list(iter_texts(tmp_path / "saved"))
    with pytest.raises(CorpusError, match="no split 'validation'"):
        datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["x"]})}).save_to_disk(
            str(tmp_path / "dict"))
        list(iter_texts(DatasetSource(str(tmp_path / "dict"), split="validation")))


def test_hub_names_stream_through_load_dataset(monkeypatch):
    calls = []

    def load_dataset(path, name=None, *, split, streaming):
        calls.append((path, name, split, streaming))
        return datasets.Dataset.from_dict({"text": ["from the hub"]})

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    assert list(iter_texts("hf:owner/corpus")) == ["from the hub"]
    assert list(iter_texts(DatasetSource("owner/corpus", split="test", config="en"))) == ["from the hub"]
    assert calls == [("owner/corpus", None, "train", True), ("owner/corpus", "en", "test", True)]


def test_dataset_load_failures_become_corpus_errors(monkeypatch):

    def load_dataset(*args, **kwargs):
        raise ConnectionError("offline")

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    with pytest.raises(CorpusError, match=r"dataset 'owner/corpus'.*offline.*split="):
        list(iter_texts("hf:owner/corpus"))


def test_reading_plain_files_does_not_import_datasets(write):
    path = write("a.txt", "a\n")
    code = ("import sys; from lexkit.corpus import count_pre_tokens; "
            f"count_pre_tokens({str(path)!r}, normalizer=None, pre_tokenizer=None, workers=1, progress=False); "
            "assert 'datasets' not in sys.modules, 'datasets was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------------------------------
# Invalid UTF-8, binary files, empty and missing input


def test_invalid_utf8_names_the_file_and_exact_byte_offset(write):
    good = "é line\n" * 2000  # 16,000 bytes of valid two-byte text, several blocks of 1,000 bytes
    path = write("corpus.txt", good.encode() + b"ok \xff bad\n" + b"more\n")
    offset = len(good.encode()) + 3
    for workers in (1, 2):
        with pytest.raises(CorpusError) as info:
            count_pre_tokens(path, normalizer=None, pre_tokenizer=BYTE_LEVEL, workers=workers, progress=False,
                             block_bytes=1000)
        assert f"corpus.txt: invalid UTF-8 at byte {offset} (0xff)" in str(info.value)
        assert "errors='replace' or 'skip'" in str(info.value) and "--utf8-errors replace" in str(info.value)
    with pytest.raises(CorpusError, match=f"at byte {offset} "):
        list(iter_texts(path))


def test_truncated_multibyte_character_is_reported_at_its_first_byte(write):
    path = write("cut.txt", b"abc\xe6\x97\n")
    with pytest.raises(CorpusError, match=r"at byte 3 \(0xe6\)"):
        list(iter_texts(path))


@settings(deadline=None, max_examples=int(os.environ.get("LEXKIT_MAX_EXAMPLES", 200)))
@given(
    data=st.lists(st.sampled_from([b"a", b" ", b"\n", b"\r", b"\r\n", "é".encode(), "😀".encode(), b"\xff",
                                   b"\xe6\x97", b"\x80", "\u2028".encode()]), max_size=40).map(b"".join),
    block_bytes=st.integers(1, 64),
)
def test_any_bytes_read_in_any_blocks_give_python_decoding_split_at_newlines(data, block_bytes):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "random.txt"
        path.write_bytes(data)

        def count(errors: str) -> dict[str, int]:
            return count_pre_tokens(path, normalizer=None, pre_tokenizer=None, workers=1, progress=False,
                                    errors=errors, block_bytes=block_bytes)

        raw_lines = data.split(b"\n")
        raw_lines = [line + b"\n" for line in raw_lines[:-1]] + ([raw_lines[-1]] if raw_lines[-1] else [])
        replaced = Counter(line.decode("utf-8", "replace") for line in raw_lines)
        valid = Counter()
        for line in raw_lines:
            try:
                valid[line.decode("utf-8")] += 1
            except UnicodeDecodeError:
                pass
        if not any(replaced):
            with pytest.raises(CorpusError):
                count("replace")
            return
        assert count("replace") == dict(replaced)
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            with pytest.raises(CorpusError, match=f"invalid UTF-8 at byte {exc.start} "):
                count("error")
            if any(valid):
                assert count("skip") == dict(valid)
        else:
            assert count("error") == dict(replaced)


def test_replace_and_skip_policies(write, caplog):
    path = write("bad.txt", b"good\nba\xffd\nalso good\nworse\xfe\xfe\n")
    assert list(iter_texts(path, errors="replace")) == ["good\n", "ba\ufffdd\n", "also good\n", "worse\ufffd\ufffd\n"]
    with caplog.at_level(logging.WARNING, logger="lexkit.corpus"):
        assert list(iter_texts(path, errors="skip")) == ["good\n", "also good\n"]
    assert "bad.txt: skipped 2 line(s) with invalid UTF-8 (the first at byte 7)" in caplog.text
    counts = count_pre_tokens(path, normalizer=None, pre_tokenizer={"type": "WhitespaceSplit"}, workers=2,
                              progress=False, errors="skip")
    assert counts == {"good": 2, "also": 1}


def test_binary_file_in_a_directory_is_an_error_or_skipped(write, tmp_path, caplog):
    write("d/text.txt", "text\n")
    write("d/image.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(CorpusError, match=r"image\.png: looks binary.*binary='skip'"):
        list(iter_texts(tmp_path / "d"))
    with caplog.at_level(logging.WARNING, logger="lexkit.corpus"):
        assert list(iter_texts(tmp_path / "d", binary="skip")) == ["text\n"]
    assert "image.png: skipped, it looks binary" in caplog.text


def test_empty_corpus_names_the_empty_sources(write, tmp_path):
    empty = write("empty.txt", "")
    (tmp_path / "nothing").mkdir()
    with pytest.raises(CorpusError, match=r"no text: .*empty\.txt, .*nothing, list of texts are empty"):
        count_pre_tokens(Corpus(empty, tmp_path / "nothing", []), normalizer=None, pre_tokenizer=None,
                         workers=1, progress=False)
    with pytest.raises(CorpusError, match="no text"):
        list(iter_texts([""]))
    with pytest.raises(CorpusError, match="no sources"):
        list(iter_texts(Corpus()))


def test_an_empty_source_beside_text_only_warns(write, caplog):
    empty = write("empty.txt", "")
    with caplog.at_level(logging.WARNING, logger="lexkit.corpus"):
        assert list(iter_texts(Corpus(empty, ["text"]))) == ["text"]
    assert "empty.txt has no text" in caplog.text


def test_missing_paths_and_empty_globs_are_named(tmp_path):
    with pytest.raises(CorpusError, match=r"'.*missing\.txt' does not exist.*hf:"):
        list(iter_texts(str(tmp_path / "missing.txt")))
    with pytest.raises(CorpusError, match=r"glob '.*\*\.nope' matches no files"):
        count_pre_tokens(str(tmp_path / "*.nope"), normalizer=None, pre_tokenizer=None, progress=False)


# ---------------------------------------------------------------------------------------------------------------
# Parallel counting


@pytest.mark.parametrize("normalizer", [{"type": "NFKC"}, None])  # None: the block kernel, packed from workers
def test_counts_do_not_depend_on_workers_or_block_size(tmp_path, normalizer):
    path = tmp_path / "code.txt"
    path.write_text("".join(iter_lines("code")), encoding="utf-8", newline="")
    results = [
        count_pre_tokens(path, normalizer=normalizer, pre_tokenizer=byte_level_pre_tokenizer("o200k"),
                         workers=workers, progress=False, block_bytes=block_bytes)
        for workers, block_bytes in [(1, 4 << 20), (1, 100_000), (2, 100_000), (2, 37_000)]
    ]
    assert all(result == results[0] for result in results)
    assert all(list(result) == list(results[1]) for result in results[1:])  # same order for the same blocks
    assert sum(results[0].values()) > 100_000


def test_min_count_and_option_checks(write):
    path = write("a.txt", "a a b\n")
    assert count_pre_tokens(path, normalizer=None, pre_tokenizer={"type": "WhitespaceSplit"}, min_count=2,
                            workers=1, progress=False) == {"a": 2}
    with pytest.raises(ValueError, match="errors="):
        count_pre_tokens(path, normalizer=None, pre_tokenizer=None, errors="ignore", progress=False)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="workers=0"):
        count_pre_tokens(path, normalizer=None, pre_tokenizer=None, workers=0, progress=False)


def test_progress_bar_goes_to_stderr(write, capsys):
    path = write("a.txt", "a b\n" * 100)
    count_pre_tokens(path, normalizer=None, pre_tokenizer=None, workers=1, progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "counting pre-tokens" in captured.err


def test_unsupported_component_error_reaches_the_caller_from_workers(write):
    path = write("a.txt", "a b\n" * 10)
    with pytest.raises(UnsupportedComponentError, match="UnicodeScripts"):
        count_pre_tokens(path, normalizer=None, pre_tokenizer={"type": "UnicodeScripts"}, workers=2,
                         progress=False)


def test_count_config_is_one_frozen_checked_object(write):
    path = write("a.txt", "a a b\n")
    config = CountConfig(workers=1, min_count=2)
    assert count_pre_tokens(path, normalizer=None, pre_tokenizer={"type": "WhitespaceSplit"}, config=config,
                            progress=False) == {"a": 2}
    with pytest.raises(FrozenInstanceError):
        config.workers = 2  # type: ignore[misc]
    with pytest.raises(ValueError, match="got both config= and the options"):
        count_pre_tokens(path, normalizer=None, pre_tokenizer=None, config=config, workers=2, progress=False)
    with pytest.raises(ValueError, match="shard_bytes= apply to the Dask engine only"):
        CountConfig(shard_bytes=1 << 20)
    with pytest.raises(ValueError, match="engine='spark'"):
        CountConfig(engine="spark")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="binary='ignore'"):
        CountConfig(binary="ignore")  # type: ignore[arg-type]
