"""HF ``tokenizer.json`` read/write with an exact round trip.

Reading turns surface strings (GPT-2 byte-level, ``▁`` metaspace, ``<0xNN>`` byte fallback, plain text) into
exact bytes; writing turns them back. Everything the file holds that lexkit does not model directly (truncation,
padding, model options, surfaces that the scheme would not reproduce) is kept in the vocabulary so that
``dumps(to_hf(from_hf(s)))`` gives back ``s`` as HF itself writes it. Handled model types: BPE, WordPiece, Unigram.
"""

from __future__ import annotations

import json
from os import PathLike
from pathlib import Path
from typing import Literal

from lexkit._gc import paused_gc
from lexkit.component_specs import iter_components
from lexkit.errors import FormatError, LossyConversionError, UnsupportedAlphabetError
from lexkit.formats import surface as bu
from lexkit.vocabulary import JSON, AddedTokenOptions, Token, TokenKind, Vocabulary

__all__ = ["Scheme", "surface_scheme", "load_json", "from_hf", "to_hf", "dumps", "save_hf"]

Scheme = Literal["byte-level", "metaspace", "plain"]
_MODEL_TYPES = {"BPE": "bpe", "WordPiece": "wordpiece", "Unigram": "unigram"}
_HF_MODEL_TYPES = {v: k for k, v in _MODEL_TYPES.items()}
# Key order HF itself writes, used for options a lexkit-built vocabulary does not set.
_BPE_DEFAULTS: JSON = {
    "dropout": None, "unk_token": None, "continuing_subword_prefix": None, "end_of_word_suffix": None,
    "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
}
_DEFAULTS: dict[str, JSON] = {
    "bpe": _BPE_DEFAULTS,
    "wordpiece": {"unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100},
    "unigram": {"unk_id": None, "byte_fallback": False},
}


def surface_scheme(vocabulary: Vocabulary) -> tuple[Scheme, str]:
    """How this vocabulary's tokens are spelled in HF files: the scheme and the metaspace character."""
    return _scheme(vocabulary.normalizer, vocabulary.pre_tokenizer, vocabulary.decoder)


def _scheme(normalizer: JSON | None, pre_tokenizer: JSON | None, decoder: JSON | None) -> tuple[Scheme, str]:
    components = [*iter_components(pre_tokenizer), *iter_components(decoder)]
    if any(c.get("type") == "ByteLevel" for c in components):
        return "byte-level", bu.METASPACE
    for c in components:
        if c.get("type") == "Metaspace":
            return "metaspace", c.get("replacement", bu.METASPACE)
    for c in [*components, *iter_components(normalizer)]:
        if c.get("type") == "Replace" and bu.METASPACE in (c.get("content"), c.get("pattern", {}).get("String")):
            return "metaspace", bu.METASPACE
    return "plain", bu.METASPACE


def _surface_to_bytes(surface: str, scheme: Scheme, replacement: str) -> bytes | None:
    if scheme == "byte-level":
        return bu.decode_surface(surface)
    if scheme == "metaspace":
        return bu.metaspace_to_bytes(surface, replacement)
    return surface.encode("utf-8")


def _bytes_to_surface(content: bytes, scheme: Scheme, replacement: str) -> str | None:
    if scheme == "byte-level":
        return bu.encode_surface(content)
    if scheme == "metaspace":
        return bu.bytes_to_metaspace(content, replacement)
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


def load_json(source: str | PathLike[str] | JSON) -> tuple[JSON, str]:
    """Parse a tokenizer.json given as a path, a JSON string or a dict; returns (data, name for messages)."""
    if isinstance(source, dict):
        return source, "<dict>"
    if isinstance(source, str) and source.lstrip().startswith("{"):
        text, name = source, "<string>"
    else:
        path = Path(source)
        if path.is_dir():
            path = path / "tokenizer.json"
        name = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FormatError(f"{name}: no such file; pass the path of a tokenizer.json or its folder") from None
        except UnicodeDecodeError as exc:
            raise FormatError(f"{name}: not UTF-8 text at byte {exc.start}; is this a tokenizer.json?") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"{name}: line {exc.lineno} column {exc.colno}: invalid JSON ({exc.msg}); the file is truncated or "
            "not a tokenizer.json — re-export it with tokenizer.save(path)"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise FormatError(f"{name}: no 'model' object; this is not an HF tokenizer.json")
    return data, name


@paused_gc()
def from_hf(source: str | PathLike[str] | JSON) -> Vocabulary:
    """Read an HF ``tokenizer.json`` (path, folder, JSON string or parsed dict) into a `Vocabulary`.

    Raises:
        FormatError: the file is not valid JSON, has an unsupported model type, or an inconsistent vocabulary.
    """
    data, name = load_json(source)
    model = data["model"]
    kind = _MODEL_TYPES.get(model.get("type", ""))
    if kind is None:
        raise FormatError(
            f"{name}: model type {model.get('type')!r} is not supported; lexkit reads BPE, WordPiece and Unigram"
        )
    scheme, replacement = _scheme(data.get("normalizer"), data.get("pre_tokenizer"), data.get("decoder"))
    options = {k: v for k, v in model.items() if k not in ("type", "vocab", "merges")}
    entries, scores = _model_entries(model, kind, name)
    added = {int(a["id"]): a for a in data.get("added_tokens") or []}
    size = max([*entries, *added], default=-1) + 1
    unk = options.get("unk_token")
    if kind == "unigram" and options.get("unk_id") is not None:
        unk = next((s for i, s in entries.items() if i == options["unk_id"]), None)
    overrides: dict[int, str] = {}
    tokens = []
    for token_id in range(size):
        surface = entries.get(token_id)
        spec = added.get(token_id)
        if spec is not None:
            options_ = AddedTokenOptions(
                single_word=spec.get("single_word", False), lstrip=spec.get("lstrip", False),
                rstrip=spec.get("rstrip", False), normalized=spec.get("normalized", False),
                in_model_vocab=surface is not None,
            )
            kind_ = TokenKind.SPECIAL if spec.get("special", False) else TokenKind.ADDED
            content = spec["content"].encode("utf-8")
            if surface is not None and _bytes_to_surface(content, scheme, replacement) != surface:
                overrides[token_id] = surface
            tokens.append(Token(token_id, content, kind_, score=scores.get(token_id), added=options_))
            continue
        if surface is None:
            tokens.append(Token(token_id, b"", TokenKind.UNUSED))
            continue
        byte = bu.parse_byte_piece(surface) if options.get("byte_fallback") else None
        if byte is not None:
            tokens.append(Token(token_id, bytes([byte]), TokenKind.BYTE, score=scores.get(token_id)))
            continue
        content_ = _surface_to_bytes(surface, scheme, replacement)
        if content_ is None or _bytes_to_surface(content_, scheme, replacement) != surface:
            overrides[token_id] = surface
            content_ = surface.encode("utf-8") if content_ is None else content_
        kind_ = TokenKind.UNKNOWN if surface == unk else TokenKind.NORMAL
        tokens.append(Token(token_id, content_, kind_, score=scores.get(token_id)))
    merges = _read_merges(model, entries, name) if kind == "bpe" else ()
    hf_meta: JSON = {
        "version": data.get("version", "1.0"), "truncation": data.get("truncation"),
        "padding": data.get("padding"), "keys": list(data), "merges_as_strings": _merges_are_strings(model),
    }
    if overrides:
        hf_meta["surface_overrides"] = {str(k): v for k, v in overrides.items()}
    try:
        return Vocabulary(
            tokens=tuple(tokens), merges=merges, model=kind, model_options=options,  # type: ignore[arg-type]
            normalizer=data.get("normalizer"), pre_tokenizer=data.get("pre_tokenizer"),
            post_processor=data.get("post_processor"), decoder=data.get("decoder"),
            metadata={"hf": hf_meta},
        )
    except ValueError as exc:
        raise FormatError(f"{name}: {exc}") from None


def _model_entries(model: JSON, kind: str, name: str) -> tuple[dict[int, str], dict[int, float]]:
    """The model's own vocabulary as id -> surface, plus scores (Unigram only)."""
    vocab = model.get("vocab")
    if kind == "unigram":
        if not isinstance(vocab, list):
            raise FormatError(f"{name}: Unigram model vocab must be a list of [piece, score]")
        return {i: p for i, (p, _) in enumerate(vocab)}, {i: float(s) for i, (_, s) in enumerate(vocab)}
    if not isinstance(vocab, dict):
        raise FormatError(f"{name}: model vocab must be an object mapping token to id")
    entries: dict[int, str] = {}
    for surface, token_id in vocab.items():
        if token_id in entries:
            raise FormatError(f"{name}: id {token_id} is used by both {entries[token_id]!r} and {surface!r}")
        entries[int(token_id)] = surface
    return entries, {}


def _merges_are_strings(model: JSON) -> bool:
    merges = model.get("merges") or []
    return bool(merges) and isinstance(merges[0], str)


def _read_merges(model: JSON, entries: dict[int, str], name: str) -> tuple[tuple[int, int], ...]:
    ids = {surface: token_id for token_id, surface in entries.items()}
    merges = []
    for rank, merge in enumerate(model.get("merges") or []):
        parts = merge.split(" ") if isinstance(merge, str) else merge
        if len(parts) != 2:
            raise FormatError(f"{name}: merge {rank} {merge!r} is not a pair of tokens")
        pair = []
        for part in parts:
            if part not in ids:
                raise FormatError(f"{name}: merge {rank} {merge!r} uses {part!r}, which is not in the vocabulary")
            pair.append(ids[part])
        merges.append((pair[0], pair[1]))
    return tuple(merges)


def to_hf(vocabulary: Vocabulary, *, allow_lossy: bool = False) -> JSON:
    """Write a `Vocabulary` as an HF ``tokenizer.json`` object (a dict; `dumps` gives HF's own text).

    Raises:
        UnsupportedAlphabetError: the alphabet is not bytes.
        LossyConversionError: scaffold flags or scores would be dropped and ``allow_lossy`` is False.
    """
    if vocabulary.alphabet.kind != "bytes":
        raise UnsupportedAlphabetError(
            f"tokenizer.json holds text vocabularies; this one has a {vocabulary.alphabet.kind} alphabet — "
            "save it with Tokenizer.save (lexkit.json) instead"
        )
    _check_lossy(vocabulary, allow_lossy)
    with paused_gc():
        return _to_hf(vocabulary)


def _to_hf(vocabulary: Vocabulary) -> JSON:
    scheme, replacement = surface_scheme(vocabulary)
    # byte-level surfaces in one gather (`encode_surfaces`): the per-token loop spent most of the export on them
    bulk = bu.encode_surfaces([t.content for t in vocabulary.tokens]) if scheme == "byte-level" else None
    hf_meta = vocabulary.metadata.get("hf", {})
    overrides = {int(k): v for k, v in hf_meta.get("surface_overrides", {}).items()}
    surfaces: dict[int, str] = {}
    added_tokens = []
    for token in vocabulary.tokens:
        if token.kind == TokenKind.UNUSED and not token.content:
            continue
        if token.kind == TokenKind.BYTE:
            surfaces[token.id] = bu.byte_piece(token.content[0])
            continue
        if token.kind in (TokenKind.SPECIAL, TokenKind.ADDED):
            opts = token.added or AddedTokenOptions()
            added_tokens.append({
                "id": token.id, "content": token.text, "single_word": opts.single_word, "lstrip": opts.lstrip,
                "rstrip": opts.rstrip, "normalized": opts.normalized, "special": token.kind == TokenKind.SPECIAL,
            })
            if not opts.in_model_vocab:
                continue
        surface = overrides.get(token.id) or (bulk[token.id] if bulk is not None else
                                              _bytes_to_surface(token.content, scheme, replacement))
        if surface is None:
            raise LossyConversionError(
                f"token {token.id} content {token.content!r} has no {scheme} surface form in tokenizer.json; "
                "use a byte-level pre-tokenizer/decoder for byte tokens, or save lexkit.json"
            )
        surfaces[token.id] = surface
    model: JSON = {"type": _HF_MODEL_TYPES[vocabulary.model]}
    options = dict(vocabulary.model_options) or dict(_DEFAULTS[vocabulary.model])
    model.update(options)
    if vocabulary.model == "unigram":
        model["vocab"] = [[surfaces[i], vocabulary.tokens[i].score or 0.0] for i in sorted(surfaces)]
        if "byte_fallback" in model:  # subtle: HF writes Unigram's vocab between unk_id and byte_fallback
            model["byte_fallback"] = model.pop("byte_fallback")
    else:
        model["vocab"] = {surfaces[i]: i for i in sorted(surfaces)}
    if vocabulary.model == "bpe":
        pairs = [[surfaces[m[0]], surfaces[m[1]]] for m in vocabulary.merges]
        model["merges"] = [" ".join(p) for p in pairs] if hf_meta.get("merges_as_strings") else pairs
    out: JSON = {
        "version": hf_meta.get("version", "1.0"), "truncation": hf_meta.get("truncation"),
        "padding": hf_meta.get("padding"), "added_tokens": added_tokens,
        "normalizer": vocabulary.normalizer, "pre_tokenizer": vocabulary.pre_tokenizer,
        "post_processor": vocabulary.post_processor, "decoder": vocabulary.decoder, "model": model,
    }
    keys = hf_meta.get("keys") or list(out)
    return {k: out[k] for k in keys if k in out}


def _check_lossy(vocabulary: Vocabulary, allow_lossy: bool) -> None:
    lost = []
    scaffolds = sum(1 for t in vocabulary.tokens if t.scaffold)
    if scaffolds:
        lost.append(f"{scaffolds} scaffold flags")
    if vocabulary.model != "unigram" and any(t.score is not None for t in vocabulary.tokens):
        lost.append("token scores")
    if lost and not allow_lossy:
        raise LossyConversionError(
            f"tokenizer.json cannot hold {', '.join(lost)}; save lexkit.json beside it (Tokenizer.save does), "
            "or pass allow_lossy=True to export without them"
        )


def dumps(data: JSON, *, pretty: bool = True) -> str:
    """Serialise a tokenizer.json object the way HF ``tokenizers`` writes it (2-space indent, UTF-8)."""
    if pretty:
        return json.dumps(data, ensure_ascii=False, indent=2)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def save_hf(vocabulary: Vocabulary, path: str | PathLike[str], *, allow_lossy: bool = False) -> Path:
    """Write ``tokenizer.json`` atomically; returns the path written."""
    from lexkit.atomic import atomic_write_text

    return atomic_write_text(Path(path), dumps(to_hf(vocabulary, allow_lossy=allow_lossy)))
