"""Swap a causal LM's tokenizer: resize and fill its embedding matrices for a target tokenizer.

`transplant` is layer 2 of `lexkit.transfer`: it loads what it is given, matches anchors once, plans and
builds the input matrix and (when untied) the output head, resizes a copy of the model, updates the config,
generation config and special-token ids, and returns the model with the target tokenizer as a transformers
tokenizer and the per-token provenance. `TransplantResult.save` writes one folder that reloads with plain
``AutoModelForCausalLM`` / ``AutoTokenizer``, plus ``transplant_report.json``.

Tying: a tied source has one matrix, which is rebuilt once; an untied source has its head
rebuilt separately (OMP against the donor's head, read with tie aliases: a tied donor lends its single matrix;
the other methods apply the same plan to the head). ``tie="tied"`` / ``"untied"`` force either layout.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lexkit._version import __version__
from lexkit.device import resolve_device
from lexkit.errors import LexkitError
from lexkit.transfer._models import ModelLike, is_tied, load_causal_lm, model_tokenizer_source
from lexkit.transfer.anchors import TEXT_KINDS, match_anchors
from lexkit.transfer.methods import (
    Method,
    TokenProvenance,
    TransferConfig,
    TransferReport,
    apply_plan,
    check_rows,
    finish_report,
    make_plan,
)
from lexkit.transfer.specials import carry_specials, check_chat_template
from lexkit.transfer.tokenizer import TokenizerLike, TransferTokenizer

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

__all__ = ["Tie", "NUMERIC_PROBE", "REPORT_FILE", "TransplantResult", "transplant", "numeric_probe"]

logger = logging.getLogger(__name__)

Tie = Literal["auto", "tied", "untied"]
NUMERIC_PROBE = "12345 + 678 = 13023"
REPORT_FILE = "transplant_report.json"
_ROUND_TRIP_PROBE = "Hello world! 12345 ça va? \n\tdef f(x): return x"


@dataclass
class TransplantResult:
    """A transplanted model, its tokenizer, and what was done to each matrix.

    Attributes:
        model: the resized transformers model (a copy; the source model is not modified).
        tokenizer: the target tokenizer as a transformers fast tokenizer.
        reports: ``"input"`` and, for an untied result, ``"output"`` matrix reports.
        info: source, target and donor descriptions, tying, timing, numeric probe, lexkit version.
    """

    model: Any  # a transformers PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    reports: dict[str, TransferReport]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def provenance(self) -> tuple[TokenProvenance, ...]:
        """Per-token provenance of the input matrix (copied / approximated / fallback), in target id order."""
        return self.reports["input"].provenance

    @property
    def anchors(self) -> int:
        """Number of target tokens copied from the source."""
        return self.reports["input"].anchors["total"]

    def to_json(self, *, provenance: bool = True) -> dict[str, Any]:
        """The content of ``transplant_report.json``."""
        return {**self.info, "matrices": {name: r.to_json(provenance=provenance) for name, r in self.reports.items()}}

    def summary_lines(self) -> list[str]:
        """A short human-readable summary: anchors, statuses, flags, numeric probe, timing."""
        report = self.reports["input"]
        counts = report.counts()
        anchors = report.anchors
        lines = [
            f"method {report.method}: {len(report.provenance)} target tokens; anchors {anchors['total']} "
            f"({anchors['exact']} exact, {anchors['role']} by role)",
            f"copied {counts['copied']}, approximated {counts['approximated']}, fallback {counts['fallback']}; "
            f"{'tied' if self.info['tied'] else 'untied'} head",
        ]
        for name, matrix_report in self.reports.items():
            if matrix_report.flagged:
                lines.append(f"{name}: {len(matrix_report.flagged)} approximated rows above the anchors' "
                             f"{matrix_report.params['flag_percentile']}th-percentile norm "
                             f"{matrix_report.norm_threshold:.4f}")
            lines += [f"{name}: {note}" for note in matrix_report.notes]
        probe = self.info["numeric_probe"]
        if not probe["match"]:
            lines.append(f"numbers split differently: source digit runs {probe['source']}, target {probe['target']}")
        specials = self.info.get("special_tokens", {})
        if specials.get("ids"):
            lines.append("special tokens carried from the source: " + ", ".join(
                f"{text} (id {i})" for text, i in specials["ids"].items()))
        if specials.get("chat_template_split"):
            lines.append(f"chat template literals split by the new tokenizer: {', '.join(specials['chat_template_split'])}")
        lines.append(f"{self.info['seconds']:.1f}s")
        return lines

    def save(self, directory: str | PathLike[str]) -> Path:
        """Write model, tokenizer and ``transplant_report.json`` into one folder, atomically.

        After writing, the tokenizer is reloaded with ``AutoTokenizer`` and must encode and decode a probe
        string exactly as the in-memory tokenizer does (users report tokenizer files that fail to load after
        vocabulary edits).

        Raises:
            LexkitError: the reloaded tokenizer disagrees with the in-memory one.
        """
        from transformers import AutoTokenizer

        from lexkit.atomic import atomic_directory

        directory = Path(directory)
        with atomic_directory(directory) as staging:
            self.model.save_pretrained(str(staging))
            self.tokenizer.save_pretrained(str(staging))
            (staging / REPORT_FILE).write_text(json.dumps(self.to_json(), ensure_ascii=False), encoding="utf-8")
            reloaded = AutoTokenizer.from_pretrained(str(staging))
            expected = self.tokenizer(_ROUND_TRIP_PROBE, add_special_tokens=False)["input_ids"]
            got = reloaded(_ROUND_TRIP_PROBE, add_special_tokens=False)["input_ids"]
            if got != expected or reloaded.decode(got) != self.tokenizer.decode(expected):
                raise LexkitError(
                    f"the saved tokenizer in {directory} encodes a probe string as {got[:8]}... but the in-memory "
                    f"one gives {expected[:8]}...; the folder was not written; report this with the tokenizer file"
                )
        return directory


def transplant(
    model: ModelLike,
    target_tokenizer: TokenizerLike,
    method: str | Method = Method.OMP,
    *,
    donor: ModelLike | Literal["auxiliary"] | None = None,
    source_tokenizer: TokenizerLike | None = None,
    aux: Any = None,
    device: str = "auto",
    tie: Tie = "auto",
    pad_to_multiple_of: int | None = None,
    hypernetwork: Any = None,
    **opts: Any,
) -> TransplantResult:
    """Give a causal LM a new tokenizer by transplanting its embeddings.

    Anchor rows (target tokens with the same canonical bytes or special role as a source token) are copied; the
    other rows are estimated by ``method``; rows with no estimate get the mean row.

    Args:
        model: the source model: a loaded ``AutoModelForCausalLM``, an HF folder, or a ``.gguf`` file.
        target_tokenizer: the tokenizer to switch to: a lexkit `Tokenizer`, a transformers fast tokenizer, a
            ``tokenizers.Tokenizer``, or a path (tokenizer.json, lexkit.json, .model, .tiktoken, a folder).
        method: ``omp`` (default; needs ``donor``), ``heuristic``, ``mean``, ``subword-mean``, ``random`` or ``zero``.
        donor: OMP only: a model that already uses the target tokenizer (Scenario A: a loaded model or path),
            or ``"auxiliary"`` to run OMP in the auxiliary text-embedding space of the target tokens' strings
            (Scenario B; experimental).
        source_tokenizer: the model's tokenizer; by default loaded from the model's folder or ``.gguf`` file.
        aux: the auxiliary embedder for ``heuristic`` and ``donor="auxiliary"``: an `AuxiliaryEmbedder` or a
            model folder (default all-MiniLM-L6-v2).
        device: where OMP and the auxiliary embedder run: ``cpu``, ``cuda`` or ``auto``.
        tie: ``auto`` keeps the source layout; ``tied`` / ``untied`` force one.
        pad_to_multiple_of: round the row count up (padding rows get the mean row).
        hypernetwork: method ``hypernetwork`` only: a trained `lexkit.transfer.hypernetwork.Hypernetwork` or its
            folder (``lexkit hypernet train -o``); it predicts every non-anchor row.
        **opts: method options, see `TransferConfig` (``k``, ``batch_size``, ``prefilter``, ``temperature``,
            ``global_weight``, ``top_k``, ``similarity_threshold``, ``clip_norms``, ``seed``...).

    Returns:
        The `TransplantResult` (model, tokenizer, per-matrix reports with per-token provenance).

    Raises:
        LexkitError: bad options, an unreadable or non-causal model, a model/tokenizer or donor/tokenizer
            mismatch, no anchors, a missing donor for OMP, or k above the anchor count.
    """
    started = time.perf_counter()
    config = TransferConfig.from_options(opts)
    chosen = Method.parse(method)
    if tie not in ("auto", "tied", "untied"):
        raise LexkitError(f"tie={tie!r} is not a layout; pass tie='auto', 'tied' or 'untied'")
    if pad_to_multiple_of is not None and pad_to_multiple_of < 1:
        raise LexkitError(f"pad_to_multiple_of={pad_to_multiple_of} must be a positive row count, e.g. 64")
    if chosen == Method.HYPERNETWORK and hypernetwork is None:
        raise LexkitError(
            "method 'hypernetwork' needs a trained network and none was given; pass hypernetwork=PATH (the -o "
            "folder of `lexkit hypernet train`) or choose another method"
        )
    if chosen == Method.OMP and donor is None:
        raise LexkitError(
            "method 'omp' needs a donor and none was given: OMP codes new tokens in a donor's embedding space; "
            "pass donor=PATH (a causal LM that uses the target tokenizer), donor='auxiliary' (experimental), "
            "or choose method='heuristic'"
        )
    compute_device = resolve_device(device)
    if chosen == Method.HYPERNETWORK:
        from lexkit.transfer.hypernetwork.network import Hypernetwork

        if not isinstance(hypernetwork, Hypernetwork):  # a bad folder fails before the model is loaded
            hypernetwork = Hypernetwork.load(hypernetwork, device=compute_device)
    loaded, model_path = load_causal_lm(model, what="model")
    source = TransferTokenizer.of_model(loaded, model_path, source_tokenizer)
    target, carried = carry_specials(source, TransferTokenizer.from_any(target_tokenizer, what="target tokenizer"))
    input_matrix = loaded.get_input_embeddings().weight
    source_tied = is_tied(loaded)
    output_matrix = input_matrix if source_tied else loaded.get_output_embeddings().weight
    rows = check_rows(source, input_matrix.shape[0], what="model's input embedding")
    if not source_tied:
        check_rows(source, output_matrix.shape[0], what="model's output embedding")
    tied = source_tied if tie == "auto" else tie == "tied"
    anchors = match_anchors(source, target, source_rows=rows)

    embedder = None
    if chosen == Method.HEURISTIC or donor == "auxiliary":
        from lexkit.transfer.auxiliary import resolve_auxiliary

        embedder = resolve_auxiliary(aux, device=device)
    donor_in = donor_out = None
    donor_info: str | None = None
    if chosen == Method.OMP:
        donor_in, donor_out, donor_info = _donor_matrices(donor, target, embedder, head=not tied)

    out_rows = len(target)
    if pad_to_multiple_of:
        out_rows = -(-out_rows // pad_to_multiple_of) * pad_to_multiple_of
    reports: dict[str, TransferReport] = {}
    step = time.perf_counter()
    output_plan = None
    if chosen == Method.HYPERNETWORK:
        from lexkit.transfer.hypernetwork.apply import hypernetwork_plans

        plan, output_plan = hypernetwork_plans(hypernetwork, source, target, anchors, input_matrix, output_matrix,
                                               source_rows=rows, device=compute_device)
    else:
        plan = make_plan(chosen, source, target, anchors, source_rows=rows, donor=donor_in, aux=embedder,
                         config=config, device=compute_device)
    new_input, report = apply_plan(plan, input_matrix, source_rows=rows, out_rows=out_rows, config=config)
    reports["input"] = finish_report(report, chosen, "input", time.perf_counter() - step)
    new_output = None
    if not tied:
        step = time.perf_counter()
        if output_plan is not None:
            plan = output_plan
        if chosen == Method.OMP and donor_out is not donor_in:
            plan = make_plan(chosen, source, target, anchors, source_rows=rows, donor=donor_out, config=config,
                             device=compute_device)
        new_output, report = apply_plan(plan, output_matrix, source_rows=rows, out_rows=out_rows, config=config)
        reports["output"] = finish_report(report, chosen, "output", time.perf_counter() - step)

    tokenizer = copy.deepcopy(target.hf)  # config edits below must not reach the caller's tokenizer object
    new_model = _resized_copy(loaded, new_input, new_output, tied=tied, copy_model=model_path is None,
                              pad_id=tokenizer.pad_token_id)
    _update_configs(new_model, tokenizer, source)
    split = check_chat_template(tokenizer, source)
    if split:
        logger.warning("the chat template writes %s, which the new tokenizer splits into pieces: chat formatting "
                       "will not match training; add them with tokenizer.add_special_tokens", ", ".join(split))
    probe = numeric_probe(source, target)
    if not probe["match"]:
        logger.warning("numbers split differently under the two tokenizers (%s vs %s digit runs for %r); "
                       "expect arithmetic to degrade", probe["source"], probe["target"], NUMERIC_PROBE)
    info = {
        "lexkit_version": __version__, "method": chosen.value,
        "source_model": str(model_path) if model_path else getattr(loaded, "name_or_path", None),
        "source_tokenizer_size": len(source), "target_tokenizer_size": len(target), "rows": out_rows,
        "donor": donor_info, "tied": tied, "source_tied": source_tied,
        "device": str(compute_device), "numeric_probe": probe,
        "special_tokens": {**carried.to_json(), "chat_template_split": split}, "seconds": time.perf_counter() - started,
    }
    result = TransplantResult(new_model, tokenizer, reports, info)
    for line in result.summary_lines():
        logger.info("transplant: %s", line)
    return result


def _donor_matrices(donor: Any, target: TransferTokenizer, embedder: Any, *,
                    head: bool) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Donor input and head matrices (row i = target token i) and a description for the report.

    ``head=False`` (a tied result) lets a GGUF donor skip de-quantizing its head, which nothing would read;
    the input matrix then stands in for it.

    Raises:
        LexkitError: the donor's vocabulary does not match the target tokenizer.
    """
    import torch

    if donor == "auxiliary":
        texts = [target.text(i) for i in range(len(target))]
        vectors = torch.from_numpy(embedder.embed(texts))
        return vectors, vectors, f"auxiliary space ({embedder!r}) of the target tokens' text (experimental)"
    if isinstance(donor, str | PathLike) and Path(donor).suffix == ".gguf" and Path(donor).is_file():
        from lexkit.transfer.gguf_embeddings import read_gguf_embeddings

        # OMP reads only the donor's matrices: de-quantizing the whole GGUF model cost ~30 s on CPU, and building
        # its tokenizer ~15 s more, which the vocabulary strings spare when they equal the target's.
        read = read_gguf_embeddings(donor, head=head)
        donor_in = read.input
        donor_out = donor_in if read.output is None else read.output
        loaded, path = None, Path(donor)
        shared = min(len(read.tokens or ()), len(target))
        same = bool(read.tokens) and read.tokens[:shared] == target.hf.convert_ids_to_tokens(list(range(shared)))
        location: Path | None = None if same else path
    else:
        loaded, path = load_causal_lm(donor, what="donor")
        donor_in = loaded.get_input_embeddings().weight.detach()
        # subtle: the donor head is read with tie aliases: a tied donor lends its single matrix (as mergekit does).
        head = loaded.get_output_embeddings()
        donor_out = donor_in if head is None or is_tied(loaded) else head.weight.detach()
        location = model_tokenizer_source(loaded, path)
    if location is not None:
        donor_side = TransferTokenizer.from_any(location, what="donor tokenizer")
        shared = min(len(donor_side), len(target))
        differ = [i for i in range(shared)
                  if target.vocabulary.tokens[i].kind in TEXT_KINDS
                  and donor_side.vocabulary.tokens[i].content != target.vocabulary.tokens[i].content]
        if differ:
            raise LexkitError(
                f"the donor's tokenizer does not match the target tokenizer ({len(differ)} tokens differ, e.g. id "
                f"{differ[0]}: {donor_side.text(differ[0])!r} vs {target.text(differ[0])!r}); OMP reads donor "
                "rows by target id; pass a donor that uses exactly the target tokenizer"
            )
    text_tokens = sum(1 for t in target.vocabulary.tokens if t.kind in TEXT_KINDS)
    if donor_in.shape[0] < text_tokens:
        raise LexkitError(
            f"the donor has {donor_in.shape[0]} embedding rows but the target tokenizer has {text_tokens} text "
            "tokens: the donor does not use the target tokenizer; pass a donor model built for it"
        )
    return donor_in, donor_out, str(path) if path else type(loaded).__name__


def _resized_copy(model: Any, new_input: torch.Tensor, new_output: torch.Tensor | None, *,
                  tied: bool, copy_model: bool, pad_id: int | None) -> Any:
    """A copy of ``model`` (or the model itself when we loaded it) with the new matrices and tying.

    An embedding that had a padding index gets the target's pad id (or none): keeping the source's index
    would freeze the gradient of an unrelated target token in later fine-tuning.
    """
    import torch

    out = copy.deepcopy(model) if copy_model else model
    # A GGUF-loaded model refuses save_pretrained while it carries the quantizer marker;
    # the weights are already de-quantized to float32.
    if getattr(out, "hf_quantizer", None) is not None:
        out.hf_quantizer = None
        out.is_quantized = False
        if hasattr(out.config, "quantization_config"):
            del out.config.quantization_config
    had_padding = out.get_input_embeddings().padding_idx is not None
    out.resize_token_embeddings(new_input.shape[0], mean_resizing=False)
    embedding = out.get_input_embeddings()
    with torch.no_grad():
        embedding.weight.copy_(new_input.to(embedding.weight.device))
    out.config.tie_word_embeddings = tied
    if tied:
        out.tie_weights()
    else:
        assert new_output is not None, "an untied result always has a rebuilt head"
        head = out.get_output_embeddings()
        head.weight = torch.nn.Parameter(new_output.to(device=embedding.weight.device).clone())
    if had_padding:
        embedding.padding_idx = pad_id
    out.config.vocab_size = new_input.shape[0]
    return out


def _update_configs(model: Any, tokenizer: PreTrainedTokenizerBase, source: TransferTokenizer) -> None:
    """Special-token ids from the target tokenizer into config and generation config; the source's chat
    template is kept when the target has none."""
    ids = {role: getattr(tokenizer, f"{role}_token_id", None) for role in ("bos", "eos", "pad", "unk")}
    for role, token_id in ids.items():
        setattr(model.config, f"{role}_token_id", token_id)
    generation = getattr(model, "generation_config", None)
    if generation is not None:
        for role in ("bos", "eos", "pad"):
            setattr(generation, f"{role}_token_id", ids[role])
    if getattr(tokenizer, "chat_template", None) is None and source.chat_template is not None:
        tokenizer.chat_template = source.chat_template  # on transplant's own copy


def numeric_probe(source: TransferTokenizer, target: TransferTokenizer) -> dict[str, Any]:
    """Compare how the two tokenizers split digits: digit-run lengths of `NUMERIC_PROBE`.

    Returns:
        ``{"text", "source", "target", "match"}``: the probe, each side's digits-per-token list, and whether
        they agree.
    """
    runs = {}
    for name, side in (("source", source), ("target", target)):
        ids = side.hf(NUMERIC_PROBE, add_special_tokens=False)["input_ids"]
        runs[name] = [sum(c.isdigit() for c in side.text(i)) for i in ids if any(c.isdigit() for c in side.text(i))]
    return {"text": NUMERIC_PROBE, **runs, "match": runs["source"] == runs["target"]}
