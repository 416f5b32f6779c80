"""Heal a swapped model: a short cross-tokenizer self-distillation from the original model.

After `transplant`, the swapped model (the *student*) is trained on plain text, by one of two losses:

- ``next-token`` (the default): the student's own next-token loss. Measured ahead of ALM at every budget tried
  (docs/healing.md), and it needs no teacher pass, so each step is cheaper.
- ``alm``: approximate likelihood matching to the original model with its own tokenizer (the *teacher*;
  Minixhofer et al., arXiv 2503.20083). Both models score the same byte chunks (spans whose ends are token
  boundaries under both tokenizers, `lexkit.transfer._heal_chunks`), and the student's chunk log-likelihood is
  pulled towards the teacher's with a tempered binary cross-entropy.

Either way the teacher scores the held-out text, so the report puts the student beside the original.

Embedding rows train, and by default rank-8 LoRA adapters on the attention's q/v projections. Only the *new*
rows (student tokens that are not anchors of the teacher's vocabulary) may change by default, and a step updates
only the rows of tokens in its batch (`lexkit.transfer._heal_rows.RowAdam`). The softmax over the whole vocabulary
is computed exactly, block by block, so its ``(tokens, V)`` logits never sit in memory. By default gradients reach
the rows from both sides, through the output head and backpropagated through the transformer to the input side
(``through_body``); ``through_body=False, lora_rank=0`` trains head-side rows only and keeps the transformer
bit-identical, at about 0.77x the cost per step.

With ``lora_rank > 0`` the LoRA adapters (`lexkit.transfer._heal_lora`) run beside frozen weights that are never
written while training, and are merged into plain linear layers at the end so the saved model reloads with the
Auto classes.

``HealConfig.dtype`` picks the compute precision (`lexkit.transfer._heal_precision`): float32, or bf16 autocast
for the transformer bodies with float32 master rows, adapters and softmax. The default, ``auto``, is bf16 on CUDA
devices that support it and float32 on the CPU; bf16 autocast also runs on the CPU, so the CPU tests cover the
GPU's code path. A model loaded in bf16 is saved in bf16.

Not handled yet: tokenizers whose tokens do not spell the text byte for byte (SentencePiece dummy prefix,
normalizers).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import logging
import random
import resource
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lexkit._version import __version__
from lexkit.device import resolve_device
from lexkit.errors import LexkitError
from lexkit.transfer._heal_chunks import (
    BOUNDARIES,
    Boundary,
    align_chunks,
    binary_cross_entropy,
    chunk_logprobs,
    token_ends,
)
from lexkit.transfer._heal_precision import (
    PRECISIONS,
    Precision,
    autocast,
    full_precision,
    resolve_precision,
    restore,
    upcast,
)
from lexkit.transfer._heal_rows import RowAdam, head_log_partition
from lexkit.transfer._models import ModelLike, load_causal_lm, model_tokenizer_source
from lexkit.transfer.anchors import match_anchors
from lexkit.transfer.evaluate import chunk_text, evaluate
from lexkit.transfer.tokenizer import TEXT_KINDS, TokenizerLike, TransferTokenizer

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

__all__ = [
    "Loss", "Rows", "LOSSES", "ROWS", "CHECKPOINT_FILE", "REPORT_FILE", "HealConfig", "Budget", "HealStep",
    "HealResult", "heal", "check_same_architecture", "peak_memory_mb",
]

logger = logging.getLogger(__name__)

Loss = Literal["alm", "next-token"]
Rows = Literal["new", "all"]
LOSSES: tuple[Loss, ...] = ("alm", "next-token")
ROWS: tuple[Rows, ...] = ("new", "all")
CHECKPOINT_FILE = "heal_checkpoint.pt"
REPORT_FILE = "heal_report.json"


@dataclass(frozen=True)
class HealConfig:
    """How healing trains.

    Attributes:
        loss: ``next-token`` (the student's own next-token loss) or ``alm`` (approximate likelihood matching to
            the teacher). next-token: from the centred-OMP start of the Qwen2.5 → SmolLM2 swap, with the same rows,
            adapters and learning rate, 5 / 15 / 30 minutes of the 2-core CPU (27 / 82 / 163 steps at its measured
            rate) reached 1.7280 / 1.6712 / 1.6404 bits per byte against ALM's 1.7809 / 1.7530 / 1.7450 (20 / 59 /
            118 steps; start 1.9057, original 1.5288; `bench/bench_heal.py` variants next-token-body-lora /
            alm-body-lora, docs/healing.md).
        rows: ``new`` (rows of student tokens the teacher lacks) or ``all`` (every embedding row).
        through_body: also backpropagate through the transformer to the input side of the rows (default on: see
            ``lora_rank``).
        learning_rate: Adam's step size for the rows. 3e-3: from the centred-OMP start of the Qwen2.5 → SmolLM2
            swap, 26 ALM steps reached 1.8605 bits per byte at 3e-3 against 1.8847 at 1e-3 and 1.8705 at 1e-2
            (start 1.9057; `bench/bench_heal.py`, docs/healing.md).
        batch_size: text pieces per step.
        sequence_chars: characters per text piece (pieces are cut at whitespace).
        temperature: ALM's binarisation temperature (the reference's 100).
        boundary: ALM chunk ends: every common token boundary (``token``) or only those before whitespace.
        eval_every: held-out bits per byte every this many steps (0: only before and after).
        eval_steps: held-out bits per byte also after each of these steps (e.g. the step counts that match
            minutes of training at a measured step rate, so a run's marks do not depend on machine load).
        checkpoint_every: write a checkpoint every this many steps (when a checkpoint folder is given).
        lora_rank: rank of LoRA adapters trained on the ``lora_targets`` layers besides the rows (0: none). 8, with
            ``through_body``: from the centred-OMP start of the Qwen2.5 → SmolLM2 swap, five minutes of the 2-core
            CPU (20 steps at its measured rate) reached 1.7809 bits per byte against 1.8508 for rows from both sides
            without adapters (21 steps) and 1.8605 for head-side rows only (26 steps; start 1.9057;
            `bench/bench_heal.py` variants alm-body-lora / alm-body / alm, docs/healing.md).
        lora_alpha: the adapters' scale numerator (update = alpha / rank · B A).
        lora_targets: attribute names of the transformer's linear layers that get adapters.
        dtype: compute precision: ``float32``, ``bfloat16`` (autocast of the transformer bodies; rows, adapters,
            Adam's moments and the head's softmax stay float32) or ``auto``: bf16 on CUDA devices that support it,
            float32 elsewhere, because CPUs without bf16 instructions run bf16 slower than float32 (docs/healing.md)
            and the measured defaults above were chosen in float32. The saved model keeps the dtype it was loaded in.
        seed: data-order seed.
    """

    loss: Loss = "next-token"
    rows: Rows = "new"
    through_body: bool = True
    learning_rate: float = 3e-3
    batch_size: int = 4
    sequence_chars: int = 1000
    temperature: float = 100.0
    boundary: Boundary = "token"
    eval_every: int = 0
    eval_steps: tuple[int, ...] = ()
    checkpoint_every: int = 25
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_targets: tuple[str, ...] = ("q_proj", "v_proj")
    dtype: Precision = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "eval_steps", tuple(self.eval_steps))  # a list from JSON or a CLI works too
        object.__setattr__(self, "lora_targets", tuple(self.lora_targets))
        checks = [
            (self.loss in LOSSES, f"loss={self.loss!r} is not a healing loss; pass one of {', '.join(LOSSES)}"),
            (self.rows in ROWS, f"rows={self.rows!r} is not a row set; pass one of {', '.join(ROWS)}"),
            (self.boundary in BOUNDARIES,
             f"boundary={self.boundary!r} is not a chunk boundary rule; pass one of {', '.join(BOUNDARIES)}"),
            (self.learning_rate > 0, f"learning_rate={self.learning_rate} must be positive; pass e.g. 1e-3"),
            (self.batch_size >= 1, f"batch_size={self.batch_size} must be at least 1; pass e.g. 4"),
            (self.sequence_chars >= 16, f"sequence_chars={self.sequence_chars} is too short; pass e.g. 1000"),
            (self.temperature > 0, f"temperature={self.temperature} must be positive; pass e.g. 100"),
            (self.eval_every >= 0, f"eval_every={self.eval_every} must be 0 (off) or a step count"),
            (all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in self.eval_steps),
             f"eval_steps={self.eval_steps!r} must hold positive step counts; pass e.g. (100, 300)"),
            (self.lora_rank >= 0, f"lora_rank={self.lora_rank} must be 0 (no adapters) or a positive rank"),
            (self.lora_alpha > 0, f"lora_alpha={self.lora_alpha} must be positive; pass e.g. 16"),
            (not self.lora_rank or bool(self.lora_targets),
             "lora_targets is empty; pass layer names, e.g. ('q_proj', 'v_proj')"),
            (self.checkpoint_every >= 1, f"checkpoint_every={self.checkpoint_every} must be a positive step count"),
            (self.dtype in PRECISIONS, f"dtype={self.dtype!r} is not a healing precision; pass one of "
                                       f"{', '.join(PRECISIONS)}"),
        ]
        for ok, message in checks:
            if not ok:
                raise LexkitError(message)


@dataclass(frozen=True)
class Budget:
    """When healing stops: after ``minutes`` of training (held-out evaluation not counted) or ``steps`` steps,
    whichever comes first. At least one must be given."""

    minutes: float | None = None
    steps: int | None = None

    def __post_init__(self) -> None:
        if self.minutes is None and self.steps is None:
            raise LexkitError("the healing budget is empty; pass Budget(minutes=5) or Budget(steps=100)")
        if self.minutes is not None and not self.minutes > 0:
            raise LexkitError(f"budget minutes={self.minutes} leaves no time for one step; pass a positive number")
        if self.steps is not None and self.steps < 1:
            raise LexkitError(f"budget steps={self.steps} is too small for one step; pass at least 1")

    @classmethod
    def parse(cls, budget: Budget | float | int) -> Budget:
        """A `Budget`, or a number of minutes."""
        if isinstance(budget, Budget):
            return budget
        if isinstance(budget, bool) or not isinstance(budget, int | float):
            raise LexkitError(f"budget={budget!r} is not a budget; pass minutes as a number or Budget(steps=N)")
        return cls(minutes=float(budget))


@dataclass(frozen=True)
class HealStep:
    """Progress after one step: the step number, its loss, training seconds and tokens so far, and held-out
    bits per byte when it was measured at this step (overall, and per slice when the held-out texts are named)."""

    step: int
    loss: float
    seconds: float
    tokens: int
    bpb: float | None = None
    bpb_slices: dict[str, float] | None = None


@dataclass
class HealResult:
    """The healed model, its tokenizer, the step history and run information (counts, speed, memory)."""

    model: Any  # a transformers PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    history: list[HealStep]
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The content of ``heal_report.json``."""
        return {**self.info, "history": [asdict(h) for h in self.history]}

    def save(self, directory: str | PathLike[str]) -> Path:
        """Write model, tokenizer and ``heal_report.json`` into one folder, atomically (plain Auto classes reload
        it)."""
        from lexkit.atomic import atomic_directory

        directory = Path(directory)
        with atomic_directory(directory) as staging:
            self.model.save_pretrained(str(staging))
            self.tokenizer.save_pretrained(str(staging))
            (staging / REPORT_FILE).write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=1),
                                               encoding="utf-8")
        return directory


def heal(
    model: ModelLike,
    teacher: ModelLike,
    texts: Sequence[str],
    *,
    budget: Budget | float | int,
    tokenizer: TokenizerLike | None = None,
    teacher_tokenizer: TokenizerLike | None = None,
    held_out: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    config: HealConfig | None = None,
    device: str = "auto",
    checkpoint_dir: str | PathLike[str] | None = None,
    progress: Callable[[HealStep], None] | None = None,
) -> HealResult:
    """Train a swapped model's embedding rows to match the original model's likelihoods on ``texts``.

    Args:
        model: the student: a `TransplantResult`, a loaded causal LM, or its folder (not modified in place).
        teacher: the original model, with its own tokenizer: a loaded causal LM, a folder or a ``.gguf`` file.
        texts: training documents.
        budget: a `Budget`, or minutes of training.
        tokenizer: the student's tokenizer (default: the `TransplantResult`'s, or read from the model's folder).
        teacher_tokenizer: the teacher's tokenizer (default: read from the teacher's folder or ``.gguf`` file).
        held_out: documents (or slice name -> documents) scored in bits per byte before, after and every
            ``config.eval_every`` steps; None skips the scoring.
        config: the `HealConfig` (default: ALM on the new rows).
        device: ``cpu``, ``cuda`` or ``auto``.
        checkpoint_dir: folder for checkpoints; when it holds one from the same run, healing resumes from it.
        progress: called with a `HealStep` after every step.

    Returns:
        The `HealResult` (the healed copy, its tokenizer, history, info).

    Raises:
        LexkitError: teacher and student of different architectures, no text, a tokenizer whose tokens do not
            spell the text, a budget too small for one step, or a checkpoint from a different run.
    """
    import torch

    config = config or HealConfig()
    budget = Budget.parse(budget)
    started = time.perf_counter()
    student, side = _student(model, tokenizer)
    loaded_teacher, teacher_path = load_causal_lm(teacher, what="teacher")
    teacher_side = _side(loaded_teacher, teacher_path, teacher_tokenizer, what="teacher")
    check_same_architecture(student, loaded_teacher)
    pieces = [p for text in texts for p in chunk_text(text, config.sequence_chars) if p.strip()]
    if isinstance(texts, str) or not pieces:
        raise LexkitError("the healing corpus holds no text; pass a non-empty list of documents (texts=[...])")
    compute = resolve_device(device)
    student.to(compute)
    # a float32 run of a model stored in bf16 trains a float32 working copy; `_finish` converts it back (the frozen
    # weights exactly)
    lowered = upcast(student) if resolve_precision(config.dtype, compute) == torch.float32 else {}
    loaded_teacher.to(compute)
    for parameter in [*student.parameters(), *loaded_teacher.parameters()]:
        parameter.requires_grad_(False)
    trainer = _Trainer(student, side, loaded_teacher, teacher_side, config, compute)
    _check_logits(loaded_teacher, trainer, pieces[0])
    state = _RunState(order_seed=config.seed, pieces=len(pieces))
    checkpoint = Path(checkpoint_dir) / CHECKPOINT_FILE if checkpoint_dir is not None else None
    fingerprint = trainer.fingerprint(config, len(pieces))
    if checkpoint is not None and checkpoint.exists():
        state = trainer.resume(checkpoint, fingerprint)
        logger.info("heal: resumed at step %d (%.0fs trained)", state.step, state.seconds)

    def score() -> tuple[float | None, dict[str, float] | None]:
        if held_out is None:
            return None, None
        scored = evaluate(student, side, held_out, chunk_chars=config.sequence_chars)
        slices = {name: s.bpb for name, s in scored.slices.items()} if isinstance(held_out, Mapping) else None
        return scored.bpb, slices

    history: list[HealStep] = []
    info: dict[str, Any] = {"lexkit_version": __version__, "config": asdict(config), "budget": asdict(budget),
                            "device": str(compute), "student_rows": trainer.rows_out.matrix.shape[0],
                            "trainable_rows": trainer.trainable_rows, "hidden_size": trainer.hidden_size,
                            "trainable_parameters": trainer.trainable_parameters, "resumed_at": state.step,
                            "lora_layers": len(trainer.adapted), "compute_dtype": str(trainer.dtype).split(".")[-1],
                            "model_dtype": str(_stored_dtype(student, lowered)).split(".")[-1]}
    if held_out is not None:
        info["teacher_bpb"] = evaluate(loaded_teacher, teacher_side, held_out, chunk_chars=config.sequence_chars).bpb
        info["start_bpb"] = score()[0]
        logger.info("heal: held-out %.4f bits per byte before (teacher %.4f)", info["start_bpb"], info["teacher_bpb"])
    limit = None if budget.minutes is None else budget.minutes * 60.0
    while (budget.steps is None or state.step < budget.steps) and (limit is None or state.seconds < limit):
        batch = [pieces[i] for i in state.next_indices(config.batch_size)]
        tick = time.perf_counter()
        loss, tokens = trainer.step(batch)
        state.seconds += time.perf_counter() - tick
        state.step += 1
        state.tokens += tokens
        if state.step == 1 and limit is not None and state.seconds > limit:
            raise LexkitError(
                f"the budget of {budget.minutes} minutes is shorter than one healing step ({state.seconds:.1f}s); "
                "nothing was written; pass more minutes, Budget(steps=N), or a smaller batch_size / sequence_chars"
            )
        due = (config.eval_every and state.step % config.eval_every == 0) or state.step in config.eval_steps
        bpb, slices = score() if due else (None, None)
        record = HealStep(state.step, loss, state.seconds, state.tokens, bpb, slices)
        history.append(record)
        if progress is not None:
            progress(record)
        if checkpoint is not None and state.step % config.checkpoint_every == 0:
            trainer.save_checkpoint(checkpoint, state, fingerprint)
    if checkpoint is not None and history:
        trainer.save_checkpoint(checkpoint, state, fingerprint)
    final = score()[0]
    if final is not None:
        info["final_bpb"] = final
        logger.info("heal: held-out %.4f bits per byte after %d steps", final, state.step)
    if trainer.adapted:
        from lexkit.transfer._heal_lora import merge_lora

        info["lora_layers"] = merge_lora(student.base_model)  # plain linear layers again: Auto classes reload it
    restore(student, lowered)  # the dtype it was loaded in (after the merge, so the adapters fold in float32)
    info.update({"steps": state.step, "tokens": state.tokens, "train_seconds": round(state.seconds, 2),
                 "tokens_per_second": round(state.tokens / max(state.seconds, 1e-9), 1),
                 "rows_updated": trainer.rows_updated, "peak_memory_mb": peak_memory_mb(compute),
                 "seconds": round(time.perf_counter() - started, 2)})
    return HealResult(student, side.hf, history, info)


def check_same_architecture(student: Any, teacher: Any) -> None:
    """Refuse a teacher and student that are not one architecture (healing trains only embeddings, so the
    transformer must be the same).

    Raises:
        LexkitError: model type, hidden size or layer count differ.
    """
    fields = ("model_type", "hidden_size", "num_hidden_layers")
    mine = {f: getattr(student.config, f, None) for f in fields}
    theirs = {f: getattr(teacher.config, f, None) for f in fields}
    if mine != theirs:
        differ = ", ".join(f"{f} {mine[f]} vs {theirs[f]}" for f in fields if mine[f] != theirs[f])
        raise LexkitError(
            f"the student and the teacher are not the same architecture ({differ}); healing trains only the "
            "student's embeddings against its own original; pass the model the student was transplanted from"
        )


def peak_memory_mb(device: Any) -> float:
    """Peak memory of this process in MB: GPU allocations on CUDA, resident set size otherwise."""
    if getattr(device, "type", str(device)) == "cuda":
        import torch

        return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


def _stored_dtype(model: Any, lowered: Mapping[str, Any]) -> Any:
    """The dtype the student's embedding was loaded in (before a float32 run's `upcast`)."""
    weight = model.get_input_embeddings().weight
    names = [name for name, p in model.named_parameters() if p is weight]
    return lowered.get(names[0], weight.dtype) if names else weight.dtype


def _side(model: Any, path: Path | None, tokenizer: TokenizerLike | None, *, what: str) -> TransferTokenizer:
    if tokenizer is not None:
        return TransferTokenizer.from_any(tokenizer, what=f"{what} tokenizer")
    location = model_tokenizer_source(model, path)
    if location is None:
        raise LexkitError(f"the {what}'s tokenizer is unknown; pass {what}_tokenizer= (the tokenizer it uses)"
                          if what == "teacher" else "the student's tokenizer is unknown; pass tokenizer=")
    return TransferTokenizer.from_any(location, what=f"{what} tokenizer")


def _student(model: Any, tokenizer: TokenizerLike | None) -> tuple[Any, TransferTokenizer]:
    """A private copy of the student model and its tokenizer side."""
    from lexkit.transfer.transplant import TransplantResult

    if isinstance(model, TransplantResult):
        return copy.deepcopy(model.model), TransferTokenizer.from_any(tokenizer or model.tokenizer, what="tokenizer")
    loaded, path = load_causal_lm(model, what="student model")
    side = _side(loaded, path, tokenizer, what="student")
    student = copy.deepcopy(loaded) if path is None else loaded
    if getattr(student, "hf_quantizer", None) is not None:  # a GGUF-loaded model: weights already float32
        student.hf_quantizer = None
        student.is_quantized = False
        if hasattr(student.config, "quantization_config"):
            del student.config.quantization_config
    return student, side


def _check_logits(teacher: Any, trainer: _Trainer, piece: str) -> None:
    """The trainer computes logits as ``hidden @ headᵀ (+ bias)``; refuse models whose head does more."""
    import torch

    ids = trainer.encode_teacher(piece)[:16]
    x = torch.tensor([ids], device=trainer.device)
    with torch.inference_mode():
        expected = teacher(input_ids=x).logits.float()
        hidden = teacher.base_model(input_ids=x).last_hidden_state
        got = _linear(hidden, teacher.get_output_embeddings()).float()
    if not torch.allclose(expected, got, atol=1e-3, rtol=1e-3):
        raise LexkitError(
            f"{type(teacher).__name__} transforms its logits beyond hidden @ head (soft-capping or scaling), which "
            "healing does not reproduce; heal a model with a plain linear head (Llama, Qwen, SmolLM2, GPT-2 ...)"
        )


def _linear(hidden: torch.Tensor, head: Any, *, float32: bool = False) -> torch.Tensor:
    """The head's logits ``hidden @ weightᵀ (+ bias)`` with the head's own kernel (float32 weights if asked)."""
    import torch

    weight, bias = head.weight, getattr(head, "bias", None)
    if float32:
        weight, bias = weight.float(), None if bias is None else bias.float()
    return torch.nn.functional.linear(hidden, weight, bias)


@dataclass
class _RunState:
    """Where a run is: steps, training seconds, tokens, and the data cursor (resumable)."""

    order_seed: int
    pieces: int
    step: int = 0
    seconds: float = 0.0
    tokens: int = 0
    cursor: int = 0

    def next_indices(self, count: int) -> list[int]:
        """The next ``count`` piece indices of a seeded shuffle that is redrawn each pass over the corpus."""
        out = []
        for _ in range(count):
            epoch, position = divmod(self.cursor, self.pieces)
            order = list(range(self.pieces))
            random.Random(self.order_seed * 1_000_003 + epoch).shuffle(order)
            out.append(order[position])
            self.cursor += 1
        return out


@dataclass(frozen=True)
class _Example:
    teacher_ids: list[int]
    student_ids: list[int]
    teacher_owner: list[int]  # chunk of each predicted teacher position 1..L-1 (−1: not in a chunk)
    student_owner: list[int]
    chunks: int


class _Trainer:
    """One healing step: tokenize and align a batch, score the teacher, score the student, update rows."""

    def __init__(self, student: Any, side: TransferTokenizer, teacher: Any, teacher_side: TransferTokenizer,
                 config: HealConfig, device: Any) -> None:
        import torch

        self.student, self.side, self.teacher, self.teacher_side = student, side, teacher, teacher_side
        self.config, self.device = config, device
        self.dtype = resolve_precision(config.dtype, device)
        self.student_bytes = _token_bytes(side)
        self.teacher_bytes = _token_bytes(teacher_side)
        self.student_bos = side.hf.bos_token_id
        self.teacher_bos = teacher_side.hf.bos_token_id
        embedding = student.get_input_embeddings().weight
        head = student.get_output_embeddings()
        self.tied = head is None or head.weight.data_ptr() == embedding.data_ptr()
        self.hidden_size = int(embedding.shape[1])
        self.head_bias = None if self.tied or getattr(head, "bias", None) is None else head.bias.detach()
        rows = embedding.shape[0]
        trainable = torch.ones(rows, dtype=torch.bool)
        if config.rows == "new":
            anchors = match_anchors(teacher_side, side, source_rows=teacher.get_input_embeddings().weight.shape[0])
            trainable[[i for i in anchors.pairs if i < rows]] = False
        self.trainable_rows = int(trainable.sum())
        self.rows_in = RowAdam(embedding.data, trainable, lr=config.learning_rate)
        self.rows_out = self.rows_in if self.tied else RowAdam(head.weight.data, trainable, lr=config.learning_rate)
        matrices = 1 if self.tied else (2 if config.through_body else 1)
        self.trainable_parameters = self.trainable_rows * self.hidden_size * matrices
        self.adapted: list[str] = []
        self.adapter_optimizer: Any = None
        if config.lora_rank:
            from lexkit.transfer._heal_lora import attach_lora, lora_parameters

            try:
                self.adapted = attach_lora(student.base_model, config.lora_targets, rank=config.lora_rank,
                                           alpha=config.lora_alpha, seed=config.seed)
            except ValueError as exc:
                raise LexkitError(f"lora_targets={config.lora_targets!r}: {exc} in {type(student).__name__}; "
                                  "pass names of its linear layers, e.g. ('q_proj', 'v_proj')") from None
            adapters = lora_parameters(student.base_model)
            self.adapter_optimizer = torch.optim.Adam(adapters, lr=config.learning_rate)
            self.trainable_parameters += sum(p.numel() for p in adapters)

    @property
    def rows_updated(self) -> int:
        """Rows that at least one step changed (input and head counted once when tied)."""
        touched = len(self.rows_out.rows)
        return touched if self.tied else touched + len(self.rows_in.rows)

    # ----------------------------------------------------------------------------------------------------------
    # data
    def encode_teacher(self, piece: str) -> list[int]:
        ids = _encode(self.teacher_side, piece)
        return [self.teacher_bos, *ids] if self.teacher_bos is not None else ids

    def _example(self, piece: str) -> _Example | None:
        data = piece.encode("utf-8")
        t_ids, s_ids = _encode(self.teacher_side, piece), _encode(self.side, piece)
        if len(t_ids) < 2 or len(s_ids) < 2:
            return None
        t_ends = token_ends(t_ids, self.teacher_bytes, data, what="teacher tokenizer")
        s_ends = token_ends(s_ids, self.student_bytes, data, what="student tokenizer")
        align = align_chunks(t_ends, s_ends, data, teacher_from_start=self.teacher_bos is not None,
                             student_from_start=self.student_bos is not None, boundary=self.config.boundary)

        def side(ids: list[int], owner: Any, bos: int | None) -> tuple[list[int], list[int]]:
            if bos is not None:
                return [bos, *ids], owner.tolist()
            return ids, owner[1:].tolist()

        teacher_ids, teacher_owner = side(t_ids, align.teacher, self.teacher_bos)
        student_ids, student_owner = side(s_ids, align.student, self.student_bos)
        return _Example(teacher_ids, student_ids, teacher_owner, student_owner, align.chunks)

    # ----------------------------------------------------------------------------------------------------------
    # one step
    def step(self, batch: list[str]) -> tuple[float, int]:
        """Train on one batch of text pieces; returns the loss and the number of student tokens."""

        examples = [e for e in (self._example(p) for p in batch) if e is not None]
        if not examples:
            return 0.0, 0
        s_ids, s_mask, s_owner = self._pad([e.student_ids for e in examples],
                                           _offset([e.student_owner for e in examples], examples))
        active = self.rows_out.active(s_ids[s_mask.bool()])
        active_rows = self.rows_out.values(active).requires_grad_(True)  # float32 (masters of a bf16 matrix)
        input_rows = active_rows
        if not self.tied and self.config.through_body:
            input_rows = self.rows_in.values(active).requires_grad_(True)
        with autocast(self.device, self.dtype):
            hidden = self._student_hidden(s_ids, s_mask, active, input_rows)
        with full_precision(self.device):  # the head, its softmax and the chunk loss in float32
            loss, scored = self._loss(examples, hidden, s_ids, s_mask, s_owner, active, active_rows)
        if not len(active) and not self.adapted:  # no trainable token in this batch: nothing to update
            return float(loss.detach()), int(scored.sum())
        loss.backward()
        if len(active):
            assert active_rows.grad is not None
            self.rows_out.step(active, active_rows.grad)
            if input_rows is not active_rows and input_rows.grad is not None:
                self.rows_in.step(active, input_rows.grad)
        if self.adapter_optimizer is not None:
            self.adapter_optimizer.step()
            self.adapter_optimizer.zero_grad(set_to_none=True)
        return float(loss.detach()), int(scored.sum())

    def _loss(self, examples: list[_Example], hidden: torch.Tensor, s_ids: torch.Tensor, s_mask: torch.Tensor,
              s_owner: torch.Tensor, active: torch.Tensor, active_rows: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """The step's loss from the student's final hidden states, and the mask of scored positions."""
        import torch

        flat_hidden = hidden[:, :-1].reshape(-1, hidden.shape[-1]).float()
        targets = s_ids[:, 1:].reshape(-1)
        scored = s_mask[:, 1:].reshape(-1).bool()
        logprobs = self._student_logprobs(flat_hidden[scored], targets[scored], active, active_rows)
        if self.config.loss == "next-token":
            loss = -logprobs.mean()
        else:
            total = sum(e.chunks for e in examples)
            student_chunks = chunk_logprobs(logprobs, s_owner[:, 1:].reshape(-1)[scored], total)
            teacher_chunks = self._teacher_chunks(examples, total)
            counted = torch.zeros(total, dtype=torch.bool, device=self.device)
            counted[s_owner[s_owner >= 0]] = True
            target, mine = teacher_chunks[counted], student_chunks[counted]
            # minus the teacher's own binary entropy: the same gradient, and 0 when the student matches the teacher
            loss = (binary_cross_entropy(target, mine, temperature=self.config.temperature)
                    - binary_cross_entropy(target, target, temperature=self.config.temperature)).mean()
        return loss, scored

    def _pad(self, sequences: list[list[int]], owners: list[list[int]]) -> tuple[torch.Tensor, ...]:
        import torch

        longest = max(len(s) for s in sequences)
        ids = torch.zeros(len(sequences), longest, dtype=torch.long)
        mask = torch.zeros(len(sequences), longest, dtype=torch.long)
        owner = torch.full((len(sequences), longest), -1, dtype=torch.long)
        for row, (sequence, own) in enumerate(zip(sequences, owners)):
            ids[row, :len(sequence)] = torch.tensor(sequence)
            mask[row, :len(sequence)] = 1
            owner[row, 1:len(sequence)] = torch.tensor(own, dtype=torch.long)
        return ids.to(self.device), mask.to(self.device), owner.to(self.device)

    def _student_hidden(self, ids: torch.Tensor, mask: torch.Tensor, active: torch.Tensor,
                        active_rows: torch.Tensor) -> torch.Tensor:
        import torch

        body = self.student.base_model
        if not self.config.through_body:
            if self.adapted:  # the adapters need the body's gradients; the rows still come in as ids
                return body(input_ids=ids, attention_mask=mask).last_hidden_state
            with torch.no_grad():
                return body(input_ids=ids, attention_mask=mask).last_hidden_state
        embedded = torch.nn.functional.embedding(ids, self.rows_in.matrix)
        if len(active):
            slot = torch.full((self.rows_in.matrix.shape[0],), -1, dtype=torch.long, device=self.device)
            slot[active] = torch.arange(len(active), device=self.device)
            here = slot[ids]
            moving = active_rows[here.clamp(min=0)].to(embedded.dtype)
            embedded = torch.where((here >= 0)[..., None], moving, embedded)
        return body(inputs_embeds=embedded, attention_mask=mask).last_hidden_state

    def _student_logprobs(self, hidden: torch.Tensor, targets: torch.Tensor, active: torch.Tensor,
                          active_rows: torch.Tensor) -> torch.Tensor:
        """Exact log-probabilities of the target tokens under the full softmax."""
        import torch

        matrix = self.rows_out.matrix.float() if self.rows_out.matrix.dtype != torch.float32 else self.rows_out.matrix
        bias = None if self.head_bias is None else self.head_bias.float()
        log_z = head_log_partition(hidden, matrix, active, active_rows, bias)
        slot = torch.full((matrix.shape[0],), -1, dtype=torch.long, device=self.device)
        slot[active] = torch.arange(len(active), device=self.device)
        here = slot[targets]
        weights = matrix[targets]
        if len(active):
            weights = torch.where((here >= 0)[:, None], active_rows[here.clamp(min=0)], weights)
        logits = (hidden * weights).sum(-1)
        if bias is not None:
            logits = logits + bias[targets]
        return logits - log_z

    def _teacher_chunks(self, examples: list[_Example], total: int) -> torch.Tensor:
        import torch

        ids, mask, owner = self._pad([e.teacher_ids for e in examples],
                                     _offset([e.teacher_owner for e in examples], examples))
        with torch.inference_mode():
            with autocast(self.device, self.dtype):
                hidden = self.teacher.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
            with full_precision(self.device):  # the head and its softmax in float32, as the student's
                logits = _linear(hidden.float(), self.teacher.get_output_embeddings(), float32=True)[:, :-1]
                logprobs = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
            scored = mask[:, 1:].bool()
            return chunk_logprobs(logprobs[scored], owner[:, 1:][scored], total).clone()

    # ----------------------------------------------------------------------------------------------------------
    # checkpoints
    def fingerprint(self, config: HealConfig, pieces: int) -> str:
        """A digest of the starting student rows, the configuration and the corpus size: a checkpoint resumes
        only the run it came from."""
        import torch

        settings = asdict(config)
        del settings["dtype"]  # the resolved precision instead; float32 keeps older checkpoints' digests
        parts = [settings, pieces] + ([str(self.dtype)] if self.dtype != torch.float32 else [])
        digest = hashlib.sha256(json.dumps(parts).encode())
        for matrix in {id(m.matrix): m.matrix for m in (self.rows_in, self.rows_out)}.values():
            digest.update(memoryview(matrix.detach().float().cpu().contiguous().numpy()))
        return digest.hexdigest()

    def save_checkpoint(self, path: Path, state: _RunState, fingerprint: str) -> None:
        """Write the run state and the touched rows atomically."""
        import torch

        from lexkit.atomic import atomic_write_bytes

        payload = {"fingerprint": fingerprint, "state": asdict(state), "rows_out": self.rows_out.state(),
                   "rows_in": None if self.tied else self.rows_in.state(), "lexkit_version": __version__}
        if self.adapted:
            from lexkit.transfer._heal_lora import adapter_state

            payload["adapters"] = adapter_state(self.student.base_model)
            payload["adapter_optimizer"] = self.adapter_optimizer.state_dict()
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        atomic_write_bytes(path, buffer.getvalue())

    def resume(self, path: Path, fingerprint: str) -> _RunState:
        """Load a checkpoint written by `save_checkpoint` for this same run.

        Raises:
            LexkitError: the checkpoint is unreadable or belongs to another run.
        """
        import torch

        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError) as exc:
            raise LexkitError(f"{path}: unreadable healing checkpoint ({exc}); delete it to start over") from None
        if payload.get("fingerprint") != fingerprint:
            raise LexkitError(
                f"{path}: the checkpoint belongs to another healing run (different starting model, settings or "
                "corpus); pass another checkpoint folder, or delete it to start over"
            )
        self.rows_out.load_state(payload["rows_out"])
        if payload["rows_in"] is not None:
            self.rows_in.load_state(payload["rows_in"])
        if self.adapted:
            from lexkit.transfer._heal_lora import load_adapter_state

            load_adapter_state(self.student.base_model, payload["adapters"])
            self.adapter_optimizer.load_state_dict(payload["adapter_optimizer"])
        return _RunState(**payload["state"])


def _token_bytes(side: TransferTokenizer) -> list[bytes | None]:
    return [t.content if t.kind in TEXT_KINDS else None for t in side.vocabulary.tokens]


def _encode(side: TransferTokenizer, text: str) -> list[int]:
    return list(side.hf(text, add_special_tokens=False, split_special_tokens=True)["input_ids"])


def _offset(owners: list[list[int]], examples: list[_Example]) -> list[list[int]]:
    """Make per-example chunk indices global over the batch (−1 stays −1)."""
    out, base = [], 0
    for own, example in zip(owners, examples):
        out.append([o + base if o >= 0 else -1 for o in own])
        base += example.chunks
    return out

