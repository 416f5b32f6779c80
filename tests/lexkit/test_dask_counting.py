"""Pre-token counting on a real 2-worker Dask `LocalCluster` (loopback) against the single-process path."""

from __future__ import annotations

import logging
import socketserver
import threading
import time
from pathlib import Path

import datasets
import distributed
import pytest
from _resources import corpus_path

from lexkit.components import byte_level_pre_tokenizer, metaspace_pre_tokenizer
from lexkit.corpus import Corpus, CountConfig, DatasetSource, count_pre_tokens
from lexkit.corpus.dask import _shards, file_shards
from lexkit.corpus.reading import open_dataset
from lexkit.corpus.sources import plan_sources
from lexkit.errors import ClusterError, CorpusError
from lexkit.vocab import BPEConfig, train

BYTE_LEVEL = byte_level_pre_tokenizer("gpt2")
PIPELINES = [
    (None, BYTE_LEVEL),  # the fast ASCII path
    ({"type": "NFKC"}, {"type": "Whitespace"}),  # the general component path
    (None, metaspace_pre_tokenizer()),  # a surface map that joins pieces
]
TEXT = ("Hello world!\r\n\n  indented line\twith tab\nnaïve café 日本語 😀\n" + "x" * 300 + " long line\n"
        "numbers 12345 and 6789\n\nlast line without newline")


@pytest.fixture(scope="module")
def client():
    """A 2-process, 1-thread-each LocalCluster on loopback, shared by this module and always closed."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as dask_client:
        yield dask_client


def local(sources, normalizer=None, pre_tokenizer=BYTE_LEVEL, **options):
    return count_pre_tokens(sources, normalizer=normalizer, pre_tokenizer=pre_tokenizer, workers=1, progress=False,
                            **options)


def on_dask(client, sources, normalizer=None, pre_tokenizer=BYTE_LEVEL, **options):
    return count_pre_tokens(sources, normalizer=normalizer, pre_tokenizer=pre_tokenizer, engine="dask",
                            scheduler=client, progress=False, **options)


@pytest.mark.parametrize("shard_bytes", [1, 5, 16, 64, 10_000])
def test_file_shards_cut_at_line_ends_and_cover_the_file(tmp_path, shard_bytes):
    path = tmp_path / "corpus.txt"
    path.write_bytes(TEXT.encode("utf-8"))
    data = path.read_bytes()
    ranges = file_shards(path, shard_bytes)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
    assert all(end > start for start, end in ranges)
    assert all(left[1] == right[0] for left, right in zip(ranges, ranges[1:]))
    assert all(data[end - 1:end] == b"\n" for _, end in ranges[:-1])
    assert b"".join(data[start:end] for start, end in ranges) == data
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert file_shards(empty, shard_bytes) == []


@pytest.mark.parametrize(("normalizer", "pre_tokenizer"), PIPELINES)
def test_files_give_the_local_counts_in_the_local_order(client, tmp_path, normalizer, pre_tokenizer):
    (tmp_path / "a.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "b.txt").write_text("second file\nwith the same words: Hello world!\n" * 7, encoding="utf-8")
    expected = local(tmp_path, normalizer, pre_tokenizer)
    # tiny shards: many tasks, several tree levels, lines longer than a shard
    got = on_dask(client, tmp_path, normalizer, pre_tokenizer, shard_bytes=16)
    assert got == expected
    assert list(got) == list(expected)
    assert on_dask(client, tmp_path, normalizer, pre_tokenizer, min_count=3) == local(
        tmp_path, normalizer, pre_tokenizer, min_count=3)


def test_real_corpus_counts_and_merges_match_the_local_path(client, tmp_path):
    with open(corpus_path("corpus_10M.txt"), "rb") as handle:
        head = handle.read(1 << 20)
    sample = tmp_path / "sample.txt"
    sample.write_bytes(head[:head.rfind(b"\n") + 1])
    expected = local(sample)
    got = on_dask(client, sample, shard_bytes=64 << 10)
    assert got == expected and list(got) == list(expected)
    config = BPEConfig(vocab_size=1200, min_frequency=2)
    reference = train(sample, config, counting=CountConfig(workers=1), progress=False)
    distributed_vocabulary = train(sample, config, counting=CountConfig(engine="dask", scheduler=client), progress=False)
    assert len(reference.merges) == 1200 - 256
    assert distributed_vocabulary.merges == reference.merges
    assert distributed_vocabulary.tokens == reference.tokens


def test_datasets_stream_shard_and_match_the_local_path(client, tmp_path):
    rows = [f"row {i}: naïve text number {i % 7} " + "word " * (i % 5) for i in range(60)]
    table = datasets.Dataset.from_dict({"text": rows[:30] + [None] * 2 + rows[30:], "id": list(range(62))})
    table.save_to_disk(str(tmp_path / "saved"))
    for part in range(3):
        table.shard(3, part, contiguous=True).to_json(str(tmp_path / f"part{part}.jsonl"))
    table.to_parquet(str(tmp_path / "table.parquet"))
    streamed = table.to_iterable_dataset(num_shards=3)
    corpus = Corpus(DatasetSource(str(tmp_path / "saved")), str(tmp_path / "part*.jsonl"),
                    str(tmp_path / "table.parquet"), streamed, datasets.DatasetDict({"train": table}))
    expected = local(corpus)
    got = on_dask(client, corpus)
    assert got == expected and list(got) == list(expected)
    assert got["Ġtext"] == 5 * 60  # every source was read, each row once
    # data files are opened as streams (no conversion to Arrow), and a streaming dataset is cut by its n_shards
    plan = plan_sources(Corpus(str(tmp_path / "part0.jsonl")), "error")
    assert isinstance(open_dataset(plan.units[0][1], "text")[0], datasets.IterableDataset)
    shards = list(_shards(client, plan_sources(Corpus(streamed), "error"), text_column="text", workers=2, shard_bytes=1))
    assert [(shard.index, shard.count) for shard, _, _ in shards] == [(0, 3), (1, 3), (2, 3)]
    saved = list(_shards(client, plan_sources(tmp_path / "saved", "error"), text_column="text", workers=2, shard_bytes=1))
    assert len(saved) == 8  # a map-style dataset: 4 row ranges per worker thread


def test_iterables_and_mixed_sources(client, tmp_path):
    (tmp_path / "file.txt").write_text(TEXT, encoding="utf-8")
    corpus = Corpus(["an iterable of texts", "Hello again"] * 50, tmp_path / "file.txt", ("more", "text"))
    expected = local(corpus)
    got = on_dask(client, corpus, shard_bytes=64)
    assert got == expected and list(got) == list(expected)


def test_invalid_utf8_names_the_file_and_offset_from_any_worker(client, tmp_path, caplog):
    path = tmp_path / "bad.txt"
    good = b"fine line\n" * 50
    path.write_bytes(good + b"broken \xff byte\n" + good + b"again \xfe\n")
    with pytest.raises(CorpusError, match=rf"bad.txt: invalid UTF-8 at byte {len(good) + 7} \(0xff\)"):
        on_dask(client, path, shard_bytes=100)
    with caplog.at_level(logging.WARNING):
        got = on_dask(client, path, shard_bytes=100, errors="skip")
    assert got == local(path, errors="skip")
    assert f"skipped 2 line(s) with invalid UTF-8 (the first at byte {len(good) + 7})" in caplog.text
    with pytest.raises(CorpusError, match="does not exist"):
        on_dask(client, tmp_path / "missing.txt")


def test_reduce_min_count_prunes_partial_tables_within_its_bound(client, tmp_path):
    rare = ["zz" + "".join(chr(97 + int(digit)) for digit in str(i)) for i in range(400)]  # one-off words
    lines = [f"common words here {i % 3} {rare[i]}\n" for i in range(400)]
    (tmp_path / "c.txt").write_text("".join(lines), encoding="utf-8")
    exact = local(tmp_path)
    shards = len(file_shards(tmp_path / "c.txt", 200))
    pruned = on_dask(client, tmp_path, shard_bytes=200, reduce_min_count=3)
    assert set(pruned) < set(exact)
    assert not any(piece.startswith("Ġzz") for piece in pruned) and f"Ġ{rare[0]}" in exact
    for piece, count in pruned.items():
        assert exact[piece] - 2 * shards <= count <= exact[piece]
    assert pruned["Ġwords"] == exact["Ġwords"] == 400  # frequent in every shard: exact


def test_scheduler_address_connects_and_unreachable_fails_fast(client, tmp_path):
    (tmp_path / "a.txt").write_text(TEXT, encoding="utf-8")
    assert on_dask(client.scheduler.address, tmp_path / "a.txt") == local(tmp_path / "a.txt")
    start = time.perf_counter()
    with pytest.raises(ClusterError, match=r"could not reach the Dask scheduler at 'tcp://127.0.0.1:9' within 1 s"):
        on_dask("tcp://127.0.0.1:9", tmp_path / "a.txt", timeout=1)
    assert time.perf_counter() - start < 10
    with socketserver.TCPServer(("127.0.0.1", 0), _NotAScheduler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            with pytest.raises(ClusterError, match="answered, but not as a Dask scheduler"):
                on_dask(f"tcp://127.0.0.1:{server.server_address[1]}", tmp_path / "a.txt", timeout=2)
        finally:
            server.shutdown()


class _NotAScheduler(socketserver.BaseRequestHandler):
    """Answers every connection like a web server would."""

    def handle(self) -> None:
        self.request.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 4)


def test_options_are_checked_before_a_cluster_starts(tmp_path):
    (tmp_path / "a.txt").write_text(TEXT, encoding="utf-8")
    with pytest.raises(ValueError, match="engine='dask'"):
        count_pre_tokens(tmp_path, normalizer=None, pre_tokenizer=BYTE_LEVEL, scheduler="tcp://127.0.0.1:9")
    with pytest.raises(ValueError, match="reduce_min_count=0"):
        count_pre_tokens(tmp_path, normalizer=None, pre_tokenizer=BYTE_LEVEL, engine="dask", reduce_min_count=0)
    with pytest.raises(CorpusError, match="does not exist"):
        count_pre_tokens(Path(tmp_path / "nope"), normalizer=None, pre_tokenizer=BYTE_LEVEL, engine="dask")
