"""Text embeddings from a transformers / sentence-transformers checkpoint folder, fast on CPU and GPU.

One embedder serves two readers: sticky-token detection (`lexkit.analysis.sticky`) embeds sentences the way the
model's sentence-transformers pipeline does, and transfer's auxiliary space (`lexkit.transfer.auxiliary`) embeds
short token strings with its own fixed settings (mean pooling, not normalized, 32 tokens).

`TransformersEmbedder` reproduces the sentence-transformers pipeline that the Sticky Token Detector uses
(Chen et al., ACL 2025): the model's own tokenizer, truncation at ``max_seq_length``, the pooling named in
``1_Pooling/config.json`` (mean, CLS, max or last token) and the ``Normalize`` module when ``modules.json``
lists one; weights in fp32. Each of the three can be fixed by the caller instead. It is plain transformers
underneath (imported when an embedder is built), so sentence-transformers need not be installed.

What makes it fast without changing any number beyond float round-off: identical token-id sequences are
embedded once, texts are sorted by token length and packed into batches under a token budget (little
padding), the forward pass runs under ``torch.inference_mode``. Handled: encoder models that ``AutoModel``
loads (BERT, RoBERTa, XLM-R, MPNet, ...). Not handled: causal LMs and encoder-decoder checkpoints (refused
with a `LexkitError`), custom ``trust_remote_code`` models, instruction prompts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from lexkit.device import resolve_device
from lexkit.errors import LexkitError, require

if TYPE_CHECKING:
    import torch

__all__ = [
    "Pooling", "TOKENIZER_FILES", "FAST_AGREEMENT", "CPU_FAST_FALLBACK", "EmbedderSettings",
    "check_model_folder", "native_bf16", "read_settings", "TransformersEmbedder",
]

logger = logging.getLogger(__name__)

Pooling = Literal["mean", "cls", "max", "lasttoken"]
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer.model", "vocab.json", "spiece.model")
_CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")
# What `fast=True` (``lexkit sticky --fast``) was measured to change against fp32; shown in --help and the report.
FAST_AGREEMENT = (
    "Measured on a CPU without native bf16 (this project's AVX2-only AMD EPYC, 2 cores, alone under cpu-lock "
    "measure, 2026-12-06) with `lexkit sticky --model minilm --corpus corpus_10M.txt --corpus-bytes 1000000 "
    "--sample 300 --mu-sample 2000 --threads 2 [--fast]` (300 of 23,699 scorable tokens, 6 candidates, 250 "
    "verification pairs): fp32 took 486 s (final list empty: no candidate above the cut). Emulated bf16 "
    "embedded 20 texts/s against fp32's 132 (the first 64-token scoring batch: 392 s vs 58 s, 6.7x slower) and "
    "projected 58 more minutes when stopped at 600 s, so the final lists were not compared; on the 64 tokens it "
    "scored, its sticky scores had a Spearman of only 0.34 with fp32's (median relative difference 56 %; "
    "fp32's top token ranked 26th of 64). So on such CPUs --fast keeps fp32 (the same list, not faster). "
    "Where bf16 is native (an AMX Xeon, issue #10, bench/bench_sticky.py precision on fixed pairs, 300 "
    "tokens): 2.1x fp32 on insertion texts, cosine distances moved by at most 3.0e-3, 0.43 % of verification "
    "cases flipped, scores kept a Spearman of 0.96; agreement on the final list is not measured there yet."
)
# Why `fast=True` keeps fp32 on a CPU without native bf16 (logged, and noted in the sticky report).
CPU_FAST_FALLBACK = (
    "--fast keeps fp32: this CPU has no native bf16 (AVX512-BF16/AMX), and emulated bf16 was measured 6.7x "
    "slower than fp32 on the detector's texts, with scores far from fp32's (FAST_AGREEMENT); use --fast on CUDA or a bf16 CPU"
)


@dataclass(frozen=True)
class EmbedderSettings:
    """How a checkpoint folder turns text into one vector, read from its sentence-transformers files.

    Attributes:
        pooling: how token states become one vector.
        normalize: L2-normalize the pooled vector (a ``Normalize`` module in ``modules.json``).
        max_length: tokens per text after truncation, special tokens included.
    """

    pooling: Pooling
    normalize: bool
    max_length: int


def check_model_folder(folder: str | Path) -> Path:
    """Refuse folders that cannot be a sentence-embedding checkpoint, with a one-line reason and fix.

    Args:
        folder: a transformers / sentence-transformers checkpoint folder.

    Returns:
        The folder as a `Path`.

    Raises:
        LexkitError: the folder is missing, has no ``config.json``, holds a causal (generative) LM or an
            encoder-decoder, or has no tokenizer files.
    """
    path = Path(folder)
    if not path.is_dir():
        raise LexkitError(f"{path}: no such model folder; pass the folder of a sentence-embedding checkpoint "
                          "(with config.json, the weights and tokenizer files), e.g. --model path/to/all-MiniLM-L6-v2")
    config_path = path / "config.json"
    if not config_path.exists():
        raise LexkitError(f"{path}: no config.json, so this is not a transformers checkpoint folder; pass the folder "
                          "that holds config.json, the weights and the tokenizer files")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise LexkitError(f"{config_path}: unreadable config ({exc}); re-save the checkpoint with "
                          "save_pretrained") from None
    architectures = [str(a) for a in config.get("architectures") or ()]
    generative = [a for a in architectures if a.endswith(_CAUSAL_SUFFIXES)] or (
        ["is_decoder=true"] if config.get("is_decoder") else [])
    if generative:
        raise LexkitError(
            f"{path} holds a generative model ({', '.join(generative)}), not a sentence-embedding encoder; "
            "text embeddings need an embedding model such as all-MiniLM-L6-v2: pass that folder instead")
    if not any((path / name).exists() for name in TOKENIZER_FILES):
        raise LexkitError(
            f"{path} has no tokenizer (none of {', '.join(TOKENIZER_FILES)}), so texts cannot be turned into ids; "
            "copy the model's tokenizer files into the folder (tokenizer.save_pretrained(folder))")
    return path


def read_settings(folder: Path, *, model_max_length: int, position_limit: int) -> EmbedderSettings:
    """Read pooling, normalization and truncation from the sentence-transformers files of ``folder``.

    A plain transformers folder (no ``modules.json``) gets mean pooling without normalization, the
    sentence-transformers default for such folders; cosine distances are unaffected by normalization.

    Args:
        folder: the checkpoint folder.
        model_max_length: the tokenizer's ``model_max_length`` (used when no ``sentence_bert_config.json``).
        position_limit: the model's ``max_position_embeddings`` (an upper bound in every case).

    Returns:
        The settings.
    """
    pooling: Pooling = "mean"
    normalize = False
    modules_path = folder / "modules.json"
    if modules_path.exists():
        modules = json.loads(modules_path.read_text(encoding="utf-8"))
        for module in modules:
            kind = str(module.get("type", ""))
            if kind.endswith("Normalize"):
                normalize = True
            if kind.endswith("Pooling"):
                pooling = _pooling_mode(folder / str(module.get("path", "")) / "config.json")
    else:
        logger.info("%s has no modules.json: using mean pooling without normalization", folder)
    max_length = min(model_max_length, position_limit)
    st_config = folder / "sentence_bert_config.json"
    if st_config.exists():
        max_length = min(int(json.loads(st_config.read_text(encoding="utf-8")).get("max_seq_length", max_length)),
                         position_limit)
    return EmbedderSettings(pooling=pooling, normalize=normalize, max_length=max_length)


def _pooling_mode(config_path: Path) -> Pooling:
    if not config_path.exists():
        return "mean"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    for key, mode in (("pooling_mode_cls_token", "cls"), ("pooling_mode_max_tokens", "max"),
                      ("pooling_mode_lasttoken", "lasttoken"), ("pooling_mode_mean_tokens", "mean")):
        if config.get(key):
            return mode  # type: ignore[return-value]
    return "mean"


class TransformersEmbedder:
    """Embed texts with a checkpoint folder's encoder, the way its sentence-transformers pipeline does.

    Args:
        folder: checkpoint folder (``config.json``, weights, tokenizer files, optionally ``modules.json``).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        batch_tokens: padded tokens per forward pass (batch size times longest text); larger batches use a
            GPU better, while about 16k keeps CPU caches warm.
        max_batch: texts per forward pass at most.
        threads: torch intra-op threads (process-wide; default: torch's choice, one per core). Pass 1 on a
            machine whose cores are busy with other work: OpenMP threads that spin-wait for a descheduled
            partner made small batches up to 7x slower than one thread there.
        fast: bf16 weights (`FAST_AGREEMENT` says how close it stays to fp32); the default is the pipeline's
            fp32. On a CPU without native bf16 (`native_bf16`) it keeps fp32, with a warning
            (`CPU_FAST_FALLBACK`; ``fast_fallback`` holds the reason), because emulated bf16 is slower.
        emulated_bf16: with ``fast``, use bf16 on such a CPU anyway (to check bf16 numerics there).
        compile: also ``torch.compile`` the bf16 model. ``"auto"``: on CUDA only. On this project's 2-core CPU
            it raised bench_sticky's speed from 2.1x to 2.7x fp32, but compiling took minutes of wall time and
            recompiled for new batch shapes, so it pays off only on runs of hours (``True`` forces it). Falls
            back to eager bf16, with a warning, where inductor cannot build (no C++ compiler).
        pooling, normalize, max_length: fix these instead of reading them from the folder (`read_settings`);
            transfer's auxiliary space uses ``"mean"``, ``False`` and ``32``.

    Raises:
        LexkitError: see `check_model_folder` and `resolve_device`.
    """

    def __init__(self, folder: str | Path, *, device: str = "cpu", batch_tokens: int = 16384,
                 max_batch: int = 512, threads: int | None = None, fast: bool = False,
                 emulated_bf16: bool = False,
                 compile: bool | Literal["auto"] = "auto", pooling: Pooling | None = None,
                 normalize: bool | None = None, max_length: int | None = None) -> None:
        self.folder = check_model_folder(folder)
        self.device = resolve_device(device)
        torch = require("torch")
        if threads is not None:
            torch.set_num_threads(threads)  # type: ignore[attr-defined]
        transformers = require("transformers")
        self._tokenizer: Any = transformers.AutoTokenizer.from_pretrained(str(self.folder))  # type: ignore[attr-defined]
        self._model: Any = transformers.AutoModel.from_pretrained(  # type: ignore[attr-defined]
            str(self.folder), dtype="float32").to(self.device).eval()
        position_limit = int(getattr(self._model.config, "max_position_embeddings", 512) or 512)
        settings = read_settings(self.folder, model_max_length=int(self._tokenizer.model_max_length),
                                 position_limit=position_limit)
        self.settings = EmbedderSettings(
            pooling=settings.pooling if pooling is None else pooling,
            normalize=settings.normalize if normalize is None else normalize,
            max_length=settings.max_length if max_length is None else min(max_length, position_limit))
        self._cache: dict[str, np.ndarray] = {}
        self.batch_tokens = batch_tokens
        self.max_batch = max_batch
        self._pad_id = int(self._tokenizer.pad_token_id or 0)
        self.precision = "fp32"
        self._eager: Any = None
        self.fast_fallback = ""
        if fast and self.device.type == "cpu" and not emulated_bf16 and not native_bf16():
            self.fast_fallback = CPU_FAST_FALLBACK
            logger.warning("%s", CPU_FAST_FALLBACK)
            fast = False
        if fast:
            self._model = self._model.to(torch.bfloat16)  # type: ignore[attr-defined]
            self.precision = "bf16"
            if compile is True or (compile == "auto" and self.device.type == "cuda"):
                self._eager, self._model = self._model, _compiled(self._model)
                self.precision = "bf16+compile"

    def __repr__(self) -> str:
        return f"TransformersEmbedder({str(self.folder)!r})"

    @property
    def tokenizer_file(self) -> Path:
        """The folder's ``tokenizer.json`` (written there from the slow files when the folder lacks one)."""
        path = self.folder / "tokenizer.json"
        if not path.exists():
            raise LexkitError(f"{self.folder} has no tokenizer.json, which lexkit needs for token filtering; "
                              "save the fast tokenizer once: AutoTokenizer.from_pretrained(folder)"
                              ".save_pretrained(folder)")
        return path

    def base_vocab_strings(self) -> list[str]:
        """The raw vocabulary strings (``##ing``, ``Ġthe``, ``[unused0]``) of the base vocabulary, added tokens
        excluded: the texts whose mean pairwise similarity is the detector's μ."""
        size = int(self._tokenizer.vocab_size)
        return [str(t) for t in self._tokenizer.convert_ids_to_tokens(list(range(size)))]

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """The model's input ids for ``texts`` (special tokens added, truncated to ``max_length``)."""
        encoded = self._tokenizer(list(texts), truncation=True, max_length=self.settings.max_length,
                                  add_special_tokens=True)
        return [list(ids) for ids in encoded["input_ids"]]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``.

        Args:
            texts: the texts, any order; duplicates (by token ids) are computed once.

        Returns:
            float32 array ``(N, D)``, normalized when the pipeline normalizes.
        """
        return self.encode_ids(self.token_ids(texts))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """`encode` with a cache per string across calls (transfer embeds the same token strings repeatedly).

        Returns:
            float32 array ``(len(texts), D)``.
        """
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            self._cache.update(zip(missing, self.encode(missing)))
        if not texts:
            return np.zeros((0, int(self._model.config.hidden_size)), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts]).astype(np.float32, copy=False)

    def encode_ids(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        """Embed already-tokenized inputs (see `encode`); returns float32 ``(N, D)``."""
        torch = require("torch")
        unique: dict[tuple[int, ...], int] = {}
        index = np.fromiter((unique.setdefault(tuple(seq), len(unique)) for seq in ids), dtype=np.int64,
                            count=len(ids))
        sequences = list(unique)
        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
        dim = int(self._model.config.hidden_size)
        out = np.empty((len(sequences), dim), dtype=np.float32)
        with torch.inference_mode():  # type: ignore[attr-defined]
            start = 0
            while start < len(order):
                stop = start + 1
                # subtle: texts are sorted by length, so the last text of a batch is its longest one.
                while (stop < len(order) and stop - start < self.max_batch
                       and (stop - start + 1) * len(sequences[order[stop]]) <= self.batch_tokens):
                    stop += 1
                batch = [sequences[i] for i in order[start:stop]]
                out[order[start:stop]] = self._guarded_forward(batch, torch)
                start = stop
        return out[index]

    def _guarded_forward(self, batch: list[tuple[int, ...]], torch: Any) -> np.ndarray:
        """`_forward`, falling back from the compiled model to eager bf16 if compilation fails (once)."""
        if self._eager is None:
            return self._forward(batch, torch)
        try:
            return self._forward(batch, torch)
        except Exception as exc:  # noqa: BLE001 - inductor raises many types (no compiler, unsupported op)
            logger.warning("torch.compile failed (%s: %s); --fast continues with eager bf16",
                           type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
            self._model, self._eager, self.precision = self._eager, None, "bf16"
            return self._forward(batch, torch)

    def _forward(self, batch: list[tuple[int, ...]], torch: Any) -> np.ndarray:
        width = max(len(seq) for seq in batch)
        input_ids = torch.full((len(batch), width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, seq in enumerate(batch):
            input_ids[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, :len(seq)] = 1
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        states = self._model(input_ids=input_ids, attention_mask=mask).last_hidden_state.float()
        pooled = _pool(states, mask, self.settings.pooling, torch)
        if self.settings.normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled.float().cpu().numpy()


def native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX, as oneDNN reports it); without it torch
    emulates bf16 and ``fast=True`` runs several times slower than fp32 (see `CPU_FAST_FALLBACK`)."""
    torch = require("torch")
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())  # type: ignore[attr-defined]


def _compiled(model: Any) -> Any:
    """``torch.compile`` of a bf16 encoder with dynamic shapes (batches vary in size and width); on CPU with frozen
    weights, so oneDNN pre-packs them (measured with bench/bench_sticky.py speed: bf16 2.1x fp32, bf16 + compile
    2.7x, 2 threads)."""
    import torch

    if next(model.parameters()).device.type == "cpu":
        import torch._inductor.config as inductor

        inductor.freezing = True  # process-wide; it only affects compiled graphs, whose weights do not change
    return torch.compile(model, dynamic=True)


def _pool(states: torch.Tensor, mask: torch.Tensor, pooling: Pooling, torch: Any) -> torch.Tensor:
    """Pool ``(B, L, D)`` token states over the ``(B, L)`` mask into ``(B, D)``, as sentence-transformers does."""
    weights = mask.unsqueeze(-1).to(states.dtype)
    if pooling == "cls":
        return states[:, 0]
    if pooling == "max":
        return states.masked_fill(weights == 0, float("-inf")).max(dim=1).values
    if pooling == "lasttoken":
        last = mask.sum(dim=1) - 1
        return states[torch.arange(states.shape[0], device=states.device), last]
    return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
