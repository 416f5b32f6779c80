"""`lexkit.device.resolve_device`: the one device resolver every GPU path uses."""

from __future__ import annotations

import pytest
import torch

from lexkit import LexkitError
from lexkit.device import resolve_device


def test_auto_picks_cuda_only_when_present_and_cpu_is_cpu():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised on machines without a GPU")
def test_cuda_without_a_gpu_names_the_fix():
    with pytest.raises(LexkitError, match="no CUDA device.*device='cpu'"):
        resolve_device("cuda:0")


def test_unknown_names_are_refused():
    with pytest.raises(LexkitError, match="unknown device 'tpu'"):
        resolve_device("tpu")
