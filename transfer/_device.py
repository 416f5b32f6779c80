"""Resolve ``device=`` arguments ("cpu", "cuda", "auto") to a torch device.

Interim home: the design puts one device helper in ``lexkit/device.py`` for every GPU path; until it exists,
the transfer code resolves devices here. torch is imported inside the function so importing this module stays
light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lexkit.errors import LexkitError

if TYPE_CHECKING:
    import torch

DEVICES = ("cpu", "cuda", "auto")


def resolve_device(device: str) -> torch.device:
    """The torch device that ``device`` names.

    Args:
        device: ``"cpu"``, ``"cuda"`` (or ``"cuda:N"``), or ``"auto"`` (CUDA when available, else the CPU).

    Returns:
        The resolved ``torch.device``.

    Raises:
        LexkitError: the name is unknown, or CUDA was asked for on a machine without it.
    """
    import torch

    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise LexkitError(
                f"device={name!r} was requested but torch sees no CUDA device on this machine; "
                "pass device='cpu' or device='auto' (which falls back to the CPU)"
            )
        return torch.device(name)
    raise LexkitError(f"unknown device {name!r}; use one of {', '.join(DEVICES)} (or 'cuda:N')")
