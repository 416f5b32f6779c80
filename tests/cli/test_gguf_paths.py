"""A ``.gguf`` file is passed the same way to every command: as the model path (``-m``/``--model FILE.gguf``)."""

from __future__ import annotations

import json

import pytest
from _resources import smollm2_gguf
from click.testing import CliRunner

import lexkit.sampling
from lexkit.cli.main import main


def test_sample_takes_a_gguf_path_like_transplant_and_evaluate():
    gguf = smollm2_gguf()
    result = CliRunner().invoke(main, ["sample", "-m", str(gguf), "-p", "The capital of France is", "-n", "3",
                                       "--temperature", "0", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["completion"] == " Pa"  # greedy: " Paris"


@pytest.fixture
def loads(monkeypatch):
    """Record what the sample command asks `load_byte_sampler` for, without loading a model."""
    calls: list[tuple[object, dict]] = []

    class Stop(Exception):
        pass

    def fake(path, **kwargs):
        calls.append((path, kwargs))
        raise Stop

    monkeypatch.setattr(lexkit.sampling, "load_byte_sampler", fake)
    return calls


def test_deprecated_gguf_file_option_is_an_alias_for_the_path(tmp_path, loads):
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    result = CliRunner().invoke(main, ["sample", "-m", str(tmp_path), "--gguf-file", "model.gguf", "-p", "x"])
    assert loads[0][0] == gguf and "gguf_file" not in loads[0][1]
    assert f"--gguf-file is deprecated; pass -m {gguf} instead" in result.stderr


@pytest.mark.parametrize("model, name, message", [
    ("", "missing.gguf", "missing.gguf does not exist"),
    ("model.gguf", "model.gguf", "is already a file"),
])
def test_gguf_option_errors_are_one_line(tmp_path, loads, model, name, message):
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    result = CliRunner().invoke(main, ["sample", "-m", str(tmp_path / model), "--gguf-file", name, "-p", "x"])
    assert result.exit_code == 1 and not loads
    assert result.output.startswith("lexkit: error: ") and message in result.output
    assert result.output.count("\n") == 1


def test_a_folder_holding_only_a_gguf_file_names_it(tmp_path):
    from lexkit.errors import FormatError
    from lexkit.transfer._models import load_causal_lm

    (tmp_path / "q.gguf").write_bytes(b"GGUF")
    with pytest.raises(FormatError, match=r"pass the GGUF file itself, e\.g\. .*q\.gguf"):
        load_causal_lm(tmp_path)
