"""The one place that turns a ``device=`` argument ("cpu", "cuda", "cuda:N", "auto") into a torch device.

Every GPU path in lexkit (transfer, hypernetwork, sampling, sticky tokens, byte LMs, image codebooks) takes
``device=`` and resolves it here, so the accepted names and the error for a missing GPU are the same
everywhere. torch is imported inside the function, so importing this module stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lexkit.errors import LexkitError, require

if TYPE_CHECKING:
    import torch

__all__ = ["DEVICES", "resolve_device"]

DEVICES = ("cpu", "cuda", "auto")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The torch device that ``device`` names.

    Args:
        device: ``"cpu"``, ``"cuda"`` (or ``"cuda:N"``), ``"auto"`` (CUDA when available, else the CPU), or a
            ``torch.device``.

    Returns:
        The resolved ``torch.device``.

    Raises:
        LexkitError: the name is unknown, or CUDA was asked for on a machine without it.
        MissingDependencyError: torch is not installed.
    """
    torch_module: Any = require("torch")
    name = str(device)
    if name == "auto":
        return torch_module.device("cuda" if torch_module.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch_module.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch_module.cuda.is_available():
            raise LexkitError(
                f"device={name!r} was requested but torch sees no CUDA device on this machine; "
                "pass device='cpu' or device='auto' (CLI: --device cpu|auto), which falls back to the CPU"
            )
        return torch_module.device(name)
    raise LexkitError(f"unknown device {name!r}; use one of {', '.join(DEVICES)} (or 'cuda:N')")
