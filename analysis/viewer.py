"""The token viewer: sample passages cut by several tokenizers side by side, as one self-contained HTML fragment.

Each passage is encoded here, in Python, and embedded as (id, length in bytes) pairs; the page's script
(``viewer_assets/viewer.js``, no network) draws the tokens in alternating colours with visible whitespace, shows a
token's id, bytes, kind and length on hover, and marks lexkit's own structure: pieces of a demolished Scaffold-BPE
scaffold token, morph roots and affix classes, ByteSpan span versus BPE-fill tokens. A box encodes typed text with
every tokenizer `lexkit.analysis.viewer_model` can embed (byte-level BPE); the others say why they cannot run there.
Visual (code-grid) vocabularies do not encode text: given sample code grids (``grids=``) the page draws each grid
cut into its visual tokens, and hovering a token shows its id and its grid patch (codes, shape, anchor); without
grids they are left out, with a note.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np

from lexkit.analysis.viewer_model import NotRunnable, live_model
from lexkit.encoders import HFEncoder
from lexkit.tokenizer import Tokenizer
from lexkit.vocabulary import TokenKind, Vocabulary

__all__ = [
    "DEFAULT_LIVE_BUDGET", "Passage", "ViewerData", "encode_with_origin", "token_notes", "patch_box",
    "visual_entry", "build_viewer", "render_fragment", "render_page", "color_tokens",
]

#: Base64 bytes of in-page encoder tables one page may embed (o200k takes 2.3 MB, GPT-2 0.6 MB); tokenizers past
#: the budget are still shown on the passages, and the typing box says they were not embedded.
DEFAULT_LIVE_BUDGET = 16_000_000
_KIND_LIMIT = 5000  # non-normal kinds listed for the whole vocabulary up to this many; else only the sampled ids
_ANSI = (153, 223, 157, 219, 189)  # xterm-256 backgrounds, the page's palette


@dataclass(frozen=True)
class Passage:
    """One sample text and the label shown above it."""

    label: str
    text: str


@dataclass
class ViewerData:
    """Everything the page needs, JSON-ready (`to_json`); ``skipped`` lists tokenizers left out and why."""

    tokenizers: list[dict[str, Any]]
    passages: list[dict[str, Any]]
    skipped: dict[str, str] = field(default_factory=dict)
    visual: list[dict[str, Any]] = field(default_factory=list)  # visual tokenizers with their sample grids

    def to_json(self) -> dict[str, Any]:
        """The payload of the page's data block."""
        return {"tokenizers": self.tokenizers, "passages": self.passages, "skipped": self.skipped,
                "visual": self.visual}

    @property
    def embedded_bytes(self) -> int:
        """Base64 bytes of the in-page encoder tables."""
        return sum(len(t["live"]["table"]) for t in self.tokenizers if t["live"])


def encode_with_origin(tokenizer: Tokenizer, text: str) -> tuple[list[int], list[int | None]]:
    """Ids of ``text`` (special-token text encoded as ordinary text) and, per id, the Scaffold-BPE scaffold token
    it was demolished from (None elsewhere)."""
    ids = tokenizer.encode(text, disallowed_special=())
    origin: list[int | None] = [None] * len(ids)
    if tokenizer.encoder_name == "scaffold" and text:
        expansions = tokenizer.encoder.expansions  # type: ignore[attr-defined]
        raw = HFEncoder.encode_ordinary(tokenizer.encoder, text)  # type: ignore[arg-type]
        rebuilt: list[int] = []
        marks: list[int | None] = []
        for token_id in raw:
            pieces = expansions.get(token_id, (token_id,))
            rebuilt += pieces
            marks += [token_id if token_id in expansions else None] * len(pieces)
        if rebuilt == ids:
            origin = marks
    return ids, origin


def token_notes(vocabulary: Vocabulary, ids: Sequence[int]) -> tuple[dict[int, str], dict[int, str]]:
    """(roles, notes) for ``ids``: a CSS role (``root``/``affix``) and a hover note where lexkit knows more."""
    roles: dict[int, str] = {}
    notes: dict[int, str] = {}
    tokens = vocabulary.tokens
    morph = vocabulary.metadata.get("morph")
    span = vocabulary.metadata.get("bytespan")
    for token_id in set(ids):
        token = tokens[token_id]
        if token.scaffold:
            notes[token_id] = f"{token.text!r} (scaffold token)"
        elif isinstance(morph, Mapping):
            root_start, root_end = morph["roots"]
            affixes = morph.get("affixes", {})
            controls = {int(v) for v in morph.get("control", {}).values()}
            if root_start <= token_id < root_end:
                roles[token_id] = "root"
                variants = morph.get("root_variants", {}).get(str(token_id))
                notes[token_id] = "morph root" + (f" (forms: {', '.join(variants)})" if variants else "")
            elif str(token_id) in affixes:
                roles[token_id] = "affix"
                notes[token_id] = (f"morph affix class {token.text.removeprefix('##')} "
                                   f"(allomorphs: {', '.join(affixes[str(token_id)])})")
            elif token_id in controls:
                notes[token_id] = "morph control token"
            else:
                notes[token_id] = "morph BPE fallback"
        elif isinstance(span, Mapping) and token.kind == TokenKind.NORMAL:
            fill = int(span.get("bpe_fill_tokens", 0))
            spans = int(span.get("spans_in_vocabulary", 0))
            first_span = len(tokens) - fill - spans
            if first_span <= token_id < len(tokens) - fill:
                notes[token_id] = "ByteSpan span token (a run of predictable bytes)"
            elif token_id >= len(tokens) - fill:
                notes[token_id] = "ByteSpan BPE-fill token"
    return roles, notes


def _run(tokenizer: Tokenizer, text: str) -> tuple[dict[str, Any], list[int]]:
    """One passage for one tokenizer: (id, byte length[, scaffold origin]) when the tokens' bytes are exactly the
    text, else (id, base64 content) and ``exact`` false (normalizers, word markers, morph realization)."""
    ids, origin = encode_with_origin(tokenizer, text)
    contents = [tokenizer.token_to_bytes(i) for i in ids]
    exact = b"".join(contents) == text.encode("utf-8")
    tokens: list[list[Any]] = []
    for token_id, content, source in zip(ids, contents, origin):
        entry: list[Any] = [token_id, len(content) if exact else base64.b64encode(content).decode()]
        if source is not None:
            entry.append(source)
        tokens.append(entry)
    return {"exact": exact, "tokens": tokens}, ids + [o for o in origin if o is not None]


def patch_box(patch: Sequence[tuple[int, int, int]]) -> tuple[int, int, int, list[list[int | None]]]:
    """A visual token's patch as the page draws it: (height, width, column of the anchor, rows of codes), with
    None where the bounding box holds no cell of the patch.

    >>> patch_box(((0, 0, 3), (1, -1, 1), (1, 0, 2)))
    (2, 2, 1, [[None, 3], [1, 2]])
    """
    left = min(dx for _, dx, _ in patch)
    height = max(dy for dy, _, _ in patch) + 1
    width = max(dx for _, dx, _ in patch) - left + 1
    rows: list[list[int | None]] = [[None] * width for _ in range(height)]
    for dy, dx, code in patch:
        rows[dy][dx - left] = code
    return height, width, -left, rows


def visual_entry(name: str, tokenizer: Tokenizer, grids: Sequence[Any]) -> dict[str, Any]:
    """One visual tokenizer's sample grids cut into tokens, and the patch of every token they use."""
    encoder = tokenizer.encoder
    samples = []
    used: set[int] = set()
    for number, grid in enumerate(grids):
        encoding = tokenizer.encode_grid(grid)
        used.update(encoding.ids)
        samples.append({"label": f"grid {number} ({encoding.shape[0]} x {encoding.shape[1]})",
                        "shape": list(encoding.shape), "codes": np.asarray(grid).reshape(-1).tolist(),
                        "tokens": [[i, r, c] for i, (r, c) in zip(encoding.ids, encoding.positions)]})
    patches = {}
    for token_id in sorted(used):
        height, width, anchor, rows = patch_box(encoder.patches[token_id])  # type: ignore[attr-defined]
        patches[str(token_id)] = {"h": height, "w": width, "anchor": anchor, "rows": rows,
                                  "cells": len(encoder.patches[token_id])}  # type: ignore[attr-defined]
    return {"name": name, "vocab": len(tokenizer.vocabulary), "codebook": tokenizer.vocabulary.alphabet.size,
            "grids": samples, "patches": patches}


def build_viewer(tokenizers: Mapping[str, Tokenizer], passages: Sequence[Passage], *,
                 live_budget: int = DEFAULT_LIVE_BUDGET,
                 grids: Mapping[str, Sequence[Any]] | None = None) -> ViewerData:
    """Encode every passage with every tokenizer and pack the in-page encoders that fit ``live_budget``.

    Args:
        tokenizers: name -> tokenizer; text tokenizers cut the passages, visual ones the grids.
        passages: the sample texts.
        live_budget: base64 bytes of in-page encoder tables the page may embed.
        grids: visual tokenizer name -> sample ``(H, W)`` code grids to draw (a visual tokenizer without
            grids is left out, with a note).

    Raises:
        EncodingError: a sample grid does not fit its visual tokenizer's codebook.
    """
    grids = grids or {}
    usable = {name: tok for name, tok in tokenizers.items() if tok.vocabulary.alphabet.kind == "bytes"}
    visual = [visual_entry(name, tok, grids[name]) for name, tok in tokenizers.items()
              if name not in usable and grids.get(name)]
    shown = {entry["name"] for entry in visual}
    skipped = {name: "visual vocabulary: it encodes code grids, not text; pass sample grids to see its tokens "
               "(see `lexkit visual-analyze`)" for name in tokenizers if name not in usable and name not in shown}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in usable}
    seen: dict[str, list[int]] = {name: [] for name in usable}
    for passage in passages:
        for name, tokenizer in usable.items():
            run, ids = _run(tokenizer, passage.text)
            runs[name].append(run)
            seen[name] += ids
    infos = []
    spent = 0
    for name, tokenizer in usable.items():
        vocabulary = tokenizer.vocabulary
        live: dict[str, Any] | None = None
        why = ""
        try:
            model = live_model(tokenizer)
            packed = len(model.table)
            if spent + packed > live_budget:
                why = (f"its tables ({packed / 1e6:.1f} MB) would pass the page's budget for in-page encoders "
                       f"({live_budget / 1e6:.0f} MB; `lexkit view --live-budget-mb` raises it)")
            else:
                live, spent = model.to_json(), spent + packed
        except NotRunnable as reason:
            why = str(reason)
        odd = [t.id for t in vocabulary.tokens if t.kind != TokenKind.NORMAL]
        listed = odd if len(odd) <= _KIND_LIMIT else [i for i in set(seen[name]) if vocabulary.tokens[i].kind != TokenKind.NORMAL]
        roles, notes = token_notes(vocabulary, seen[name])
        infos.append({"name": name, "vocab": len(vocabulary), "encoder": tokenizer.encoder_name, "live": live,
                      "why": why, "kinds": {str(i): vocabulary.tokens[i].kind.value for i in listed},
                      "roles": {str(k): v for k, v in roles.items()},
                      "notes": {str(k): v for k, v in notes.items()}})
    payload = [{"label": p.label, "text": p.text, "runs": [runs[name][i] for name in usable]}
               for i, p in enumerate(passages)]
    return ViewerData(infos, payload, skipped, visual)


def _asset(name: str) -> str:
    return resources.files("lexkit.analysis").joinpath("viewer_assets", name).read_text(encoding="utf-8")


def render_fragment(data: ViewerData) -> str:
    """The viewer as one HTML fragment (its own style, data and script; nothing loaded from the network)."""
    payload = json.dumps(data.to_json(), ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    skipped = "".join(f"<p class=\"lkv-note\">Left out: {html.escape(n)} ({html.escape(r)}).</p>"
                      for n, r in data.skipped.items())
    legend = ("<div class=\"lkv-legend\"><span>colours alternate at token boundaries</span>"
              "<span>\u00b7 space, \u2192 tab, \u21b5 newline</span>"
              "<span class=\"lkv-multi\">one character split over several tokens</span>"
              "<span class=\"lkv-scf\">pieces of a demolished scaffold token</span>"
              "<span class=\"lkv-root\">morph root</span><span class=\"lkv-affix\">morph affix class</span>"
              "<span>hover a token: id, bytes, kind, length</span></div>")
    return (f"<div class=\"lkv\"><style>{_asset('viewer.css')}</style>"
            f"<script type=\"application/json\" class=\"lkv-data\">{payload}</script>{legend}{skipped}"
            "<div class=\"lkv-passages\"></div><div class=\"lkv-visual\"></div><h3>Try your own text</h3><div class=\"lkv-box\">"
            "<textarea spellcheck=\"false\" placeholder=\"Type or paste text: every tokenizer that can run in this "
            "page encodes it as you type\"></textarea></div><div class=\"lkv-grid lkv-live\"></div>"
            f"<script>{_asset('viewer.js')}</script></div>")


def render_page(data: ViewerData, title: str = "lexkit token viewer") -> str:
    """A whole self-contained HTML page holding the viewer."""
    names = ", ".join(t["name"] for t in data.tokenizers)
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            "<style>body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(names)}</p>{render_fragment(data)}</body></html>\n")


def color_tokens(tokenizer: Tokenizer, text: str) -> str:
    """``text`` with ANSI background colours alternating at token boundaries (``lexkit encode --color``).

    Whitespace is made visible (``·`` space, ``→`` tab, ``↵`` newline); tokens that split a UTF-8 character are
    drawn together; when the tokens' bytes are not the text (normalizers), each token's own content is shown.
    """
    ids = tokenizer.encode(text, disallowed_special=())
    contents = [tokenizer.token_to_bytes(i) for i in ids]
    data = text.encode("utf-8")
    pieces: list[bytes] = []
    if b"".join(contents) == data:
        start = end = 0
        for content in contents:
            end += len(content)
            if end == len(data) or data[end] & 0xC0 != 0x80:
                pieces.append(data[start:end])
                start = end
    else:
        pieces = contents
    out = []
    for n, piece in enumerate(pieces):
        shown = piece.decode("utf-8", errors="backslashreplace")
        shown = shown.replace(" ", "\u00b7").replace("\t", "\u2192").replace("\r", "\u240d").replace("\n", "\u21b5\n")
        colour = f"\x1b[30;48;5;{_ANSI[n % len(_ANSI)]}m"
        # a colour never runs past the end of a line (terminals would paint the rest of the row)
        out.append("\n".join(f"{colour}{line}\x1b[0m" if line else "" for line in shown.split("\n")))
    return "".join(out)
