"""Read sentencepiece ``.model`` files (a serialized ``ModelProto``) into a `Vocabulary`; read only.

Handled: BPE and Unigram models; piece types NORMAL, UNKNOWN, CONTROL (-> special), USER_DEFINED (-> added), UNUSED
and BYTE (byte fallback); the normalizer spec's precompiled character map (run by HF's ``Precompiled``
normalizer), ``add_dummy_prefix`` and ``remove_extra_whitespaces``. Not handled (UnsupportedComponentError):
``treat_whitespace_as_suffix``, ``escape_whitespaces=False``, a denormalizer, and the WORD and CHAR model types.

BPE merge order is not stored in the file: sentencepiece merges the adjacent pair whose concatenation has the
highest score. Reading turns that rule into merges: every split of a normal piece into two normal pieces, ordered
by the result's score (descending; piece order breaks ties) and then by the length of the left part, as
transformers' ``generate_merges`` does. Scores, not piece order, are the priority: Mistral's ``▁▁`` sits at id 259
with score -1e9 and must be merged last.

The pipeline mirrors transformers' legacy ``LlamaConverter``: the dummy prefix is a ``Prepend("▁")`` normalizer
(sentencepiece adds it even before a leading space, which the ``Metaspace`` pre-tokenizer would not), spaces are
replaced by ``▁``, and the decoder undoes both. Known differences: HF splits the text around a user-defined piece
and normalizes each part on its own, so a user-defined piece gives sentencepiece's ids only at the very end of the
text (elsewhere HF adds a dummy prefix after it, and trims a space before it when ``remove_extra_whitespaces``);
sentencepiece decodes ``<unk>`` as its ``unk_surface`` (`` ⁇ ``), lexkit as the piece text.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from os import PathLike
from pathlib import Path
from typing import Any

from lexkit.errors import FormatError, UnsupportedComponentError, require
from lexkit.formats import surface as bu
from lexkit.formats._merges import derive_merges
from lexkit.vocabulary import JSON, AddedTokenOptions, Merge, Token, TokenKind, Vocabulary

__all__ = ["from_sentencepiece", "merges_from_scores"]

# sentencepiece_model.proto enums
_NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED, _UNUSED, _BYTE = 1, 2, 3, 4, 5, 6
_UNIGRAM, _BPE = 1, 2
_MODEL_NAMES = {1: "UNIGRAM", 2: "BPE", 3: "WORD", 4: "CHAR"}


def from_sentencepiece(source: str | PathLike[str] | bytes) -> Vocabulary:
    """Read a sentencepiece model (a ``.model`` path or its bytes) into a `Vocabulary`.

    Ids are piece positions. Piece types map to token kinds one to one (CONTROL -> special, USER_DEFINED ->
    added); every token keeps its piece score. Encoding with ``Tokenizer(from_sentencepiece(path))`` gives the
    ids of ``SentencePieceProcessor(model_file=path).encode(text)`` (see the module docstring for the exception).

    Args:
        source: path of a ``.model`` file, or the serialized ``ModelProto`` bytes.

    Returns:
        A ``"bpe"`` vocabulary (merges derived from the scores) or a ``"unigram"`` one.

    Raises:
        FormatError: the file is missing, truncated or not a sentencepiece model; the message names the source.
        UnsupportedComponentError: the model uses a setting lexkit cannot express (named in the message).
        MissingDependencyError: sentencepiece (with protobuf) is not installed.
    """
    if isinstance(source, (bytes, bytearray)):
        data, label = bytes(source), "<sentencepiece bytes>"
    else:
        path = Path(source)
        label = str(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise FormatError(f"{path}: no such file; pass the path of a sentencepiece .model file") from None
    proto = _parse(data, label)
    trainer, spec = proto.trainer_spec, proto.normalizer_spec
    model_type = trainer.model_type
    if model_type not in (_UNIGRAM, _BPE):
        raise UnsupportedComponentError(
            f"{label}: sentencepiece model type {_MODEL_NAMES.get(model_type, model_type)} is not supported; "
            "lexkit reads BPE and UNIGRAM models — retrain with model_type='bpe' or 'unigram'"
        )
    _check_supported(proto, label)
    tokens = [_token(i, p.piece, p.type, p.score, label) for i, p in enumerate(proto.pieces)]
    unk_id = next((t.id for t in tokens if t.kind == TokenKind.UNKNOWN), None)
    byte_fallback = bool(trainer.byte_fallback)
    if model_type == _BPE:
        model = "bpe"
        merges = merges_from_scores(tokens)
        options: JSON = {
            "dropout": None, "unk_token": tokens[unk_id].text if unk_id is not None else None,
            "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": True,
            "byte_fallback": byte_fallback, "ignore_merges": False,
        }
    else:
        model, merges, options = "unigram", (), {"unk_id": unk_id, "byte_fallback": byte_fallback}
    metadata = {"sentencepiece": {
        "model_type": _MODEL_NAMES[model_type], "normalizer": spec.name,
        "add_dummy_prefix": spec.add_dummy_prefix, "remove_extra_whitespaces": spec.remove_extra_whitespaces,
        "byte_fallback": byte_fallback, "unk_id": trainer.unk_id, "bos_id": trainer.bos_id,
        "eos_id": trainer.eos_id, "pad_id": trainer.pad_id,
    }}
    try:
        return Vocabulary(
            tokens=tuple(tokens), merges=merges, model=model, model_options=options,  # type: ignore[arg-type]
            normalizer=_normalizer(spec), pre_tokenizer=None, decoder=_decoder(spec, byte_fallback),
            metadata=metadata,
        )
    except ValueError as exc:
        raise FormatError(f"{label}: {exc}") from None


def _parse(data: bytes, label: str) -> Any:
    """Parse and sanity-check the ModelProto (protobuf accepts some truncations silently)."""
    pb2: Any = require("sentencepiece.sentencepiece_model_pb2")
    from google.protobuf.message import DecodeError

    proto = pb2.ModelProto()
    try:
        proto.ParseFromString(data)
    except (DecodeError, ValueError) as exc:
        raise FormatError(
            f"{label}: not a sentencepiece model ({exc}); the file is truncated or corrupt — copy the original "
            ".model file again"
        ) from None
    missing = [name for name in ("trainer_spec", "normalizer_spec") if not proto.HasField(name)]
    if not proto.pieces or missing:
        raise FormatError(
            f"{label}: sentencepiece model has {len(proto.pieces)} pieces and lacks "
            f"{', '.join(missing) or 'nothing else'}; the file is truncated or not a sentencepiece model — copy "
            "the original .model file again"
        )
    return proto


def _check_supported(proto: Any, label: str) -> None:
    """Refuse settings whose behaviour the HF pipeline cannot reproduce."""
    spec = proto.normalizer_spec
    problems = []
    if proto.trainer_spec.treat_whitespace_as_suffix:
        problems.append("trainer_spec.treat_whitespace_as_suffix=true")
    if not spec.escape_whitespaces:
        problems.append("normalizer_spec.escape_whitespaces=false")
    if proto.HasField("denormalizer_spec") and proto.denormalizer_spec.precompiled_charsmap:
        problems.append("a denormalizer_spec")
    if problems:
        raise UnsupportedComponentError(
            f"{label}: lexkit cannot reproduce sentencepiece's {', '.join(problems)}; encode with "
            "sentencepiece.SentencePieceProcessor directly, or retrain without these options"
        )


def _token(token_id: int, piece: str, piece_type: int, score: float, label: str) -> Token:
    if piece_type == _NORMAL:
        return Token(token_id, bu.metaspace_to_bytes(piece), score=score)
    if piece_type == _BYTE:
        value = bu.parse_byte_piece(piece)
        if value is None:
            raise FormatError(f"{label}: piece {token_id} {piece!r} has type BYTE but is not of the form <0xNN>")
        return Token(token_id, bytes([value]), TokenKind.BYTE, score=score)
    if piece_type == _UNKNOWN:
        return Token(token_id, piece.encode("utf-8"), TokenKind.UNKNOWN, score=score)
    if piece_type == _UNUSED:
        return Token(token_id, bu.metaspace_to_bytes(piece), TokenKind.UNUSED, score=score)
    if piece_type in (_CONTROL, _USER_DEFINED):
        # subtle: HF keeps these in the model vocabulary too (transformers' converters do), so ids stay dense
        # there; matching is verbatim, before normalization.
        kind = TokenKind.SPECIAL if piece_type == _CONTROL else TokenKind.ADDED
        return Token(token_id, piece.encode("utf-8"), kind, score=score,
                     added=AddedTokenOptions(in_model_vocab=True))
    raise FormatError(f"{label}: piece {token_id} {piece!r} has unknown type {piece_type}")


def merges_from_scores(tokens: Iterable[Token]) -> tuple[Merge, ...]:
    """Merges reproducing sentencepiece BPE: every split of a normal piece into two normal pieces.

    Cost is one lookup per character boundary of every piece (no scan over all pairs). Order: result score
    descending (piece position on ties), then the left part's length ascending (`lexkit.formats._merges`).
    """
    normal = [t for t in tokens if t.kind == TokenKind.NORMAL]
    ids = {t.content.decode("utf-8"): t.id for t in normal}
    ordered = [t.content.decode("utf-8") for t in sorted(normal, key=lambda t: (-(t.score or 0.0), t.id))]
    return derive_merges(ordered, ids, split_order="position")[0]


def _normalizer(spec: Any) -> JSON:
    """HF normalizer doing what sentencepiece's normalizer does before segmentation."""
    steps: list[JSON] = []
    if spec.precompiled_charsmap:
        steps.append({"type": "Precompiled",
                      "precompiled_charsmap": base64.b64encode(spec.precompiled_charsmap).decode("ascii")})
    if spec.remove_extra_whitespaces:
        # subtle: sentencepiece collapses and trims U+0020 only (after the character map), not other whitespace.
        steps.append({"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "})
        steps.append({"type": "Replace", "pattern": {"Regex": r"\A | \z"}, "content": ""})
    if spec.add_dummy_prefix:
        steps.append({"type": "Prepend", "prepend": bu.METASPACE})
    steps.append({"type": "Replace", "pattern": {"String": " "}, "content": bu.METASPACE})
    return {"type": "Sequence", "normalizers": steps}


def _decoder(spec: Any, byte_fallback: bool) -> JSON:
    """HF decoder: ``▁`` back to spaces, byte pieces fused, the dummy prefix removed."""
    steps: list[JSON] = [{"type": "Replace", "pattern": {"String": bu.METASPACE}, "content": " "}]
    if byte_fallback:
        steps.append({"type": "ByteFallback"})
    steps.append({"type": "Fuse"})
    if spec.add_dummy_prefix:
        steps.append({"type": "Strip", "content": " ", "start": 1, "stop": 0})
    return {"type": "Sequence", "decoders": steps}
