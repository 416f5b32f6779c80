"""``lexkit analyze``'s corpus streams (whole, cut by --max-bytes) and --workers (the same report for any number)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from lexkit import Tokenizer
from lexkit.analysis import sharding
from lexkit.analysis.sharding import TextFiles
from lexkit.cli.main import main
from lexkit.corpus import Corpus
from lexkit.embedded import iter_lines
from lexkit.vocab import BPEConfig, train


def test_text_files_stream_the_whole_corpus_or_stop_past_max_bytes(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("one\ntwo é\nthree\n", encoding="utf-8")
    whole = TextFiles(Corpus(path))
    assert list(whole()) == list(whole()) == ["one\n", "two é\n", "three\n"]  # a fresh stream each call
    assert list(TextFiles(Corpus(path), 5)()) == ["one\n", "two é\n"]  # 4 bytes, then 11: past 5, stop
    assert list(TextFiles(Corpus(path), 4)()) == ["one\n"]


def test_workers_give_the_report_of_one_process(tmp_path, monkeypatch):
    """4 KiB shards, so two workers share a 23 KB corpus; report.json and report.md equal byte for byte."""
    tok_dir = tmp_path / "tok"
    lines = list(iter_lines("prose"))
    Tokenizer(train(lines, BPEConfig(vocab_size=400), progress=False, workers=1)).save(tok_dir)
    corpus = tmp_path / "c.txt"
    corpus.write_text("".join(lines[:600]), encoding="utf-8")
    monkeypatch.setattr(sharding, "SHARD_BYTES", 4096)
    assert len(TextFiles(Corpus(corpus)).shards() or []) > 4
    reports = {}
    for workers in ("1", "2"):
        out = tmp_path / f"r{workers}"
        result = CliRunner().invoke(main, ["analyze", "-t", f"mine={tok_dir}", "-c", f"prose={corpus}", "-o", str(out),
                                           "--no-progress", "--passages", "0", "--workers", workers,
                                           "--max-bytes", "20000"])
        assert result.exit_code == 0, result.output
        reports[workers] = [(out / name).read_bytes() for name in ("report.json", "report.md")]
    assert reports["1"] == reports["2"]
    measured = json.loads(reports["2"][0])["metrics"][0]["bytes"]
    assert 20_000 <= measured < 20_000 + max(map(len, lines))  # cut at the line end past --max-bytes
