"""``lexkit adapt``: adapt a causal LM to a domain in one command (train, transplant, heal, evaluate, report).

The workflow chains three peer packages, which may not import each other, so it lives here in the CLI layer:

1. build the tokenizer on the domain text, leaving a held-out slice (the tail of every corpus text) that nothing
   trains on: ``extend`` (the default) adds N domain tokens to the model's own tokenizer (`lexkit.vocab.extend`),
   ``replace`` trains a domain-only one of N tokens (`lexkit.vocab.train`);
2. transplant it into the model (`lexkit.transfer.transplant`): old rows are copied unchanged; new ones by
   subword-mean (``extend``), or centred OMP with a donor, else the heuristic with the auxiliary embedder
   (all-MiniLM-L6-v2 by default), as ``lexkit transplant`` picks (``replace``);
3. heal the swapped model within the budget (`lexkit.transfer.heal`, resumable from its checkpoints) on the domain
   text plus some general text (``replay``, a quarter of the pieces by default), so general text is not forgotten;
4. score the original, the zero-shot transplant and the adapted model in bits per byte on the held-out domain
   slice and on general text (`lexkit.transfer.evaluate`), and count tokens per byte of both tokenizers there;
5. write the model, the tokenizer and ``adapt_report.json`` + ``adapt_report.html`` into one folder, atomically.

``extend`` is the default by measurement (docs/adapt.md, SmolLM2-135M, 6 heal steps): on Turkish and on licence
texts it kept general-text bits per byte within 0.9 % and 4.5 % of the original where ``replace`` lost 221 % and
59 %, its domain bits per byte were 7.1 % and 8.6 % above the original instead of 12.2 % and 19.9 %, and it saved
24.1 % and 12.9 % of the domain tokens (``replace`` with 16,000 tokens: 29.6 % and 7.8 %).

Work that a rerun can reuse (the trained tokenizer, the transplanted model, the heal checkpoints) goes to a
sibling folder ``OUT.adapt-work``; it is removed after a successful run.
"""

from __future__ import annotations

import hashlib
import html
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

from lexkit._version import __version__
from lexkit.errors import LexkitError

if TYPE_CHECKING:
    from lexkit.transfer import HealConfig

__all__ = ["REPORT_JSON", "REPORT_HTML", "AdaptReport", "adapt", "replay_pieces", "split_held_out", "tokens_per_byte",
           "adapt_command"]

REPORT_JSON = "adapt_report.json"
REPORT_HTML = "adapt_report.html"
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")
_VARIANTS = ("original", "transplanted", "adapted")

Echo = Callable[[str], None]
#: ``replace``: a domain-only tokenizer replaces the model's; ``extend``: domain tokens are added to the model's.
VocabularyMode = Literal["replace", "extend"]
VOCABULARY_MODES: tuple[VocabularyMode, ...] = ("extend", "replace")


@dataclass
class AdaptReport:
    """What `adapt` did and measured.

    Attributes:
        settings: the arguments of the run (model, corpus size, vocabulary size, algorithm, method, budget...).
        tokens_per_byte: slice (``domain``, ``general``) -> ``{"original": ..., "adapted": ...}``.
        bpb: slice (and ``overall``) -> variant (``original``, ``transplanted``, ``adapted``) -> bits per byte.
        throughput: healing tokens/s and scoring bytes/s of the original and the adapted model.
        stages: stage name -> seconds.
        info: sizes of the slices, the transplant's summary lines, the heal report (without its history).
    """

    settings: dict[str, Any]
    tokens_per_byte: dict[str, dict[str, float]]
    bpb: dict[str, dict[str, float]]
    throughput: dict[str, float]
    stages: dict[str, float]
    info: dict[str, Any] = field(default_factory=dict)

    def saving(self, slice_name: str = "domain") -> float:
        """How many % fewer tokens the adapted tokenizer needs than the original on a slice (negative: more)."""
        part = self.tokens_per_byte[slice_name]
        return 100.0 * (1.0 - part["adapted"] / part["original"])

    def to_json(self) -> dict[str, Any]:
        """The content of ``adapt_report.json``."""
        savings = {name: round(self.saving(name), 3) for name in self.tokens_per_byte}
        return {"lexkit_version": __version__, "settings": self.settings, "tokens_per_byte": self.tokens_per_byte,
                "percent_fewer_tokens": savings, "bpb": self.bpb, "throughput": self.throughput,
                "stages": self.stages, **self.info}

    def summary_lines(self) -> list[str]:
        """The headline numbers, one per line."""
        lines = [f"{name}: {part['original']:.4f} -> {part['adapted']:.4f} tokens per byte "
                 f"({self.saving(name):+.1f}% fewer tokens)" for name, part in self.tokens_per_byte.items()]
        lines += [f"{name}: bits per byte original {part['original']:.4f}, transplanted {part['transplanted']:.4f}, "
                  f"adapted {part['adapted']:.4f}" for name, part in self.bpb.items() if name != "overall"]
        return lines

    def render_html(self) -> str:
        """A self-contained HTML page: the saving, the quality kept, throughput, stage times and settings."""
        def table(head: list[str], rows: list[list[str]]) -> str:
            cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
            body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
            return f"<table><tr>{cells}</tr>{body}</table>"

        tokens = [[name, f"{p['original']:.4f}", f"{p['adapted']:.4f}", f"{self.saving(name):+.1f}%"]
                  for name, p in self.tokens_per_byte.items()]
        quality = [[name, *(f"{p[v]:.4f}" for v in _VARIANTS), f"{100 * p['original'] / p['adapted']:.1f}%"]
                   for name, p in self.bpb.items()]
        speed = [[name.replace("_", " "), f"{value:,.1f}"] for name, value in self.throughput.items()]
        stages = [[name, f"{seconds:.1f}"] for name, seconds in self.stages.items()]
        settings = [[name, json.dumps(value, ensure_ascii=False)] for name, value in self.settings.items()]
        title = f"lexkit adapt: {self.settings['model']} on {self.settings['corpus']}"
        return (
            "<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
            "table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #bbb;padding:4px 10px;"
            "text-align:right}td:first-child,th:first-child{text-align:left}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>"
            "<h2>Tokens per byte (fewer is cheaper)</h2>"
            + table(["slice", "original", "adapted", "fewer tokens"], tokens)
            + "<h2>Bits per byte (lower is better; same text for every model)</h2>"
            + table(["slice", *_VARIANTS, "quality kept (original / adapted)"], quality)
            + "<h2>Throughput</h2>" + table(["measure", "value"], speed)
            + "<h2>Stage times (seconds)</h2>" + table(["stage", "seconds"], stages)
            + "<h2>Settings</h2>" + table(["setting", "value"], settings)
            + f"<p>lexkit {html.escape(__version__)}</p></body></html>"
        )


def split_held_out(texts: Sequence[str], *, fraction: float, chunk_chars: int) -> tuple[list[str], list[str]]:
    """Cut every text into pieces of at most ``chunk_chars`` characters and keep the last ``fraction`` of each
    text's pieces aside (at least one piece overall), so held-out text is never trained on.

    Returns:
        ``(training pieces, held-out pieces)``.

    Raises:
        LexkitError: no text, or too little to leave both a training and a held-out piece.
    """
    from lexkit.transfer.evaluate import chunk_text

    per_text = [[p for p in chunk_text(text, chunk_chars) if p.strip()] for text in texts]
    if not any(per_text):
        raise LexkitError("the corpus holds no text; pass a non-empty --corpus file")
    training: list[str] = []
    held_out: list[str] = []
    for pieces in per_text:
        cut = len(pieces) - int(len(pieces) * fraction)
        training += pieces[:cut]
        held_out += pieces[cut:]
    if not held_out:
        held_out.append(training.pop())
    if not training:
        raise LexkitError(f"the corpus is too small to split: {len(held_out)} piece(s) of {chunk_chars} characters; "
                          "pass more domain text (held-out text is split off and never trained on)")
    return training, held_out


def tokens_per_byte(hf_tokenizer: Any, texts: Sequence[str]) -> float:
    """Tokens the tokenizer needs per UTF-8 byte of ``texts`` (no special tokens added; special-token text is
    ordinary text)."""
    tokens = sum(len(hf_tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"])
                 for text in texts)
    return tokens / max(sum(len(text.encode("utf-8")) for text in texts), 1)


def _spread(pieces: Sequence[str], count: int) -> list[str]:
    """``count`` pieces evenly spread over ``pieces`` (all of them when there are fewer)."""
    return [pieces[i] for i in _spread_indices(len(pieces), count)]


def _spread_indices(total: int, count: int) -> list[int]:
    """The indices `_spread` picks: ``count`` evenly spread over ``range(total)`` (all when there are fewer)."""
    if total <= count:
        return list(range(total))
    return [int(i * total / count) for i in range(count)]


def replay_pieces(general: Sequence[str], *, scored: int, training: int, share: float) -> list[str]:
    """The general pieces mixed into healing so that about ``share`` of the pieces it trains on are general text,
    never one of the ``scored`` pieces the general slice is scored on (`_spread`'s picks); all the others when
    there are too few.

    Why: healing on domain text alone forgets general text (docs/adapt.md: +25 % general bits per byte after 30
    minutes on Turkish); training on some general text beside it (replay) is the usual remedy.

    >>> replay_pieces([str(i) for i in range(10)], scored=2, training=6, share=0.25)
    ['1', '6']
    """
    if not 0 <= share < 1:
        raise LexkitError(f"replay={share} must be at least 0 and below 1; pass e.g. 0.25 (a quarter general text)")
    held = set(_spread_indices(len(general), scored))
    pool = [piece for i, piece in enumerate(general) if i not in held]
    return _spread(pool, round(training * share / (1 - share)))


def _digest(*parts: Any) -> str:
    """A short content key of JSON-serialisable parts (names the reusable work of one set of inputs)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(json.dumps(part, ensure_ascii=False, sort_keys=True).encode("utf-8"))
    return digest.hexdigest()[:16]


def _size_for(vocabulary: str, vocab_size: int | None, new_tokens: int | None) -> int:
    """The ``-n`` of a run: the vocabulary size (replace) or the number of added tokens (extend), checked."""
    if vocabulary not in VOCABULARY_MODES:
        raise LexkitError(f"vocabulary={vocabulary!r} is not a mode; pass one of {', '.join(VOCABULARY_MODES)}")
    given, other = (vocab_size, new_tokens) if vocabulary == "replace" else (new_tokens, vocab_size)
    wanted = "vocab_size" if vocabulary == "replace" else "new_tokens"
    if other is not None:
        raise LexkitError(f"vocabulary={vocabulary!r} takes {wanted}=, not "
                          f"{'new_tokens' if vocabulary == 'replace' else 'vocab_size'}=; pass {wanted}=N")
    if given is None or given < 1:
        raise LexkitError(f"vocabulary={vocabulary!r} needs {wanted}= (a positive number); pass {wanted}=N")
    return given


def _check_model(model: Any, source_tokenizer: Any) -> None:
    """Refuse a model path that does not exist, or a model folder without a tokenizer, before any work."""
    if not isinstance(model, str | PathLike):
        return
    path = Path(model)
    if not path.exists():
        raise LexkitError(f"{path}: no such model folder or .gguf file (--model); pass an HF folder or a .gguf file")
    if path.is_dir() and source_tokenizer is None and not any((path / n).exists() for n in _TOKENIZER_FILES):
        raise LexkitError(f"{path}: the model folder holds no tokenizer (no {', '.join(_TOKENIZER_FILES)}); "
                          "save the model's tokenizer there or pass --source-tokenizer")


def adapt(
    model: str | PathLike[str] | Any,
    corpus: Sequence[str],
    *,
    vocab_size: int | None = None,
    output: str | PathLike[str],
    vocabulary: VocabularyMode = "extend",
    new_tokens: int | None = None,
    algorithm: str = "bpe",
    min_frequency: int = 2,
    donor: str | PathLike[str] | Any | None = None,
    method: str | None = None,
    aux: Any = None,
    source_tokenizer: Any = None,
    general: Sequence[str] | None = None,
    replay: float = 0.25,
    minutes: float | None = None,
    steps: int | None = None,
    heal_config: HealConfig | None = None,
    held_out_fraction: float = 0.1,
    eval_documents: int = 16,
    device: str = "auto",
    workers: int | None = None,
    work_dir: str | PathLike[str] | None = None,
    echo: Echo | None = None,
    names: dict[str, str] | None = None,
) -> AdaptReport:
    """Adapt a causal LM to a domain: train a tokenizer, transplant it, heal, evaluate, write everything.

    Args:
        model: the original model: an HF folder, a ``.gguf`` file, or a loaded causal LM (with
            ``source_tokenizer``).
        corpus: the domain texts (one per file); the tail of each is held out for evaluation.
        vocab_size: ``vocabulary="replace"`` only: the new tokenizer's vocabulary size.
        output: the folder to write (model, ``tokenizer/``, reports); it must not exist.
        vocabulary: ``"extend"`` (default) appends ``new_tokens`` domain tokens to the model's own tokenizer
            (`lexkit.vocab.extend`), so every old token, id and embedding row stays as it was; ``"replace"`` trains
            a domain-only tokenizer that replaces the model's. The default is measured (module docstring): the
            extension keeps general text and loses less on the domain.
        new_tokens: ``vocabulary="extend"`` only: how many tokens to add.
        algorithm: ``vocabulary="replace"`` only: a `lexkit.vocab.TRAINERS` text algorithm (``bpe``, ``domain``,
            ``lbpe``, ...); an extension always continues the model's byte-level BPE.
        min_frequency: training stops when the best pair is rarer.
        donor: a model that already uses a tokenizer like the new one: centred OMP; None: the heuristic.
        method: override the transplant method (``omp``, ``heuristic``, ``subword-mean``, ``mean``); None picks
            as above for ``replace`` and ``subword-mean`` for ``extend``. ``subword-mean`` skips the auxiliary
            embedder (the heuristic embeds every source token). Every method copies the rows of the tokens the
            model already has unchanged, so with ``extend`` only the new rows are initialised (and heal never trains an old row).
        aux: the heuristic's auxiliary embedder or its folder (default all-MiniLM-L6-v2).
        source_tokenizer: the model's tokenizer (default: read from the model folder or ``.gguf`` file).
        general: general (non-domain) texts scored as a second slice (default: lexkit's embedded English prose).
        replay: the share of healing pieces drawn from the general text, none of them scored (`replay_pieces`;
            fewer when the general text has too few pieces); 0 heals on domain text only. The default is measured
            (docs/adapt.md): after 30 minutes on Turkish, English text no run trained on lost 9 % in bits per byte
            instead of 34 %, and the domain kept its gain (-3.8 % against -3.3 %).
        minutes: healing budget in minutes; steps: healing budget in steps (at least one of the two).
        heal_config: a `lexkit.transfer.HealConfig` (default: next-token loss on the new rows from both sides plus rank-8
            LoRA, 1000-character pieces).
        held_out_fraction: the share of each corpus text held out.
        eval_documents: pieces per slice scored in bits per byte (spread over the slice).
        device: ``cpu``, ``cuda`` or ``auto`` for transplant and healing.
        workers: pre-token counting processes (default: all cores).
        work_dir: reusable work (tokenizer, transplant, heal checkpoints); default ``OUTPUT.adapt-work``.
        echo: called with one progress line per stage start and end (None: silent).
        names: how the report names the model and corpus (default: their paths or descriptions).

    Returns:
        The `AdaptReport` (also written to ``output``).

    Raises:
        LexkitError: the output exists, an empty corpus or one too small for the vocabulary size, a model folder
            without a tokenizer, no budget, or any error of the stages; nothing is written to ``output`` then.
    """
    from lexkit import Tokenizer
    from lexkit.atomic import atomic_directory
    from lexkit.formats import native
    from lexkit.transfer import Budget, HealConfig, evaluate, heal, transplant
    from lexkit.transfer._models import load_causal_lm
    from lexkit.transfer.tokenizer import TransferTokenizer
    from lexkit.vocab import TRAINERS, extend, train

    say = echo or (lambda line: None)
    output = Path(output)
    if output.exists():
        raise LexkitError(f"{output}: the output already exists; pass a new -o folder or remove it first")
    size = _size_for(vocabulary, vocab_size, new_tokens)
    if vocabulary == "extend" and algorithm != "bpe":
        raise LexkitError(f"--algorithm {algorithm} does not apply to --vocabulary extend, which continues the model's "
                          "own byte-level BPE; drop --algorithm or pass --vocabulary replace")
    if algorithm not in TRAINERS or algorithm == "visual-bpe":
        raise LexkitError(f"unknown text algorithm {algorithm!r}; pass one of "
                          f"{', '.join(a for a in TRAINERS if a != 'visual-bpe')}")
    if not 0 < held_out_fraction < 1:
        raise LexkitError(f"held_out_fraction={held_out_fraction} must lie between 0 and 1; pass e.g. 0.1")
    budget = Budget(minutes=minutes, steps=steps)
    config = heal_config or HealConfig()
    _check_model(model, source_tokenizer)
    training, held_out = split_held_out(corpus, fraction=held_out_fraction, chunk_chars=config.sequence_chars)
    general_texts = list(general) if general is not None else _embedded_prose()
    general_pieces = _pieces(general_texts, config.sequence_chars)
    if not general_pieces:
        raise LexkitError("the general text holds no text; pass a non-empty --general file")
    replayed = replay_pieces(general_pieces, scored=eval_documents, training=len(training), share=replay)
    work = Path(work_dir) if work_dir is not None else output.with_name(f"{output.name}.adapt-work")
    stages: dict[str, float] = {}
    names = names or {}
    method = method or ("omp" if donor is not None else "heuristic" if vocabulary == "replace" else "subword-mean")
    settings: dict[str, Any] = {
        "model": names.get("model", str(model) if isinstance(model, str | PathLike) else type(model).__name__),
        "corpus": names.get("corpus", f"{len(corpus)} text(s)"), "corpus_bytes": sum(len(t.encode()) for t in corpus),
        "vocabulary": vocabulary, "vocab_size": vocab_size, "new_tokens": new_tokens,
        "algorithm": algorithm if vocabulary == "replace" else "extend", "min_frequency": min_frequency, "method": method,
        "donor": None if donor is None else str(donor), "minutes": minutes, "steps": steps,
        "heal": asdict(config), "held_out_fraction": held_out_fraction, "eval_documents": eval_documents,
        "device": device, "general": names.get("general", "embedded English prose" if general is None else
                                               f"{len(general_texts)} text(s)"), "replay": replay,
    }

    def stage(number: int, title: str) -> float:
        say(f"[{number}/5] {title} ...")
        return time.perf_counter()

    def done(name: str, started: float, detail: str = "") -> None:
        stages[name] = round(time.perf_counter() - started, 2)
        say(f"      {name} done in {stages[name]:.1f}s{': ' + detail if detail else ''}")

    # 1. the tokenizer (reused from the work folder when the same text and settings trained it before)
    original, original_path = load_causal_lm(model)
    source = source_tokenizer if source_tokenizer is not None else original_path
    if source is None:
        raise LexkitError("the model's tokenizer is unknown; pass source_tokenizer= (the tokenizer it uses)")
    source_side = TransferTokenizer.from_any(source, what="model's tokenizer")
    what = f"{algorithm} ({size} tokens)" if vocabulary == "replace" else f"{size} new tokens for the model's tokenizer"
    started = stage(1, f"training {what} on {sum(len(p) for p in training):,} characters"
                       f" ({len(held_out)} held-out pieces kept aside)")
    key = _digest(vocabulary, settings["algorithm"], size, min_frequency, training,
                  None if vocabulary == "replace" else settings["model"])
    cached = work / f"tokenizer-{key}"
    if (cached / "lexkit.json").exists():
        trained = native.load(cached / "lexkit.json")
        detail = f"reused {cached}"
    else:
        if vocabulary == "replace":
            trained = train(training, algorithm=algorithm, vocab_size=size, min_frequency=min_frequency,
                            workers=workers, progress=False)
            reached = trained.model_size
        else:
            trained = extend(source_side.vocabulary, training, new_tokens=size, min_frequency=min_frequency,
                             workers=workers)
            reached = len(trained) - len(source_side.vocabulary)
        if reached < size:
            flag = "-n" if vocabulary == "replace" else "-n (new tokens)"
            raise LexkitError(
                f"the corpus is too small for {flag} {size}: training stopped at {reached} tokens "
                f"(no pair left that occurs {min_frequency}+ times); pass -n {reached} or less, or more domain text"
            )
        Tokenizer(trained).save(cached)
        detail = f"{trained.model_size} tokens, {len(trained.merges)} merges"
    new_tokenizer = Tokenizer(trained)
    # An extension keeps the model's special-token roles (its tokenizer's bos/eos/pad), so specials stay anchors.
    target: Any = new_tokenizer if vocabulary == "replace" else TransferTokenizer(trained, source_side.roles)
    done("train", started, detail)

    # 2. transplant (reused from the work folder for the same tokenizer, model and method)
    started = stage(2, f"transplanting with {'centred OMP' if method == 'omp' else method}"
                       f"{' (donor ' + str(donor) + ')' if donor is not None else ''}")
    swapped_dir = work / f"transplant-{_digest(key, settings['model'], method, settings['donor'])}"
    if (swapped_dir / "config.json").exists():
        swapped: Any = swapped_dir
        detail = f"reused {swapped_dir}"
    else:
        options: dict[str, Any] = {}
        if method == "omp":
            from lexkit.cli.transfer import _omp_options

            options = _omp_options(device, None, None, None, True, show=False)
        result = transplant(original, target, method, donor=donor, source_tokenizer=source, aux=aux,
                            device=device, **options)
        result.save(swapped_dir)
        swapped = swapped_dir
        detail = result.summary_lines()[1]
    done("transplant", started, detail)

    # 3. heal (resumes from the checkpoint of an interrupted run)
    limits = [f"{minutes:g} minutes" if minutes else "", f"{steps} steps" if steps else ""]
    mix = f", {len(replayed)} general pieces beside {len(training)} domain pieces" if replayed else ""
    started = stage(3, f"healing ({' or '.join(x for x in limits if x)}, whichever ends first{mix})")

    def progress(step: Any) -> None:
        if step.step == 1 or step.step % 10 == 0:
            say(f"      step {step.step}: loss {step.loss:.4f}, {step.tokens} tokens, {step.seconds:.0f}s")

    healed = heal(swapped, original, training + replayed, budget=budget, teacher_tokenizer=source, config=config,
                  device=device, checkpoint_dir=work / "heal", progress=progress)
    done("heal", started, f"{healed.info['steps']} steps, {healed.info['tokens_per_second']} tokens/s")

    # 4. evaluate on the held-out domain slice and on general text
    started = stage(4, "evaluating the original, transplanted and adapted models")
    adapted_side = TransferTokenizer.from_any(healed.tokenizer, what="adapted tokenizer")
    slices = {"domain": _spread(held_out, eval_documents), "general": _spread(general_pieces, eval_documents)}
    tpb = {name: {"original": tokens_per_byte(source_side.hf, texts), "adapted": tokens_per_byte(healed.tokenizer,
                                                                                                  texts)}
           for name, texts in (("domain", held_out), ("general", general_pieces))}
    scores, seconds = {}, {}
    zero_shot, _ = load_causal_lm(swapped)
    for variant, (lm, side) in {"original": (original, source_side), "transplanted": (zero_shot, adapted_side),
                                "adapted": (healed.model, adapted_side)}.items():
        tick = time.perf_counter()
        scores[variant] = evaluate(lm, side, slices, chunk_chars=config.sequence_chars, device=device)
        seconds[variant] = time.perf_counter() - tick
    bpb = {name: {v: round(scores[v].slices[name].bpb, 5) for v in _VARIANTS} for name in slices}
    bpb["overall"] = {v: round(scores[v].bpb, 5) for v in _VARIANTS}
    scored_bytes = scores["original"].overall.n_bytes
    throughput = {
        "heal_tokens_per_second": float(healed.info["tokens_per_second"]),
        "original_scoring_bytes_per_second": round(scored_bytes / seconds["original"], 1),
        "adapted_scoring_bytes_per_second": round(scored_bytes / seconds["adapted"], 1),
    }
    done("evaluate", started, f"domain bits per byte {bpb['domain']['original']:.4f} -> {bpb['domain']['adapted']:.4f}")

    # 5. write everything at once
    started = stage(5, f"writing {output}")
    heal_info = {k: v for k, v in healed.info.items() if k != "config"}
    report = AdaptReport(
        settings, {k: {v: round(x, 5) for v, x in part.items()} for k, part in tpb.items()}, bpb, throughput, stages,
        {"slices": {"training_pieces": len(training), "replay_pieces": len(replayed), "held_out_pieces": len(held_out),
                    "scored": {
            n: {"documents": len(t), "bytes": scores["original"].slices[n].n_bytes} for n, t in slices.items()}},
         "heal": heal_info, "vocabulary": {"size": trained.model_size, "merges": len(trained.merges),
                        **({"extension": trained.metadata["extension"]} if vocabulary == "extend" else {})}},
    )
    with atomic_directory(output) as staging:
        healed.model.save_pretrained(str(staging))
        healed.tokenizer.save_pretrained(str(staging))
        new_tokenizer.save(staging / "tokenizer")
        (staging / "heal_report.json").write_text(json.dumps(healed.to_json(), indent=1), encoding="utf-8")
        done("write", started)
        (staging / REPORT_JSON).write_text(json.dumps(report.to_json(), ensure_ascii=False, indent=1),
                                           encoding="utf-8")
        (staging / REPORT_HTML).write_text(report.render_html(), encoding="utf-8")
    if work_dir is None:
        shutil.rmtree(work, ignore_errors=True)
    return report


def _pieces(texts: Sequence[str], chunk_chars: int) -> list[str]:
    from lexkit.transfer.evaluate import chunk_text

    return [p for text in texts for p in chunk_text(text, chunk_chars) if p.strip()]


def _embedded_prose() -> list[str]:
    """lexkit's embedded English prose (the Python reference manual), the default general text."""
    from lexkit.embedded import default_corpus

    return ["\n\n".join(default_corpus("prose"))]


def _read(path: Path, what: str) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except (FileNotFoundError, IsADirectoryError):
        raise LexkitError(f"{path}: no such file (a {what} file); pass an existing UTF-8 text file") from None
    except UnicodeDecodeError as exc:
        raise LexkitError(f"{path}: invalid UTF-8 at byte {exc.start}; convert the file to UTF-8 first") from None


@click.command("adapt")
@click.option("--model", "model_path", required=True, type=click.Path(path_type=Path),
              help="The original model: an HF folder (with its tokenizer) or a .gguf file.")
@click.option("--corpus", "corpora", multiple=True, required=True, type=click.Path(path_type=Path),
              help="Domain text (UTF-8; repeatable); the tail of each file is held out for evaluation.")
@click.option("--vocabulary", "vocabulary_mode", type=click.Choice(VOCABULARY_MODES), default="extend",
              show_default=True, help="replace: train a domain-only tokenizer that replaces the model's; extend: add "
              "-n domain tokens to the model's own tokenizer (old tokens and their rows unchanged).")
@click.option("-n", "--size", "--vocab-size", "size", type=click.IntRange(min=1), required=True,
              help="replace: the new tokenizer's vocabulary size; extend: how many tokens to add (--vocab-size, "
              "as in lexkit train, is the same option).")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="New output folder (model, tokenizer/, adapt_report.html/.json), written atomically.")
@click.option("--algorithm", default="bpe", help="--vocabulary replace: the trainer (bpe, domain, lbpe, scaffold-bpe, char, bytespan, morph).")
@click.option("--min-frequency", type=click.IntRange(min=0), default=2, help="Training stops when the best pair is rarer.")
@click.option("--donor", default=None, help="A model using a tokenizer like the new one: centred OMP (default: heuristic).")
@click.option("--method", type=click.Choice(("heuristic", "omp", "subword-mean", "mean")), default=None,
              help="Transplant method (default: extend subword-mean; replace omp with --donor, else heuristic).")
@click.option("--aux", type=click.Path(path_type=Path), default=None,
              help="Heuristic: auxiliary embedding model folder (default all-MiniLM-L6-v2).")
@click.option("--source-tokenizer", type=click.Path(path_type=Path), default=None,
              help="The model's tokenizer (default: read from the model folder or .gguf file).")
@click.option("--general", type=click.Path(path_type=Path), default=None,
              help="General text scored beside the domain (default: lexkit's embedded English prose).")
@click.option("--replay", type=click.FloatRange(0, 1, max_open=True), default=0.25, show_default=True,
              help="Share of healing pieces drawn from the general text (never the scored ones; fewer when it is "
                   "short): keeps general text (measured default; 0: domain text only).")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=None, help="Healing time budget.")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Healing step budget.")
@click.option("--loss", type=click.Choice(("next-token", "alm")), default="next-token", show_default=True,
              help="Healing loss (lexkit heal --loss; HealConfig's measured default).")
@click.option("--lr", "learning_rate", type=click.FloatRange(min=0, min_open=True),
              default=3e-3, help="Healing learning rate (HealConfig's measured default).")
@click.option("--through-body/--head-only", default=True,
              help="Heal the new rows from both sides, through the transformer (HealConfig's measured default), or "
                   "from the output head only.")
@click.option("--lora-rank", type=click.IntRange(min=0), default=8,
              help="Heal with LoRA adapters of this rank on q/v too (0: rows only; HealConfig's measured default).")
@click.option("--sequence-chars", type=click.IntRange(min=16), default=1000,
              help="Characters per text piece (healing and scoring).")
@click.option("--held-out-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.1,
              help="Share of each corpus file held out for evaluation (never trained on).")
@click.option("--eval-documents", type=click.IntRange(min=1), default=16, help="Pieces per slice scored in bits per byte.")
@click.option("--device", type=click.Choice(("cpu", "cuda", "auto")), default="auto", help="Where transplant and healing run.")
@click.option("--dtype", type=click.Choice(("auto", "float32", "bfloat16")), default="auto",
              help="Healing's compute precision (lexkit heal --dtype): auto is bf16 autocast on CUDA, float32 on the CPU.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Counting processes (default: all cores).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def adapt_command(model_path: Path, corpora: tuple[Path, ...], vocabulary_mode: VocabularyMode, size: int,
                  output: Path, algorithm: str,
                  min_frequency: int, donor: str | None, method: str | None, aux: Path | None, source_tokenizer: Path | None,
                  general: Path | None, replay: float, minutes: float | None, steps: int | None, loss: str, learning_rate: float,
                  through_body: bool, lora_rank: int,
                  sequence_chars: int, held_out_fraction: float, eval_documents: int, device: str, dtype: str,
                  workers: int | None, as_json: bool) -> None:
    """Adapt --model to the --corpus domain: extend (or replace) its tokenizer, transplant, heal, evaluate; write to -o."""
    from lexkit.transfer import HealConfig

    if minutes is None and steps is None:
        raise LexkitError("no healing budget: pass --minutes N and/or --steps N")
    texts = [_read(path, "--corpus") for path in corpora]
    general_texts = None if general is None else [_read(general, "--general")]
    names = {"model": str(model_path), "corpus": ", ".join(str(p) for p in corpora)}
    if general is not None:
        names["general"] = str(general)
    sizes = {"vocab_size": size} if vocabulary_mode == "replace" else {"new_tokens": size}
    report = adapt(model_path, texts, vocabulary=vocabulary_mode, **sizes, output=output, algorithm=algorithm,
                   min_frequency=min_frequency, donor=None if donor is None else Path(donor), method=method, aux=aux,
                   source_tokenizer=source_tokenizer,
                   general=general_texts, replay=replay, minutes=minutes, steps=steps,
                   heal_config=HealConfig(loss=loss, learning_rate=learning_rate, sequence_chars=sequence_chars,
                                          through_body=through_body, lora_rank=lora_rank,
                                          dtype=dtype),  # type: ignore[arg-type]
                   held_out_fraction=held_out_fraction, eval_documents=eval_documents, device=device,
                   workers=workers, echo=None if as_json else lambda line: click.echo(line, err=True), names=names)
    if as_json:
        click.echo(json.dumps({"output": str(output), **report.to_json()}, ensure_ascii=False, indent=2))
        return
    for line in report.summary_lines():
        click.echo(line)
    click.echo(f"wrote {output} ({REPORT_HTML})")

