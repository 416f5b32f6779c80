"""Training a hypernetwork for one frozen source model (ZeTT's training loop).

Each step draws text spans, samples a new UnigramLM tokenizer from the recent text (`TokenizerSampler`),
tokenizes the spans with it, predicts embeddings for the sampled vocabulary, and runs the frozen LM with them.
Loss = causal-LM cross-entropy + ``aux_weight`` x the auxiliary loss (predicted vs true rows of sampled tokens
that are single source tokens). The first ``identity_steps`` steps only teach the network to reproduce source
rows from their own one-piece decomposition. Only the hypernetwork trains.

lexkit difference from ZeTT (CPU budget, and it matches how `transplant` uses the network): with
``copy_shared=True`` sampled tokens whose bytes are a source token get their true rows in the LM pass, as
anchors do at transplant time; the network is run on the other tokens plus ``aux_tokens`` shared ones.

Checkpoints (``checkpoint.pt``: network, optimizer, step, random states, history) and a loadable hypernetwork
are written to the output folder every ``checkpoint_every`` steps; training resumes from there.
"""

from __future__ import annotations

import io
import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lexkit.atomic import atomic_write_bytes, atomic_write_text
from lexkit.device import resolve_device
from lexkit.errors import CorpusError, LexkitError
from lexkit.transfer._models import ModelLike, is_tied, load_causal_lm
from lexkit.transfer.hypernetwork.network import (
    HypernetConfig,
    HypernetModule,
    Hypernetwork,
    SourceInfo,
    batches,
    fit_rescalers,
    piece_table,
)
from lexkit.transfer.hypernetwork.sampler import SampledTokenizer, TokenizerSampler
from lexkit.transfer.tokenizer import TEXT_KINDS, TokenizerLike, TransferTokenizer

__all__ = ["CHECKPOINT_FILE", "HISTORY_FILE", "TrainConfig", "PRESETS", "train", "load_corpus"]

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
HISTORY_FILE = "training_log.json"
_IGNORE = -100


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (ZeTT's values in parentheses where lexkit's CPU defaults differ).

    Args:
        steps: total optimizer steps, identity phase included.
        identity_steps: warm-up steps that only reproduce source rows (ZeTT: 5 % of steps).
        batch_size: text spans per step (ZeTT: 128).
        seq_len: tokens per span under the sampled tokenizer (ZeTT: 128).
        span_chars: characters drawn per span (enough for ``seq_len`` tokens).
        sample_vocab_size: pieces per sampled tokenizer (ZeTT: 32,768).
        queue_size: substring tables kept by the sampler.
        prefill_spans: spans read into the sampler before the first step (ZeTT: 2,048).
        aux_weight: weight of the auxiliary loss (0.5).
        aux_tokens: shared tokens per step in the auxiliary loss (all of them in ZeTT).
        identity_tokens: source tokens per identity step (16,384).
        copy_shared: shared tokens get their true rows in the LM pass (see the module docstring).
        learning_rate: peak rate of the main phase (6e-5).
        identity_learning_rate: peak rate of the identity phase (3e-4).
        lr_warmup_steps: linear warm-up of the main phase, then cosine to ``min_lr_ratio`` (10k).
        min_lr_ratio: final rate as a share of the peak (0.1).
        weight_decay: AdamW decay, not applied to biases, norms and positions (0.01).
        beta2: AdamW beta2 (0.95).
        grad_clip: global gradient-norm clip (0.1).
        predict_batch: tokens per hypernetwork forward chunk.
        mixed_precision: bfloat16 autocast on CUDA (ignored on the CPU).
        checkpoint_every: steps between checkpoints.
        seed: seeds data, sampler and initialisation.
    """

    steps: int = 1000
    identity_steps: int = 50
    batch_size: int = 8
    seq_len: int = 128
    span_chars: int = 768
    sample_vocab_size: int = 8192
    queue_size: int = 64
    prefill_spans: int = 256
    aux_weight: float = 0.5
    aux_tokens: int = 512
    identity_tokens: int = 2048
    copy_shared: bool = True
    learning_rate: float = 6e-5
    identity_learning_rate: float = 3e-4
    lr_warmup_steps: int = 50
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    beta2: float = 0.95
    grad_clip: float = 0.1
    predict_batch: int = 4096
    mixed_precision: bool = True
    checkpoint_every: int = 25
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "seq_len", "span_chars", "sample_vocab_size", "queue_size",
                     "prefill_spans", "identity_tokens", "predict_batch", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise LexkitError(f"{name}={getattr(self, name)} is invalid: pass a positive integer")
        if not 0 <= self.identity_steps < self.steps:
            raise LexkitError(f"identity_steps={self.identity_steps} must be in [0, steps={self.steps}) so some "
                              "steps train with the LM loss; lower it (ZeTT uses 5 % of steps)")
        if self.learning_rate <= 0 or self.identity_learning_rate <= 0:
            raise LexkitError("learning rates must be positive; pass e.g. learning_rate=6e-5")

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated again)."""
        return TrainConfig(**{**asdict(self), **changes})


#: Ready-made settings: ``tiny`` for tests on a toy model, ``smollm2-cpu`` for the measured CPU run on
#: SmolLM2-135M, ``smollm2-gpu`` for an H100-class GPU (unmeasured; section "GPU plan" of the report).
PRESETS: dict[str, tuple[HypernetConfig, TrainConfig]] = {
    "tiny": (HypernetConfig(hidden=32, layers=1, heads=2, max_pieces=7),
             TrainConfig(steps=6, identity_steps=2, batch_size=2, seq_len=32, span_chars=160,
                         sample_vocab_size=400, queue_size=4, prefill_spans=8, aux_tokens=32,
                         identity_tokens=64, lr_warmup_steps=2, learning_rate=1e-3, checkpoint_every=3)),
    "smollm2-cpu": (HypernetConfig(hidden=256, layers=2, heads=4, max_pieces=7),
                    TrainConfig(steps=150, identity_steps=5, batch_size=4, seq_len=64, span_chars=384,
                                sample_vocab_size=8192, queue_size=32, prefill_spans=128, aux_tokens=256,
                                identity_tokens=2048, learning_rate=3e-4, identity_learning_rate=3e-4,
                                lr_warmup_steps=10, checkpoint_every=5)),
    "smollm2-gpu": (HypernetConfig(hidden=None, layers=3, max_pieces=7),
                    TrainConfig(steps=20_000, identity_steps=1000, batch_size=64, seq_len=128, span_chars=1024,
                                sample_vocab_size=32_768, queue_size=64, prefill_spans=2048, aux_tokens=4096,
                                identity_tokens=16_384, learning_rate=6e-5, identity_learning_rate=3e-4,
                                lr_warmup_steps=1000, checkpoint_every=500)),
}


def train(
    model: ModelLike,
    corpus: str | PathLike[str] | Sequence[str | PathLike[str]] | Iterable[str],
    output: str | PathLike[str],
    *,
    config: TrainConfig | None = None,
    network: HypernetConfig | None = None,
    source_tokenizer: TokenizerLike | None = None,
    max_corpus_bytes: int | None = None,
    device: str = "auto",
    resume: bool = True,
    progress: bool = True,
) -> Hypernetwork:
    """Train a hypernetwork for ``model`` on ``corpus``; checkpoints and the result go to ``output``.

    Args:
        model: the frozen source LM: a loaded causal LM, an HF folder or a ``.gguf`` file.
        corpus: text files (a path or a list of paths) or an iterable of texts.
        output: folder for ``hypernetwork.json``/``.safetensors``, ``checkpoint.pt`` and ``training_log.json``.
        config: training settings (`TrainConfig` defaults when None).
        network: the network's shape (`HypernetConfig` defaults when None); ignored when resuming.
        source_tokenizer: the model's tokenizer; by default loaded from the model's folder or file.
        max_corpus_bytes: read only the first N bytes of each corpus file (keeps held-out text out).
        device: ``cpu``, ``cuda`` or ``auto``.
        resume: continue from ``output/checkpoint.pt`` when it exists.
        progress: show a progress bar with the loss.

    Returns:
        The trained `Hypernetwork` (also saved in ``output``).

    Raises:
        LexkitError: bad settings, an unreadable model or tokenizer, an empty corpus, or a checkpoint that
            belongs to another model.
    """

    config = config or TrainConfig()
    output = Path(output)
    run_device = resolve_device(device)
    loaded, path = load_causal_lm(model, what="model")
    source = TransferTokenizer.of_model(loaded, path, source_tokenizer)
    text = load_corpus(corpus, max_corpus_bytes)
    if len(text) < config.span_chars:
        raise CorpusError(f"the corpus holds {len(text)} characters, fewer than one span of "
                          f"span_chars={config.span_chars}; pass more text or a smaller span_chars")
    trainer = _Trainer(loaded, source, text, output, config, network or HypernetConfig(), run_device,
                       name=str(path) if path else str(getattr(loaded, "name_or_path", "") or type(loaded).__name__),
                       tied=is_tied(loaded))
    if resume and (output / CHECKPOINT_FILE).exists():
        trainer.restore(output / CHECKPOINT_FILE)
    return trainer.run(progress=progress)


def load_corpus(corpus: str | PathLike[str] | Sequence[str | PathLike[str]] | Iterable[str],
                max_bytes: int | None = None) -> str:
    """All corpus text as one string: files (their first ``max_bytes`` bytes, cut at a line end) or texts.

    Raises:
        CorpusError: a file is missing or not UTF-8, or no text was given.
    """
    items = [corpus] if isinstance(corpus, str | PathLike) else list(corpus)
    parts = []
    for item in items:
        looks_like_path = isinstance(item, str) and len(item) < 4096 and "\n" not in item
        if isinstance(item, PathLike) or (looks_like_path and Path(item).is_file()):
            file = Path(item)
            data = file.read_bytes()
            if max_bytes is not None and len(data) > max_bytes:
                data = data[:max_bytes]
                data = data[: data.rfind(b"\n") + 1] or data
            try:
                parts.append(data.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise CorpusError(f"{file}: invalid UTF-8 at byte {exc.start}; convert it to UTF-8 first") from None
        elif looks_like_path and len(items) == 1:
            raise CorpusError(f"{item}: no such corpus file; pass an existing text file or a list of texts")
        else:
            parts.append(str(item))
    text = "\n".join(parts)
    if not text.strip():
        raise CorpusError("the hypernetwork corpus is empty; pass text files or texts with content")
    return text


class _Trainer:
    """One training run: the frozen LM, the network, the sampler, the optimizer and the bookkeeping."""

    def __init__(self, model: Any, source: TransferTokenizer, text: str, output: Path, config: TrainConfig,
                 network: HypernetConfig, device: torch.device, *, name: str, tied: bool) -> None:
        self.config, self.output, self.device, self.text = config, output, device, text
        self.model = model.to(device).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        self.backbone = getattr(self.model, self.model.base_model_prefix)
        self.source = source
        input_matrix = self.model.get_input_embeddings().weight
        output_matrix = None if tied else self.model.get_output_embeddings().weight
        self.rows = min(input_matrix.shape[0], len(source))
        self.table = piece_table(input_matrix[: self.rows], output_matrix)  # (rows, outputs * d)
        self.dim = input_matrix.shape[1]
        self.outputs = 1 if tied else 2
        self.bos = source.roles.get("bos")
        # Source text tokens by their bytes; ids whose decomposition is the token itself (identity phase).
        self.by_bytes = {t.content: t.id for t in source.vocabulary.tokens[: self.rows] if t.kind in TEXT_KINDS}
        self.decompositions: dict[bytes, list[int]] = {}
        self.singles = [i for content, i in self.by_bytes.items() if self.decompose(content) == [i]]
        if not self.singles:
            raise LexkitError("no source token decomposes to itself, so the source tokenizer cannot split bytes; "
                              "pass the tokenizer the model was trained with")
        torch.manual_seed(config.seed)
        resolved = network.resolved(self.dim)
        module = HypernetModule(resolved, self.dim, self.outputs).to(device)
        fit_rescalers(module, self.table, self.singles, seed=config.seed)
        self.network = Hypernetwork(module, SourceInfo.of(name, input_matrix, tied, self.rows))
        self.optimizer = torch.optim.AdamW(_parameter_groups(module, config.weight_decay),
                                           lr=config.identity_learning_rate, betas=(0.9, config.beta2))
        self.rng = np.random.default_rng(config.seed)
        self.sampler = TokenizerSampler(config.sample_vocab_size, queue_size=config.queue_size)
        self.step = 0
        self.seconds = 0.0
        self.tokens = 0
        self.history: list[dict[str, float]] = []

    # ------------------------------------------------------------------------------------------------------
    def decompose(self, content: bytes) -> list[int]:
        """Source ids of ``content`` (cached; rows beyond the matrix dropped)."""
        found = self.decompositions.get(content)
        if found is None:
            found = [i for i in self.source.decompose(content) if i < self.rows]
            self.decompositions[content] = found
        return found

    def spans(self, count: int) -> list[str]:
        """``count`` random spans of the corpus, starting after a space or newline."""
        out = []
        limit = max(1, len(self.text) - self.config.span_chars)
        for start in self.rng.integers(0, limit, size=count):
            start = int(start)
            cut = self.text.find(" ", start, start + 64)
            start = cut + 1 if cut >= 0 else start
            out.append(self.text[start:start + self.config.span_chars])
        return out

    def learning_rate(self, step: int) -> float:
        """Linear warm-up to the identity rate, then a second warm-up and a cosine decay (ZeTT's schedule)."""
        c = self.config
        if step < c.identity_steps:
            return c.identity_learning_rate * (step + 1) / c.identity_steps
        step -= c.identity_steps
        if step < c.lr_warmup_steps:
            return c.learning_rate * (step + 1) / c.lr_warmup_steps
        remaining = max(1, c.steps - c.identity_steps - c.lr_warmup_steps)
        progress = min(1.0, (step - c.lr_warmup_steps) / remaining)
        return c.learning_rate * (c.min_lr_ratio + (1 - c.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))

    def relative_error(self, predicted: torch.Tensor, ids: list[int]) -> torch.Tensor:
        """ZeTT's auxiliary loss: summed squared error per token, averaged, over the mean norm of the targets."""
        truth = self.table[torch.tensor(ids, device=self.device)].view(len(ids), self.outputs, self.dim)
        error = (predicted.float() - truth).pow(2).sum(-1).mean()
        return error / truth.norm(dim=-1).mean()

    def predict(self, decompositions: list[list[int]]) -> torch.Tensor:
        """Network rows ``(N, outputs, d)`` for decompositions, with gradients."""
        out = torch.empty(len(decompositions), self.outputs, self.dim, device=self.device)
        for order, ids, mask in batches(decompositions, self.network.config.max_pieces, self.config.predict_batch,
                                        device=self.device):
            out = out.index_copy(0, order, self.network.module(self.table[ids], mask).float())
        return out

    # ------------------------------------------------------------------------------------------------------
    def identity_step(self) -> dict[str, float]:
        chosen = self.rng.choice(len(self.singles), size=min(self.config.identity_tokens, len(self.singles)),
                                 replace=False)
        ids = [self.singles[i] for i in chosen]
        with self._autocast():
            loss = self.relative_error(self.predict([[i] for i in ids]), ids)
        self._backward(loss)
        return {"loss": loss.item(), "aux": loss.item()}

    def lm_step(self, texts: list[str]) -> dict[str, float]:
        self.sampler.add(texts)
        sampled = self.sampler.sample(self.rng)
        batch, targets = self._batch(sampled, texts)
        shared, new, aux_ids = self._split(sampled)
        with self._autocast():
            predicted = self.predict([self.decompose(sampled.content(t)) for t in [*new, *aux_ids]])
            matrices = self._step_matrices(sampled, shared, new, predicted[: len(new)])
            hidden = self.backbone(inputs_embeds=matrices[0][batch], attention_mask=(batch != len(sampled) + 1)
                                   .long()).last_hidden_state
            logits = hidden.float() @ matrices[-1][:-1].t()  # the padding row is no prediction target
            lm = torch.nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1),
                                                   ignore_index=_IGNORE)
            aux = (self.relative_error(predicted[len(new):], [self.by_bytes[sampled.content(t)] for t in aux_ids])
                   if aux_ids else torch.zeros((), device=self.device))
            loss = lm + self.config.aux_weight * aux
        self._backward(loss)
        n_tokens = int((targets != _IGNORE).sum())
        self.tokens += n_tokens
        return {"loss": loss.item(), "lm": lm.item(), "aux": aux.item(), "tokens": n_tokens,
                "predicted": len(new), "vocab": len(sampled), "noise": sampled.noise_scale}

    def _batch(self, sampled: SampledTokenizer, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Input ids (BOS row = ``len(sampled)``, padding = ``len(sampled) + 1``) and shifted targets."""
        bos, pad = len(sampled), len(sampled) + 1
        encoded = [ids[: self.config.seq_len] for ids in sampled.encode(texts)]
        width = max(len(ids) for ids in encoded) + (self.bos is not None)
        inputs = torch.full((len(texts), width), pad, dtype=torch.long)
        targets = torch.full((len(texts), width), _IGNORE, dtype=torch.long)
        for row, ids in enumerate(encoded):
            sequence = ([bos] if self.bos is not None else []) + ids
            inputs[row, : len(sequence)] = torch.tensor(sequence)
            targets[row, : len(sequence) - 1] = torch.tensor(sequence[1:])
        return inputs.to(self.device), targets.to(self.device)

    def _split(self, sampled: SampledTokenizer) -> tuple[list[int], list[int], list[int]]:
        """Sampled ids that are source tokens (copied), that the network predicts, and the auxiliary sample."""
        shared, new = [], []
        for token_id in range(len(sampled)):
            content = sampled.content(token_id)
            if content in self.by_bytes and self.config.copy_shared:
                shared.append(token_id)
            elif self.decompose(content):
                new.append(token_id)
            else:
                shared.append(token_id)  # no decomposition (cannot happen for byte-level sources): mean row
        pool = [t for t in range(len(sampled)) if sampled.content(t) in self.by_bytes]
        count = min(self.config.aux_tokens, len(pool))
        aux = [pool[i] for i in self.rng.choice(len(pool), size=count, replace=False)] if count else []
        return shared, new, aux

    def _step_matrices(self, sampled: SampledTokenizer, shared: list[int], new: list[int],
                       predicted: torch.Tensor) -> list[torch.Tensor]:
        """Input (and output) matrices of the sampled vocabulary plus the BOS row and a zero padding row."""
        mean = self.table.mean(0).view(self.outputs, self.dim)
        sources = [self.by_bytes.get(sampled.content(t)) for t in shared]
        copied = torch.stack([self.table[s].view(self.outputs, self.dim) if s is not None else mean
                              for s in sources]) if shared else predicted[:0]
        stacked = torch.cat([copied, predicted])
        order = torch.empty(len(sampled), dtype=torch.long)
        order[torch.tensor(shared + new, dtype=torch.long)] = torch.arange(len(shared) + len(new))
        rows = stacked[order.to(self.device)]
        bos = (self.table[self.bos].view(self.outputs, self.dim) if self.bos is not None else mean).unsqueeze(0)
        rows = torch.cat([rows, bos, torch.zeros_like(bos)])
        return [rows[:, k] for k in range(self.outputs)]

    def _autocast(self) -> Any:
        enabled = self.device.type == "cuda" and self.config.mixed_precision
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=enabled)

    def _backward(self, loss: torch.Tensor) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate(self.step)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.network.module.parameters(), self.config.grad_clip)
        self.optimizer.step()

    # ------------------------------------------------------------------------------------------------------
    def run(self, *, progress: bool) -> Hypernetwork:
        from tqdm import tqdm

        c = self.config
        if self.step < c.steps:
            for _ in range(0, c.prefill_spans, c.batch_size):
                self.sampler.add(self.spans(c.batch_size))
        bar = tqdm(total=c.steps, initial=self.step, desc="hypernet", unit="step", disable=not progress)
        while self.step < c.steps:
            started = time.perf_counter()
            self.network.module.train()
            record = (self.identity_step() if self.step < c.identity_steps
                      else self.lm_step(self.spans(c.batch_size)))
            self.seconds += time.perf_counter() - started
            self.step += 1
            record = {"step": self.step, **record, "seconds": round(self.seconds, 2), "lr": self.learning_rate(
                self.step - 1)}
            self.history.append(record)
            bar.update(1)
            bar.set_postfix(loss=f"{record['loss']:.3f}", lm=f"{record.get('lm', float('nan')):.3f}")
            if self.step % c.checkpoint_every == 0 or self.step == c.steps:
                self.checkpoint()
        bar.close()
        return self.network

    def summary(self) -> dict[str, Any]:
        """Training budget so far: steps, LM tokens, seconds, device, settings."""
        lm_steps = max(0, self.step - self.config.identity_steps)
        return {"steps": self.step, "identity_steps": min(self.step, self.config.identity_steps),
                "lm_steps": lm_steps, "tokens": self.tokens, "seconds": round(self.seconds, 1),
                "tokens_per_second": round(self.tokens / self.seconds, 1) if self.seconds else 0.0,
                "device": str(self.device), "torch_threads": torch.get_num_threads(), "config": asdict(self.config)}

    def checkpoint(self) -> None:
        """Write ``checkpoint.pt``, the loadable hypernetwork and ``training_log.json`` into the output folder."""
        import json

        self.network.training = self.summary()
        self.network.save(self.output)
        state = {"step": self.step, "seconds": self.seconds, "tokens": self.tokens, "history": self.history,
                 "module": self.network.module.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "rng": self.rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                 "config": asdict(self.config), "source": asdict(self.network.source)}
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(self.output / CHECKPOINT_FILE, buffer.getvalue())
        atomic_write_text(self.output / HISTORY_FILE, json.dumps({"summary": self.summary(),
                                                                  "history": self.history}, indent=1))

    def restore(self, path: Path) -> None:
        """Continue from a checkpoint (the sampler's substring queue is re-filled from fresh spans).

        Raises:
            LexkitError: the checkpoint belongs to another source model or network shape.
        """
        state = torch.load(path, map_location=self.device, weights_only=False)
        if state["source"] != asdict(self.network.source):
            raise LexkitError(f"{path}: this checkpoint was trained for {state['source']['model']}, not this model; "
                              "pass another output folder or resume=False")
        try:
            self.network.module.load_state_dict(state["module"])
        except RuntimeError:
            raise LexkitError(f"{path}: the checkpoint's network shape differs from the requested one; pass the "
                              "same network settings as the first run, or another output folder") from None
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.seconds, self.tokens = state["step"], state["seconds"], state["tokens"]
        self.history = state["history"]
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        known = {f.name for f in fields(TrainConfig)}
        if {k: v for k, v in state["config"].items() if k in known} != asdict(self.config):
            logger.warning("resuming %s with different training settings than it was started with", path)
        logger.info("resumed %s at step %d", path, self.step)


def _parameter_groups(module: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on matrices only (not biases, norms or positions)."""
    decay: list[torch.nn.Parameter] = []
    plain: list[torch.nn.Parameter] = []
    for name, parameter in module.named_parameters():
        (decay if parameter.ndim >= 2 and "positions" not in name else plain).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]
