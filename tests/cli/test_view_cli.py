"""``lexkit view``, ``lexkit encode --color`` and a quiet end on a closed pipe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import _resources
from click.testing import CliRunner

from lexkit.cli.main import main


def test_view_writes_a_self_contained_page_and_rejects_huge_input(tmp_path):
    gpt2 = _resources.gpt2_tokenizer_json()
    page = tmp_path / "page.html"
    result = CliRunner().invoke(main, ["view", "-t", f"gpt2={gpt2}", "-t", f"again={gpt2}", "naïve  text\n",
                                       "-o", str(page)])
    assert result.exit_code == 0, result.output
    assert "typing box runs gpt2, again" in result.output
    html = page.read_text(encoding="utf-8")
    assert "<script src" not in html and "http://" not in html and "https://" not in html  # nothing fetched
    assert '"name":"gpt2"' in html and "naïve  text\\n" in html
    samples = CliRunner().invoke(main, ["view", "-t", f"gpt2={gpt2}", "-o", str(tmp_path / "samples.html")])
    assert samples.exit_code == 0 and "Turkish" in (tmp_path / "samples.html").read_text(encoding="utf-8")
    huge = tmp_path / "huge.txt"
    huge.write_text("x" * 300_000, encoding="utf-8")
    bad = CliRunner().invoke(main, ["view", "-t", str(gpt2), "--input", str(huge), "-o", str(tmp_path / "b.html")])
    assert bad.exit_code == 1 and "at most 200,000 bytes" in bad.output and not (tmp_path / "b.html").exists()


def test_view_draws_visual_tokens_on_sample_grids(tmp_path):
    import numpy as np
    from _image_grids import digit_images

    grids = np.rint(digit_images()[:300, ..., 0] * 16).astype(np.int64)
    np.save(tmp_path / "codes.npy", grids)
    trained = CliRunner().invoke(main, ["train", "--algorithm", "visual-bpe", "--codes", str(tmp_path / "codes.npy"),
                                        "-n", "60", "-o", str(tmp_path / "visual")])
    assert trained.exit_code == 0, trained.output
    page = tmp_path / "visual.html"
    result = CliRunner().invoke(main, ["view", "-t", f"digits={tmp_path / 'visual'}", "--codes",
                                       str(tmp_path / "codes.npy"), "-o", str(page)])
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    assert '"visual":[{"name":"digits"' in html and html.count('"label":"grid ') == 4
    plain = CliRunner().invoke(main, ["view", "-t", f"digits={tmp_path / 'visual'}", "-o", str(page)])
    assert plain.exit_code == 0 and "Left out: digits" in page.read_text(encoding="utf-8")


def test_encode_color_paints_tokens():
    result = CliRunner().invoke(main, ["encode", "-t", str(_resources.gpt2_tokenizer_json()), "--color",
                                       "Hello world\nok"])
    assert result.exit_code == 0, result.output
    assert result.output.count("\x1b[0m") == 4  # Hello, ·world, ↵, ok
    assert "\x1b[30;48;5;223m·world\x1b[0m" in result.output and "↵\x1b[0m\n" in result.output


def test_closed_pipe_ends_quietly():
    lexkit = Path(sys.executable).parent / "lexkit"
    command = f"{lexkit} inspect --top 20000 {_resources.gpt2_tokenizer_json()} | head -1"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True,
                            env={**os.environ, "PYTHONSAFEPATH": "1"}, timeout=300)
    assert result.stdout.startswith("vocabulary: 50257 tokens")
    assert result.stderr == ""  # was: lexkit: error: [Errno 32] Broken pipe
    assert result.returncode == 141
