"""LoRA adapters for healing: low-rank updates on top of frozen linear layers of the transformer.

Healing may train, besides embedding rows, a rank-``r`` update ``ΔW = (alpha / r) · B A`` on chosen linear layers
(Hu et al., arXiv 2106.09685; ``A`` random, ``B`` zero, so training starts from the unchanged model). The frozen
weight ``W`` is never written while training: the adapter runs beside it. `merge_lora` folds the updates into
plain ``nn.Linear`` layers at the end, so ``save_pretrained`` writes a model the plain Auto classes reload.

Imported only when adapters are asked for (it imports torch at module level).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["LoRALinear", "attach_lora", "merge_lora", "lora_parameters", "adapter_state", "load_adapter_state"]


class LoRALinear(nn.Module):
    """``base(x) + (alpha / rank) · x Aᵀ Bᵀ`` with ``base`` frozen and ``A (rank, in)``, ``B (out, rank)`` trained."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, generator: torch.Generator) -> None:
        super().__init__()
        self.base = base
        self.scale = alpha / rank
        a = torch.empty(rank, base.in_features, dtype=torch.float32)
        bound = 1.0 / math.sqrt(base.in_features)  # the Kaiming-uniform bound nn.Linear uses (a=sqrt(5))
        a.uniform_(-bound, bound, generator=generator)
        self.lora_a = nn.Parameter(a.to(base.weight.device))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank, device=base.weight.device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        update = (x.to(self.lora_a.dtype) @ self.lora_a.T) @ self.lora_b.T
        return self.base(x) + (self.scale * update).to(x.dtype)

    def merged(self) -> nn.Linear:
        """A plain linear layer computing the same function (the update folded into a copy of the weight)."""
        out = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None,
                        device=self.base.weight.device, dtype=self.base.weight.dtype)
        with torch.no_grad():
            delta = self.scale * (self.lora_b @ self.lora_a)
            out.weight.copy_((self.base.weight.float() + delta).to(self.base.weight.dtype))
            if self.base.bias is not None:
                out.bias.copy_(self.base.bias)
        out.weight.requires_grad_(False)
        if out.bias is not None:
            out.bias.requires_grad_(False)
        return out


def attach_lora(body: nn.Module, targets: Sequence[str], *, rank: int, alpha: float, seed: int) -> list[str]:
    """Wrap every ``nn.Linear`` of ``body`` whose attribute name is in ``targets`` in a `LoRALinear`, in place.

    Args:
        body: the transformer (the model's ``base_model``; the embedding and head are never adapted).
        targets: attribute names of the layers to adapt, e.g. ``("q_proj", "v_proj")``.
        rank: the update's rank.
        alpha: its scale numerator.
        seed: seeds ``A``'s initialisation (a resumed run rebuilds the same start).

    Returns:
        The qualified names of the adapted layers, in module order.

    Raises:
        ValueError: no linear layer has one of those names.
    """
    generator = torch.Generator().manual_seed(seed)
    adapted = []
    for name, module in list(body.named_modules()):
        for child_name, child in list(module.named_children()):
            if child_name in targets and isinstance(child, nn.Linear):
                setattr(module, child_name, LoRALinear(child, rank, alpha, generator))
                adapted.append(f"{name}.{child_name}" if name else child_name)
    if not adapted:
        raise ValueError(f"no linear layer is named {', '.join(targets)}")
    return adapted


def lora_parameters(body: nn.Module) -> list[nn.Parameter]:
    """The trainable adapter matrices (``A`` and ``B`` of every `LoRALinear`), in module order."""
    return [p for m in body.modules() if isinstance(m, LoRALinear) for p in (m.lora_a, m.lora_b)]


def merge_lora(body: nn.Module) -> int:
    """Replace every `LoRALinear` in ``body`` by its merged plain linear layer; returns how many were merged."""
    count = 0
    for module in list(body.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, LoRALinear):
                setattr(module, child_name, child.merged())
                count += 1
    return count


def adapter_state(body: nn.Module) -> dict[str, Any]:
    """The adapter matrices by layer name (what a checkpoint keeps)."""
    return {name: (m.lora_a.detach().cpu().clone(), m.lora_b.detach().cpu().clone())
            for name, m in body.named_modules() if isinstance(m, LoRALinear)}


def load_adapter_state(body: nn.Module, state: dict[str, Any]) -> None:
    """Write `adapter_state`'s matrices back into the adapters of the same layers."""
    layers = {name: m for name, m in body.named_modules() if isinstance(m, LoRALinear)}
    with torch.no_grad():
        for name, (a, b) in state.items():
            layers[name].lora_a.copy_(a)
            layers[name].lora_b.copy_(b)
