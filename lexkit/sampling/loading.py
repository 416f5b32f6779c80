"""Build a `ByteSampler` from a transformers model folder (or a GGUF file) in one call."""

from __future__ import annotations

import json
import logging
from os import PathLike
from pathlib import Path
from typing import Any

from lexkit.errors import FormatError, require
from lexkit.sampling.adapter import TokenizerAdapter
from lexkit.sampling.lm import HFCausalLM
from lexkit.sampling.sampler import ByteSampler

__all__ = ["load_byte_sampler"]

logger = logging.getLogger(__name__)


def load_byte_sampler(
    path: str | PathLike[str],
    *,
    gguf_file: str | None = None,
    device: str = "auto",
    bos_id: int | None | str = "auto",
    mask_invalid: bool = True,
    mask_floor: float = 0.0,
) -> ByteSampler:
    """A byte-level LM for the causal LM and tokenizer stored at ``path`` (a model folder or a ``.gguf`` file).

    The tokenizer is read into a lexkit `Tokenizer` (``tokenizer.json`` in the folder, else a SentencePiece
    ``tokenizer.model``; for a GGUF file, the tokenizer transformers rebuilds from it), so token ids match the
    model's.

    Args:
        path: a transformers model folder (``config.json``, weights, ``tokenizer.json``) or a ``.gguf`` file,
            as everywhere in lexkit (transfer takes the same two forms).
        gguf_file: older form of a GGUF path: the file's name inside the folder ``path``.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        bos_id: the id put before every prefix (``"auto"``: the model's BOS); see `HFCausalLM`.
        mask_invalid, mask_floor: see `ByteSampler`.

    Raises:
        FormatError: the folder has neither ``tokenizer.json`` nor ``tokenizer.model`` and no GGUF file was named,
            or both a ``.gguf`` path and ``gguf_file`` were given.
        MissingDependencyError: torch or transformers (or gguf) is missing.
    """
    from lexkit.formats.hf import from_hf
    from lexkit.tokenizer import Tokenizer

    torch: Any = require("torch")
    transformers: Any = require("transformers")
    folder = Path(path)
    if folder.suffix == ".gguf" and not folder.is_dir():
        if gguf_file is not None:
            raise FormatError(f"{folder} is already a GGUF file, so gguf_file={gguf_file!r} is ambiguous; pass "
                              "the .gguf path alone")
        folder, gguf_file = folder.parent, folder.name
    elif folder.is_file():
        raise FormatError(f"{folder} is a file but not a .gguf file; pass a transformers model folder or a .gguf "
                          "file")
    if gguf_file is not None:
        require("gguf")
        hf_tokenizer = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
        vocabulary = from_hf(json.loads(hf_tokenizer.backend_tokenizer.to_str()))
        model = transformers.AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_file, dtype=torch.float32)
    else:
        if (folder / "tokenizer.json").exists():
            vocabulary = from_hf(folder / "tokenizer.json")
        elif (folder / "tokenizer.model").exists():
            from lexkit.formats.sentencepiece import from_sentencepiece

            vocabulary = from_sentencepiece(folder / "tokenizer.model")
        else:
            raise FormatError(
                f"{folder} has no tokenizer.json or tokenizer.model, which byte-level sampling reads to know each "
                "token's bytes; pass a transformers model folder saved with its tokenizer, or gguf_file=NAME for "
                "a GGUF file"
            )
        model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    lm = HFCausalLM(model, device=device, bos_id=bos_id)
    adapter = TokenizerAdapter.from_tokenizer(Tokenizer(vocabulary), size=lm.vocab_size)
    logger.info("loaded %s: %d token ids, longest token %d bytes", folder, lm.vocab_size, adapter.max_token_bytes)
    return ByteSampler(lm, adapter, mask_invalid=mask_invalid, mask_floor=mask_floor)
