"""`lexkit demo` end to end on the embedded corpus, with the real GPT-2 and o200k from the fixtures."""

from __future__ import annotations

import json

import _resources
from click.testing import CliRunner

from lexkit.cli.main import main


def test_demo_trains_and_reports_against_real_tokenizers(tmp_path, monkeypatch):
    _resources.fixture_path("gpt2", "tokenizer.json")
    _resources.fixture_path("tiktoken")
    monkeypatch.setenv("LEXKIT_FIXTURES", str(_resources.CACHE))
    result = CliRunner().invoke(main, ["demo", "-o", str(tmp_path / "demo"), "-n", "2000"])
    assert result.exit_code == 0, result.output
    assert "report written to" in result.output and "stability: bytes/token differs" in result.output
    assert "\r" not in result.output  # not a terminal: plain lines, no bar fragments
    report = (tmp_path / "demo" / "report" / "report.md").read_text()
    for name in ("lexkit-bpe-2k", "gpt2", "o200k"):
        assert f"| {name} |" in report
    assert (tmp_path / "demo" / "bpe" / "tokenizer.json").exists()
    assert "rarer half's share" in report
    data = json.loads((tmp_path / "demo" / "report" / "report.json").read_text())
    assert data["held_out_bytes"]["prose"] > 100_000  # was 32 KB (8,977 tokens)
    assert all(m["rarer_half_share"] > 0.01 for m in data["metrics"])  # "below median" read 0.0% everywhere
    gpt2 = next(m for m in data["metrics"] if m["tokenizer"] == "gpt2" and m["corpus"] == "prose")
    assert gpt2["tokens"] > 25_000
    page = (tmp_path / "demo" / "viewer.html").read_text()
    assert 'class="lkv"' in page and "Turkish" in page
