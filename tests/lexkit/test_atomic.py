"""Atomic writes give outputs the mode a plain ``open()`` would: 0666 (0777 for folders) minus the umask."""

from __future__ import annotations

import os
import stat

import pytest
from safetensors.torch import save_file

from lexkit.atomic import atomic_directory, atomic_write_bytes, atomic_write_text, current_umask


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def plain_mode(folder, name: str) -> int:
    """What ``open(path, "w")`` gives right now: the reference the atomic writers must match."""
    with open(folder / name, "w"):
        pass
    return mode(folder / name)


def test_current_umask_reads_the_process_umask(umask):
    assert current_umask() == umask


def test_atomic_files_get_the_plain_open_mode(tmp_path, umask):
    expected = plain_mode(tmp_path, "reference")
    assert expected == 0o666 & ~umask
    assert mode(atomic_write_text(tmp_path / "a.txt", "x")) == expected
    assert mode(atomic_write_bytes(tmp_path / "new" / "b.bin", b"x")) == expected


def test_replacing_a_file_keeps_its_mode(tmp_path, umask):
    path = tmp_path / "kept.txt"
    path.write_text("old")
    os.chmod(path, 0o640)
    atomic_write_text(path, "new")
    assert path.read_text() == "new" and mode(path) == 0o640


def test_atomic_directory_fixes_owner_only_files_from_libraries(tmp_path, umask):
    import torch

    expected = plain_mode(tmp_path, "reference")
    out = tmp_path / "out"
    with atomic_directory(out) as staging:
        save_file({"w": torch.zeros(2)}, str(staging / "model.safetensors"))  # safetensors writes 0600
        (staging / "sub").mkdir()
        atomic_write_text(staging / "sub" / "x.json", "{}")
        script = staging / "run.sh"
        script.write_text("#!/bin/sh\n")
        os.chmod(script, 0o700)
    assert mode(out / "model.safetensors") == expected
    assert mode(out / "sub" / "x.json") == expected
    assert mode(out / "sub") == mode(out) == 0o777 & ~umask
    assert mode(out / "run.sh") == 0o777 & ~umask
