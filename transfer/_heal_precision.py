"""Healing's compute precision: float32, or bf16 autocast with float32 master weights and a float32 softmax.

``dtype="bfloat16"`` runs the transformer bodies of student and teacher under ``torch.autocast(..., bfloat16)``;
what training accumulates stays float32: the trained rows (`lexkit.transfer._heal_rows.RowAdam` keeps float32
masters of a bf16 matrix's touched rows), the LoRA adapters, Adam's moments, and the output head with its
softmax, which decides every log-probability (a bf16 logit near 20 is rounded by up to 0.06 nats). torch runs
bf16 autocast on the CPU too, so the CPU tests cover the code path a GPU runs.

``dtype="auto"`` picks bf16 on CUDA devices that support it (their tensor cores run bf16 matrix products at a
multiple of float32's rate) and float32 elsewhere: CPUs without native bf16 instructions emulate it, which is slower than float32
(docs/healing.md has the measured step times), and float32 is what the measured defaults were chosen with.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Literal

from lexkit.errors import LexkitError

if TYPE_CHECKING:
    import torch

__all__ = ["Precision", "PRECISIONS", "resolve_precision", "autocast", "full_precision", "upcast", "restore"]

Precision = Literal["auto", "float32", "bfloat16"]
PRECISIONS: tuple[Precision, ...] = ("auto", "float32", "bfloat16")


def resolve_precision(precision: Precision, device: torch.device) -> torch.dtype:
    """The compute dtype that ``precision`` means on ``device``: ``auto`` is bf16 on CUDA devices that support
    it and float32 elsewhere.

    Raises:
        LexkitError: ``precision`` is not one of `PRECISIONS`.
    """
    import torch

    if precision == "float32":
        return torch.float32
    if precision == "bfloat16":
        return torch.bfloat16
    if precision == "auto":
        cuda = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if cuda else torch.float32
    raise LexkitError(f"dtype={precision!r} is not a healing precision; pass one of {', '.join(PRECISIONS)}")


def autocast(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager[Any]:
    """``torch.autocast`` to ``dtype`` on ``device`` for a bf16 run; no change for a float32 run."""
    import torch

    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def full_precision(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """A region where autocast is off (the output head and its softmax), inside or outside `autocast`."""
    import torch

    return torch.autocast(device.type, enabled=False)


def upcast(model: torch.nn.Module) -> dict[str, torch.dtype]:
    """Convert every floating parameter and buffer of ``model`` stored below float32 to float32, in place.

    Returns:
        The original dtype of each converted tensor by qualified name (what `restore` needs).
    """
    import torch

    changed: dict[str, torch.dtype] = {}
    for prefix, module in model.named_modules():
        for table in (module._parameters, module._buffers):
            for name, tensor in table.items():
                if tensor is not None and tensor.is_floating_point() and tensor.dtype != torch.float32:
                    changed[f"{prefix}.{name}" if prefix else name] = tensor.dtype
                    tensor.data = tensor.data.float()
    return changed


def restore(model: torch.nn.Module, dtypes: dict[str, torch.dtype]) -> None:
    """Convert the tensors `upcast` changed back to their dtypes (exact for weights that were never trained)."""
    for prefix, module in model.named_modules():
        for table in (module._parameters, module._buffers):
            for name, tensor in table.items():
                dtype = dtypes.get(f"{prefix}.{name}" if prefix else name)
                if tensor is not None and dtype is not None:
                    tensor.data = tensor.data.to(dtype)
