"""`lexkit demo` end to end on the embedded corpus, with the real GPT-2 and o200k from the fixtures."""

from __future__ import annotations

import _resources
from click.testing import CliRunner

from lexkit.cli.main import main


def test_demo_trains_and_reports_against_real_tokenizers(tmp_path, monkeypatch):
    _resources.fixture_path("gpt2", "tokenizer.json")
    _resources.fixture_path("tiktoken")
    monkeypatch.setenv("LEXKIT_FIXTURES", str(_resources.CACHE))
    result = CliRunner().invoke(main, ["demo", "-o", str(tmp_path / "demo"), "-n", "2000"])
    assert result.exit_code == 0, result.output
    assert "report written to" in result.output
    report = (tmp_path / "demo" / "report" / "report.md").read_text()
    for name in ("lexkit-bpe-2k", "gpt2", "o200k"):
        assert f"| {name} |" in report
    assert (tmp_path / "demo" / "bpe" / "tokenizer.json").exists()
