"""Reports: compute, render to HTML/Markdown/JSON, and check the page in a real headless browser."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from lexkit import Tokenizer
from lexkit.analysis.report import analyze, load_tokenizer, write_report
from lexkit.cli.main import main
from lexkit.embedded import default_corpus, iter_lines
from lexkit.vocab import BPEConfig, train


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    small = Tokenizer(train(list(iter_lines("prose")), BPEConfig(vocab_size=600), progress=False, workers=1))
    large = Tokenizer(train(list(iter_lines("prose")), BPEConfig(vocab_size=1500), progress=False, workers=1))
    prose, code = default_corpus("prose"), default_corpus("code")[:5]
    report = analyze({"bpe-600": small, "bpe-1500": large},
                     {"prose": lambda: iter(prose), "code": lambda: iter(code)}, progress=False)
    out = tmp_path_factory.mktemp("report")
    write_report(report, out)
    return out, report


def test_report_files_and_contents(report_dir):
    out, report = report_dir
    assert sorted(p.name for p in out.iterdir()) == [
        "bytes_per_token.png", "index.html", "rank_frequency.png", "report.json", "report.md", "token_lengths.png"]
    data = json.loads((out / "report.json").read_text())
    assert {m["tokenizer"] for m in data["metrics"]} == {"bpe-600", "bpe-1500"}
    # a larger vocabulary compresses the same text better
    assert report.get("bpe-1500", "prose").bytes_per_token > report.get("bpe-600", "prose").bytes_per_token
    assert data["comparison_percent_fewer_tokens"]["bpe-1500"]["bpe-600"] > 0
    markdown = (out / "report.md").read_text()
    assert "| bpe-600 |" in markdown and "<details>" in markdown


def test_html_renders_in_headless_chromium_without_console_errors(report_dir, tmp_path):
    out, _ = report_dir
    chromedriver = shutil.which("chromedriver")
    assert chromedriver, ("chromedriver not found: install Debian's chromium and chromium-driver "
                          "(`make test` does: see the system-deps target)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2000"):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        driver.get((out / "index.html").as_uri())
        assert driver.title == "lexkit token-efficiency report"
        assert len(driver.find_elements(By.TAG_NAME, "table")) >= 4
        images = driver.find_elements(By.TAG_NAME, "img")
        assert len(images) == 3
        assert all(driver.execute_script("return arguments[0].naturalWidth", img) > 100 for img in images)
        # the token viewer: passages from both corpora, each tokenizer's spans tiling the passage text
        assert driver.find_element(By.CSS_SELECTOR, ".lkv").get_attribute("data-ready") == "1"
        labels = [h.text for h in driver.find_elements(By.CSS_SELECTOR, ".lkv-passage h3")]
        assert any(label.startswith("prose") for label in labels) and any(label.startswith("code") for label in labels)
        texts = {p["label"]: p["text"] for p in report_dir[1].viewer.passages}
        for section in driver.find_elements(By.CSS_SELECTOR, ".lkv-passage"):
            label = section.find_element(By.TAG_NAME, "h3").text
            for cell in section.find_elements(By.CSS_SELECTOR, ".lkv-cell"):
                joined = driver.execute_script("return Array.from(arguments[0].querySelectorAll('.lkv-tok'), "
                                               "s => s.textContent).join('')", cell)
                assert joined == texts[label]
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert errors == []
        shot = tmp_path / "report.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 20_000
    finally:
        driver.quit()


def test_analyze_command_and_bad_corpus_spec(tmp_path):
    tok_dir = tmp_path / "tok"
    Tokenizer(train(list(iter_lines("prose")), BPEConfig(vocab_size=400), progress=False, workers=1)).save(tok_dir)
    corpus = tmp_path / "c.txt"
    corpus.write_text("".join(list(iter_lines("prose"))[:500]), encoding="utf-8")
    gold = tmp_path / "gold.tsv"
    gold.write_text("unhappiness\tun happi ness\nreadable\tread able\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["analyze", "-t", f"mine={tok_dir}", "-c", f"prose={corpus}",
                                       "-o", str(tmp_path / "r"), "--no-progress", "--json", "--gold", str(gold)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["tokenizer"] == "mine"
    assert "Morphological boundary alignment" in (tmp_path / "r" / "report.md").read_text()
    bad = CliRunner().invoke(main, ["analyze", "-t", str(tok_dir), "-c", str(corpus), "-o", str(tmp_path / "x")])
    assert bad.exit_code == 1 and "NAME=PATH" in bad.output and not (tmp_path / "x").exists()
    assert load_tokenizer(f"x={tok_dir / 'lexkit.json'}")[0] == "x"


def test_inference_methods_with_shared_engines_equal_fresh_tokenizers(report_dir):
    """The probe reuses the tokenizer and shares its engine with ``scaffold``; each encoder built afresh agrees,
    and so does long-first's own fast engine."""
    from lexkit.analysis.metrics import _runs_its_tokenizer_json, segmentation_difference
    from lexkit.analysis.report import _distinct_words, _usable_encoders

    _, report = report_dir
    tok = Tokenizer(train(list(iter_lines("prose")), BPEConfig(vocab_size=600), progress=False, workers=1))
    usable = _usable_encoders(tok)
    assert usable["scaffold"].encoder.engine is tok.encoder.engine
    words = _distinct_words(iter(default_corpus("prose")), 5000)
    fresh = segmentation_difference(Tokenizer(tok.vocabulary), list(usable), words)
    assert report.extra["inference_methods"]["bpe-600"] == fresh
    # long-first is probed on its HF reference, not a fast engine of its own: the engine's ids are the same
    assert _runs_its_tokenizer_json(usable["long-first"]) and not _runs_its_tokenizer_json(usable["scaffold"])
    texts = [" " + w for w in words]
    engine_ids = Tokenizer(tok.vocabulary, encoder="long-first").encode_batch(texts, disallowed_special=())
    assert [e.ids for e in usable["long-first"].encoder.backend.encode_batch(texts)] == engine_ids
