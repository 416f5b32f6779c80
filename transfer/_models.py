"""Loading causal language models for transfer and evaluation, with one-line errors for bad input.

A model is given as a loaded transformers model, an HF folder (``config.json`` + weights), or a ``.gguf`` file
(loaded de-quantized to float32 by transformers). Encoder-only and encoder-decoder models are refused
up front: transplanting or scoring bits per byte needs next-token logits.
"""

from __future__ import annotations

import logging
from os import PathLike
from pathlib import Path
from typing import Any

from lexkit.errors import FormatError, LexkitError

logger = logging.getLogger(__name__)

ModelLike = Any  # a transformers PreTrainedModel, or a path to an HF folder or a .gguf file
_CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel")


def load_causal_lm(model: ModelLike, *, what: str = "model") -> tuple[Any, Path | None]:
    """Return a causal LM (loading it when given a path) and the path it came from, if any.

    The model is typed ``Any``: transformers models expose their matrices through dynamically typed modules.

    Args:
        model: a loaded model, an HF model folder, or a ``.gguf`` file.
        what: how messages name the argument (``"model"``, ``"donor"``).

    Returns:
        ``(model, path)``; ``path`` is None for an already loaded model.

    Raises:
        FormatError: the path is missing or holds no model.
        LexkitError: the model is not a causal LM (encoder-only, encoder-decoder, no output embeddings).
    """
    if not isinstance(model, str | PathLike):
        check_causal(model, what=what)
        return model, None
    path = Path(model)
    if not path.exists():
        raise FormatError(
            f"{path}: no such file or folder (the {what}); pass an HF model folder saved with save_pretrained, "
            "or a .gguf file"
        )
    import torch
    from transformers import AutoModelForCausalLM

    if path.suffix == ".gguf":
        kwargs: dict[str, Any] = {"gguf_file": path.name, "dtype": torch.float32}
        folder = path.parent
    else:
        if not (path / "config.json").exists():
            ggufs = sorted(p.name for p in path.glob("*.gguf")) if path.is_dir() else []
            hint = (f"pass the GGUF file itself, e.g. {path / ggufs[0]}" if ggufs
                    else "pass the folder that model.save_pretrained wrote, or a .gguf file")
            raise FormatError(f"{path}: no config.json, so this holds no transformers model (the {what}); {hint}")
        _check_config(path, what)
        kwargs, folder = {"dtype": "auto"}, path
    try:
        loaded: Any = AutoModelForCausalLM.from_pretrained(str(folder), **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        raise FormatError(
            f"{path}: transformers cannot load the {what} as a causal LM ({str(exc).splitlines()[0]}); pass a "
            "folder saved with save_pretrained (config.json plus model.safetensors)"
        ) from None
    check_causal(loaded, what=what)
    return loaded.eval(), path


def _check_config(folder: Path, what: str) -> None:
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    try:
        config = AutoConfig.from_pretrained(str(folder))
    except (OSError, ValueError, KeyError) as exc:
        raise FormatError(f"{folder}/config.json: unreadable ({str(exc).splitlines()[0]}); re-save the {what}") \
            from None
    architectures = list(getattr(config, "architectures", None) or [])
    causal = (any(a.endswith(_CAUSAL_SUFFIXES) for a in architectures) if architectures
              else config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)
    if getattr(config, "is_encoder_decoder", False) or not causal:
        raise LexkitError(
            f"{folder}: the {what} is a {'/'.join(architectures) or config.model_type} model, not a causal LM; "
            "transplanting and bits-per-byte evaluation need next-token logits; pass a decoder-only model "
            "(architectures ending in ForCausalLM)"
        )


def check_causal(model: Any, *, what: str = "model") -> None:
    """Refuse objects that are not causal LMs with input and output embeddings.

    Raises:
        LexkitError: the object is not a transformers model, cannot generate, or has no output embeddings.
    """
    can_generate = getattr(model, "can_generate", None)
    if not callable(can_generate) or not hasattr(model, "get_input_embeddings"):
        raise LexkitError(
            f"the {what} has type {type(model).__name__}, not a transformers model; transfer edits its embedding "
            "matrices; pass a loaded AutoModelForCausalLM or its folder"
        )
    if not can_generate() or model.get_output_embeddings() is None:
        raise LexkitError(
            f"the {what} is a {type(model).__name__}, which has no language-model head (an encoder-only model?); "
            "transplanting and bits-per-byte evaluation need next-token logits; load it with "
            "AutoModelForCausalLM, or pass a decoder-only model"
        )


def model_tokenizer_source(model: Any, path: Path | None) -> Path | None:
    """Where the model's own tokenizer can be loaded from: its path, or ``name_or_path`` when that exists."""
    if path is not None:
        return path
    name = getattr(model, "name_or_path", "") or ""
    candidate = Path(name) if name else None
    if candidate is not None and candidate.is_dir() and (
        (candidate / "tokenizer.json").exists() or (candidate / "tokenizer_config.json").exists()
    ):
        return candidate
    return None


def is_tied(model: Any) -> bool:
    """Whether the model's head shares its input embedding matrix (or has no separate head)."""
    head = model.get_output_embeddings()
    return head is None or bool(head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr())
