"""Read only the embedding matrices of a GGUF model file (a fast OMP donor), or only its
architecture (which tokenizer class transformers builds from it).

OMP reads nothing of the donor but its input embedding (and, for an untied source, its head). Building the whole
transformers model from a GGUF file de-quantizes every tensor; this reads the header, then de-quantizes the one or
two tensors needed (``token_embd.weight``, ``output.weight``) with the ``gguf`` package's own de-quantizers, which
transformers' GGUF loader uses as well, so the values are the same.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lexkit.errors import FormatError, require

if TYPE_CHECKING:
    import torch

__all__ = ["GGUFEmbeddings", "gguf_tokenizer_type", "read_gguf_embeddings"]

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_HEADER_BYTES = 64 << 20  # read at most this much to find the tensor table (a 151k-token vocabulary takes ~6 MB)
INPUT, OUTPUT = "token_embd.weight", "output.weight"
_TOKENS = b"tokenizer.ggml.tokens"
_ARCHITECTURE = b"general.architecture"
# GGUF architectures whose transformers model type, and so AutoTokenizer's tokenizer class, is the same name
# (checked on the real Qwen2.5-Coder GGUF); others (llama's mistral detection, qwen2moe...) keep the full lookup.
_SAME_TOKENIZER_TYPE = frozenset({"qwen2"})


@dataclass(frozen=True)
class GGUFEmbeddings:
    """A GGUF model's embedding matrices in float32 and its vocabulary strings (as transformers spells them).

    Attributes:
        input: ``(V, D)``.
        output: the untied head ``(V, D)``; None for a tied model or when not read.
        tokens: ``tokenizer.ggml.tokens``, one string per id; None when the file holds no vocabulary.
    """

    input: torch.Tensor
    output: torch.Tensor | None
    tokens: list[str] | None


@dataclass(frozen=True)
class _TensorInfo:
    shape: tuple[int, ...]  # GGUF order: the fastest-varying dimension first
    kind: int
    offset: int  # absolute, in bytes


class _Header:
    """The key-value table is skipped (except the alignment); the tensor table is kept."""

    def __init__(self, path: Path, *, architecture_only: bool = False) -> None:
        with open(path, "rb") as handle:
            self.data = handle.read(1 << 20 if architecture_only else _HEADER_BYTES)
        self.position = 0
        if self.data[:4] != b"GGUF":
            raise FormatError(f"{path}: not a GGUF file (no GGUF magic); pass a .gguf model file")
        self.position = 4
        version, tensors, values = self.read("<I"), self.read("<Q"), self.read("<Q")
        if version < 2:
            raise FormatError(f"{path}: GGUF version {version} is not supported; re-convert it with a current llama.cpp")
        alignment = 32
        self.tokens: list[str] | None = None
        self.architecture: str | None = None
        for _ in range(values):
            key = self.string()
            kind = self.read("<I")
            if key == _ARCHITECTURE and kind == _STRING:
                self.architecture = self.string().decode("utf-8", errors="replace")
                if architecture_only:
                    return
            elif key == b"general.alignment":
                alignment = int(self.read(_SCALARS[kind]))
            elif key == _TOKENS and kind == _ARRAY and self.data[self.position:self.position + 4] == b"\x08\0\0\0":
                self.position += 4
                self.tokens = [self.string().decode("utf-8", errors="replace") for _ in range(self.read("<Q"))]
            else:
                self.skip(kind)
        table = []
        for _ in range(tensors):
            name = self.string().decode("utf-8")
            dims = self.read("<I")
            shape = tuple(self.read("<Q") for _ in range(dims))
            table.append((name, shape, self.read("<I"), self.read("<Q")))
        start = -(-self.position // alignment) * alignment
        self.tensors = {name: _TensorInfo(shape, kind, start + offset) for name, shape, kind, offset in table}

    def read(self, fmt: str) -> int:
        value = struct.unpack_from(fmt, self.data, self.position)[0]
        self.position += struct.calcsize(fmt)
        return value  # type: ignore[no-any-return]

    def string(self) -> bytes:
        size = self.read("<Q")
        self.position += size
        return self.data[self.position - size:self.position]

    def skip(self, kind: int) -> None:
        if kind == _STRING:
            size = self.read("<Q")  # read first: `position += read()` would add to the position before the read
            self.position += size
        elif kind == _ARRAY:
            item, count = self.read("<I"), self.read("<Q")
            if item in (_STRING, _ARRAY):
                for _ in range(count):
                    self.skip(item)
            else:
                self.position += count * struct.calcsize(_SCALARS[item])
        else:
            self.position += struct.calcsize(_SCALARS[kind])


def gguf_tokenizer_type(path: str | Path) -> dict[str, str]:
    """``{"tokenizer_type": ...}`` for ``AutoTokenizer.from_pretrained(..., gguf_file=...)``, or ``{}``.

    Without it, AutoTokenizer parses the whole GGUF metadata (vocabulary and merges included) only to learn the
    model type and so the tokenizer class, and the tokenizer class parses it again: ~9 s for the 151k-token
    Qwen2.5 file on 2 cores. The type is given only where it names the class AutoTokenizer would pick (no
    ``tokenizer_config.json`` beside the file, an architecture in `_SAME_TOKENIZER_TYPE`).
    """
    path = Path(path)
    if (path.parent / "tokenizer_config.json").exists():
        return {}
    try:
        architecture = _Header(path, architecture_only=True).architecture
    except (FormatError, struct.error, UnicodeDecodeError, KeyError):
        return {}  # transformers' own reader reports a bad file
    return {"tokenizer_type": architecture} if architecture in _SAME_TOKENIZER_TYPE else {}


def read_gguf_embeddings(path: str | Path, *, head: bool = True) -> GGUFEmbeddings:
    """The input embedding of a GGUF model, its untied head when ``head``, and its vocabulary strings.

    Raises:
        FormatError: the file is not GGUF, holds no ``token_embd.weight``, or uses a quantization the ``gguf``
            package cannot de-quantize.
    """
    import torch

    require("gguf")
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
    from gguf.quants import dequantize

    path = Path(path)
    try:
        header = _Header(path)
    except (struct.error, UnicodeDecodeError, KeyError):
        raise FormatError(f"{path}: truncated or corrupt GGUF header; download the file again") from None
    if INPUT not in header.tensors:
        raise FormatError(f"{path}: no {INPUT} tensor, so no embedding to read; pass a GGUF language model")
    matrices = []
    for name in (INPUT, OUTPUT) if head else (INPUT,):
        info = header.tensors.get(name)
        if info is None:
            matrices.append(None)
            continue
        kind = GGMLQuantizationType(info.kind)
        block, size = GGML_QUANT_SIZES[kind]
        width, rows = info.shape
        raw = np.fromfile(path, dtype=np.uint8, count=rows * width // block * size, offset=info.offset)
        try:
            values = dequantize(raw.reshape(rows, -1), kind)
        except NotImplementedError:
            raise FormatError(f"{path}: {name} is {kind.name}, which gguf cannot de-quantize; use another "
                              "quantization of the model (Q8_0, Q5_0, F16...)") from None
        matrices.append(torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32).reshape(rows, width)))
    return GGUFEmbeddings(matrices[0], matrices[1] if head else None, header.tokens)  # type: ignore[arg-type]
