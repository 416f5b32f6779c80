"""The visual-BPE commands through click: one happy path and one error path each."""

from __future__ import annotations

import json

import click
import numpy as np
from _image_grids import digit_images
from click.testing import CliRunner

from lexkit.cli.main import LexkitGroup
from lexkit.cli.visual import visual_analyze, visual_encode, visual_train


def group() -> click.Group:
    @click.group(cls=LexkitGroup)
    def cli() -> None:
        """Test group: lexkit's error handling around the visual commands."""

    for command in (visual_train, visual_encode, visual_analyze):
        cli.add_command(command)
    return cli


def test_train_encode_analyze(tmp_path):
    grids = np.rint(digit_images()[:400, ..., 0] * 16).astype(np.int64)
    np.save(tmp_path / "codes.npy", grids)
    runner = CliRunner()
    result = runner.invoke(group(), ["visual-train", "--codes", str(tmp_path / "codes.npy"), "--vocab-size", "80",
                                     "--codebook-size", "17", "-o", str(tmp_path / "tok"), "--json", "--no-progress"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["vocab_size"] == 80 and summary["tokens_per_grid_after"] < summary["tokens_per_grid_before"] == 64
    result = runner.invoke(group(), ["visual-encode", "--codes", str(tmp_path / "codes.npy"), "-t",
                                     str(tmp_path / "tok"), "--json"])
    assert result.exit_code == 0, result.output
    encodings = json.loads(result.output)
    assert len(encodings) == 400 and encodings[0]["shape"] == [8, 8]
    result = runner.invoke(group(), ["visual-analyze", "--codes", str(tmp_path / "codes.npy"), "-t",
                                     str(tmp_path / "tok"), "-o", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == [
        "visual_report.json", "visual_report.md", "visual_report.png"]


def test_errors_are_one_line(tmp_path):
    np.save(tmp_path / "floats.npy", np.zeros((2, 4, 4)))
    runner = CliRunner()
    result = runner.invoke(group(), ["visual-train", "--codes", str(tmp_path / "floats.npy"), "-o",
                                     str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "floats.npy: grid 0 has dtype float64, not integers" in result.output
    assert not (tmp_path / "out").exists()  # nothing half-written
    np.save(tmp_path / "codes.npy", np.zeros((2, 4, 4), dtype=np.int64))
    result = runner.invoke(group(), ["visual-encode", "--codes", str(tmp_path / "codes.npy"), "-t",
                                     str(tmp_path / "codes.npy")])
    assert result.exit_code == 1 and "a visual tokenizer is a lexkit.json" in result.output
