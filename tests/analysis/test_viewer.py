"""The token viewer in a real headless browser: spans tile the text, hover shows ids, the typing box encodes
with the same ids as lexkit in Python (real GPT-2 and o200k from the fixtures, lexkit-trained BPE variants)."""

from __future__ import annotations

import shutil
import time

import _resources
import pytest

from lexkit import Tokenizer
from lexkit.analysis.report import load_tokenizer
from lexkit.analysis.viewer import Passage, build_viewer, color_tokens, render_page
from lexkit.analysis.viewer_model import NotRunnable, js_pattern, live_model
from lexkit.analysis.viewer_passages import TURKISH, default_passages, pick_passages
from lexkit.embedded import iter_lines
from lexkit.vocab import TRAINERS, train

# Typed into the box: prose, contractions, digits, code, whitespace runs, Turkish, CJK, emoji, a special token's text.
TYPED = ("Hello world, it's 12345678 o'clock!\n\n    def f(x):\n\treturn x**2  # DON'T\n"
         + TURKISH + " 日本語のテキスト 🙂👍🏽 naïve café <|endoftext|>  \n")


@pytest.fixture(scope="module")
def tokenizers(monkeypatch_module):
    monkeypatch_module.setenv("TIKTOKEN_CACHE_DIR", str(_resources.fixture_path("tiktoken")))
    lines = list(iter_lines("prose"))[:20000]
    out = {"gpt2": Tokenizer.load(_resources.gpt2_tokenizer_json()), "o200k": load_tokenizer("tiktoken:o200k_base")[1]}
    for algorithm in ("bpe", "scaffold-bpe", "lbpe"):
        vocabulary = train(lines, TRAINERS[algorithm][0](vocab_size=700), algorithm=algorithm, progress=False,
                           workers=1)
        # lbpe's default reading (fewest-tokens) runs only in Python; its merge-order reading runs in the page
        encoder = "long-first" if algorithm == "lbpe" else None
        out[f"lexkit-{algorithm}"] = Tokenizer(vocabulary, encoder=encoder)
    out["longest-token"] = Tokenizer(out["lexkit-bpe"].vocabulary, encoder="longest-token")
    out["fewest-tokens"] = Tokenizer(out["lexkit-lbpe"].vocabulary)
    return out


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromedriver = shutil.which("chromedriver")
    assert chromedriver, ("chromedriver not found: install Debian's chromium and chromium-driver "
                          "(`make system-deps`)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update",
                 f"--user-data-dir={tmp_path_factory.mktemp('profile')}", "--window-size=1400,2000"):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    yield driver
    driver.quit()


def test_js_pattern_rewrites_scoped_flags_and_possessives():
    assert js_pattern(r"(?i:'s|'t)| ?[^\s\p{L}\p{N}]++[\r\n]*|\p{N}{1,3}") == \
        r"(?:'[sS]|'[tT])| ?[^\s\p{L}\p{N}]+[\r\n]*|\p{N}{1,3}"
    with pytest.raises(NotRunnable, match="JavaScript"):
        js_pattern(r"(?>atomic)")


def test_page_spans_hover_and_typing_match_python(tokenizers, browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    passages = default_passages()
    data = build_viewer(tokenizers, passages)
    claimed = [t["name"] for t in data.tokenizers if t["live"]]
    assert claimed == ["gpt2", "o200k", "lexkit-bpe", "lexkit-scaffold-bpe", "lexkit-lbpe"]
    page = tmp_path / "view.html"
    page.write_text(render_page(data), encoding="utf-8")
    browser.get(page.as_uri())
    assert browser.find_element(By.CSS_SELECTOR, ".lkv").get_attribute("data-ready") == "1"
    names = list(tokenizers)

    sections = browser.find_elements(By.CSS_SELECTOR, ".lkv-passage")
    assert len(sections) == len(passages)
    for section, passage in zip(sections, passages):
        cells = section.find_elements(By.CSS_SELECTOR, ".lkv-cell")
        assert [c.get_attribute("data-tokenizer") for c in cells] == names
        for cell in cells:
            tokenizer = tokenizers[cell.get_attribute("data-tokenizer")]
            spans = cell.find_elements(By.CSS_SELECTOR, ".lkv-tok")
            joined = browser.execute_script(
                "return Array.from(arguments[0].querySelectorAll('.lkv-tok'), s => s.textContent).join('')", cell)
            assert joined == passage.text, cell.get_attribute("data-tokenizer")
            ids = [int(i) for s in spans for i in s.get_attribute("data-ids").split()]
            assert ids == tokenizer.encode(passage.text, disallowed_special=())

    # hover: the tooltip names the ids of the token under the pointer (one plain token, one split character)
    turkish = sections[2].find_element(By.CSS_SELECTOR, ".lkv-cell[data-tokenizer='gpt2']")
    spans = turkish.find_elements(By.CSS_SELECTOR, ".lkv-tok")
    split = next(s for s in spans if len(s.get_attribute("data-ids").split()) > 1)
    for span in (spans[0], spans[5], split):
        ActionChains(browser).move_to_element(span).perform()
        tip = browser.find_element(By.CSS_SELECTOR, ".lkv-tip").text
        shown = [line.split(" ")[1] for line in tip.splitlines() if line.startswith("id ")]
        assert shown == span.get_attribute("data-ids").split()
    assert "not valid UTF-8" in tip

    # typing: a short text key by key, then a long mixed one pasted; every claimed encoder matches Python
    box = browser.find_element(By.CSS_SELECTOR, ".lkv-box textarea")
    for text in ("Hello world, it's 2024!", TYPED):
        if text == TYPED:
            browser.execute_script("arguments[0].value = arguments[1];"
                                   "arguments[0].dispatchEvent(new Event('input'))", box, text)
        else:
            box.send_keys(text)
        deadline = time.time() + 30
        while browser.execute_script("return document.querySelector('.lkv').dataset.liveText") != text:
            assert time.time() < deadline, "the typing box did not re-tokenize"
            time.sleep(0.1)
        for cell in browser.find_elements(By.CSS_SELECTOR, ".lkv-live .lkv-cell"):
            name = cell.get_attribute("data-tokenizer")
            if name not in claimed:
                assert cell.get_attribute("data-live") == "0"
                assert (f"not run in this page: encoder '{tokenizers[name].encoder_name}' runs only in Python"
                        in cell.text)
                continue
            ids = [int(i) for s in cell.find_elements(By.CSS_SELECTOR, ".lkv-tok")
                   for i in s.get_attribute("data-ids").split()]
            assert ids == tokenizers[name].encode(text, disallowed_special=()), name
            assert cell.find_element(By.CSS_SELECTOR, ".lkv-run").get_attribute("data-exact") == "1"
    scaffold = browser.find_elements(By.CSS_SELECTOR, ".lkv-live .lkv-cell[data-tokenizer='lexkit-scaffold-bpe'] "
                                                      ".lkv-scf")
    assert scaffold, "no demolished scaffold token marked in the typed text"
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_viewer_refuses_what_the_page_cannot_run(tokenizers):
    assert "runs only in Python" in str(pytest.raises(NotRunnable, live_model, tokenizers["longest-token"]).value)
    assert "runs only in Python" in str(pytest.raises(NotRunnable, live_model, tokenizers["fewest-tokens"]).value)
    budget = build_viewer({"o200k": tokenizers["o200k"], "gpt2": tokenizers["gpt2"]},
                          [Passage("x", "x")], live_budget=1_000_000)
    o200k, gpt2 = budget.tokenizers
    assert o200k["live"] is None and "budget" in o200k["why"] and gpt2["live"] is not None


def test_pick_passages_finds_traits_and_color_tokens_tile_the_text(tokenizers):
    lines = ["plain words here\n"] * 50 + ["x = {'a': [1, 2]};  y = f(x)\n", "    indented    code\n",
                                            "Ölçüm 1234567 ve 98765 değerleri\n", "Привет мир, как дела у вас\n"]
    labels = [p.label for p in pick_passages("c", lines, limit=5, width=34)]
    assert {"c · non-Latin script", "c · numbers", "c · code"} <= set(labels)
    painted = color_tokens(tokenizers["gpt2"], "a  b\nçç")
    plain = painted.replace("\x1b[0m", "")
    for colour in range(256):
        plain = plain.replace(f"\x1b[30;48;5;{colour}m", "")
    assert plain == "a··b↵\nçç"


def test_visual_tokens_show_their_grid_patch_on_hover(browser, tmp_path):
    import numpy as np
    from _image_grids import digit_images
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from lexkit.analysis.viewer import patch_box
    from lexkit.vocab.visual import VisualBPEConfig, VisualBPETrainer

    # scikit-learn's real 8 x 8 digits with their 17 grey levels as codes
    grids = list(np.rint(digit_images()[..., 0] * 16).astype(np.int64))
    vocabulary = VisualBPETrainer(VisualBPEConfig(num_merges=120, min_frequency=2)).train(grids[:1000], 17)
    visual = Tokenizer(vocabulary)
    samples = grids[1000:1003]
    data = build_viewer({"visual-bpe": visual}, [Passage("x", "x")], grids={"visual-bpe": samples})
    assert data.skipped == {} and [v["name"] for v in data.visual] == ["visual-bpe"]
    assert "pass sample grids" in build_viewer({"visual-bpe": visual}, [Passage("x", "x")]).skipped["visual-bpe"]
    page = tmp_path / "visual.html"
    page.write_text(render_page(data), encoding="utf-8")
    browser.get(page.as_uri())
    tables = browser.find_elements(By.CSS_SELECTOR, ".lkv-visual .lkv-vgrid")
    assert len(tables) == len(samples)
    patches = visual.encoder.patches
    hovered = 0
    for table, grid in zip(tables, samples):
        encoding = visual.encode_grid(grid)
        cells = table.find_elements(By.CSS_SELECTOR, ".lkv-gc")
        assert [int(c.text) for c in cells] == grid.reshape(-1).tolist()
        # every cell names the token whose patch covers it, at that token's anchor plus the patch offset
        covering = {}
        for n, (token_id, (row, col)) in enumerate(zip(encoding.ids, encoding.positions)):
            for dy, dx, code in patches[token_id]:
                assert grid[row + dy, col + dx] == code
                covering[(row + dy) * 8 + col + dx] = (n, token_id)
        assert [(int(c.get_attribute("data-token")), int(c.get_attribute("data-id"))) for c in cells] == \
            [covering[i] for i in range(64)]
        # hover the anchor cell of the largest token: the tip shows its id and exactly its patch
        n = max(range(len(encoding.ids)), key=lambda k: len(patches[encoding.ids[k]]))
        token_id, (row, col) = encoding.ids[n], encoding.positions[n]
        assert len(patches[token_id]) > 1
        ActionChains(browser).move_to_element(cells[row * 8 + col]).perform()
        tip = browser.find_element(By.CSS_SELECTOR, ".lkv-tip")
        height, width, _, rows = patch_box(patches[token_id])
        assert tip.text.startswith(f"id {token_id} · visual token · patch {height} x {width}")
        shown = tip.find_element(By.CSS_SELECTOR, ".lkv-patch")
        assert shown.get_attribute("data-shape") == f"{height} {width}"
        codes = [e.text for e in shown.find_elements(By.CSS_SELECTOR, "span")]
        assert codes == ["" if code is None else str(code) for line in rows for code in line]
        lit = table.find_elements(By.CSS_SELECTOR, ".lkv-gc.lkv-hot")
        assert len(lit) == len(patches[token_id]) and {c.get_attribute("data-token") for c in lit} == {str(n)}
        hovered += 1
    assert hovered == len(samples)
    browser.save_screenshot(str(tmp_path / "visual.png"))
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
