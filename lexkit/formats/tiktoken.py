"""tiktoken ranks (``.tiktoken`` files and ``tiktoken.Encoding`` objects) to and from a `Vocabulary`.

A tiktoken vocabulary is a map from token bytes to rank (= lexkit id), one pre-tokenization regex (``pat_str``) and
a map of special-token texts to ids. Neither the regex nor the specials are stored in a ``.tiktoken`` file.

Reading derives merges the way transformers' ``TikTokenConverter`` does: every split of a token into two tokens is
a merge, ordered by the rank of the result and then by the ranks of the parts. With ``ignore_merges`` (a whole
pre-token that is a token is emitted as it is, as tiktoken does), HF's BPE engine then reproduces tiktoken's ids:
tiktoken merges the adjacent pair whose concatenation has the lowest rank, and every such pair is a merge ranked
by that concatenation. The one case the two rules can disagree on is a token reachable by two overlapping splits
(``"ere" = "er"+"e" = "e"+"re"`` applied to ``[er][e][re]``): tiktoken takes the leftmost, a merge list takes the
earlier merge. Reading logs a warning with the number of such tokens.

The regex is translated for HF's Oniguruma engine, which reads ``X{1,3}+`` as a repeated repeat instead of
tiktoken's (fancy-regex) possessive quantifier, and ``$``/``^`` as line anchors instead of text anchors.

Writing needs a byte-level BPE vocabulary whose merge order follows its ids (ranks); anything else is lossy.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from lexkit._gc import paused_gc
from lexkit.components import GPT2_PATTERN
from lexkit.errors import FormatError, LossyConversionError, UnsupportedAlphabetError, require
from lexkit.formats._merges import derive_merges
from lexkit.vocabulary import JSON, Merge, Token, TokenKind, Vocabulary

if TYPE_CHECKING:
    import tiktoken

__all__ = [
    "Source", "from_tiktoken", "read_ranks", "merges_from_ranks", "pre_tokenizer_for", "to_onig_regex",
    "to_tiktoken", "to_tiktoken_encoding",
]

logger = logging.getLogger(__name__)

# Model options of transformers' TikTokenConverter output, in the order HF writes them.
_MODEL_OPTIONS: JSON = {
    "dropout": None, "unk_token": None, "continuing_subword_prefix": None, "end_of_word_suffix": None,
    "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
}
_DECODER: JSON = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
_POST_PROCESSOR: JSON = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}

Source = Union[str, "PathLike[str]", "tiktoken.Encoding", Mapping[bytes, int]]


# ----------------------------------------------------------------------------------------------------------------
# reading
@paused_gc()
def from_tiktoken(
    source: Source,
    *,
    pattern: str | None = None,
    special_tokens: Mapping[str, int] | None = None,
    name: str | None = None,
) -> Vocabulary:
    """Read tiktoken ranks into a byte-level BPE `Vocabulary` whose ids are the ranks.

    Args:
        source: a ``.tiktoken`` file (base64 token and rank per line), a ``tiktoken.Encoding`` (its ranks, regex
            and specials are used), or a mapping of token bytes to rank.
        pattern: the pre-tokenization regex (tiktoken syntax); default: the Encoding's, else GPT-2's (a bare
            ``.tiktoken`` file does not record its regex).
        special_tokens: special-token text -> id; default: the Encoding's, else none.
        name: recorded in ``metadata["tiktoken"]["name"]``; default: the Encoding's name or the file's stem.

    Returns:
        The vocabulary: normal tokens at their ranks, specials at their ids, holes filled with unused tokens,
        merges derived from the ranks, and the HF pipeline of transformers' ``TikTokenConverter``.

    Raises:
        FormatError: the file is missing or malformed, ranks repeat, or a special id collides with a rank.
        TypeError: ``source`` is none of the accepted kinds.

    >>> v = from_tiktoken({bytes([b]): b for b in range(256)} | {b"ab": 256}, special_tokens={"<|end|>": 257})
    >>> len(v), v.merges, v.tokens[257].kind.value
    (258, ((97, 98),), 'special')
    """
    default_pattern, default_specials = GPT2_PATTERN, dict[str, int]()
    if isinstance(source, (str, PathLike)):
        path = Path(source)
        ranks = read_ranks(path)
        label, default_name = str(path), path.name.removesuffix(".tiktoken")
        if pattern is None:
            logger.info("%s records no pre-tokenization regex; using GPT-2's (pass pattern=... to change it)", path)
    elif isinstance(source, Mapping):
        ranks, label, default_name = dict(source), "<ranks>", "tiktoken"
    elif hasattr(source, "_mergeable_ranks"):
        ranks, label, default_name = dict(source._mergeable_ranks), f"<tiktoken.Encoding {source.name}>", source.name
        default_pattern, default_specials = source._pat_str, dict(source._special_tokens)
    else:
        raise TypeError(
            f"from_tiktoken reads a .tiktoken path, a tiktoken.Encoding or a bytes->rank mapping, not "
            f"{type(source).__name__}; pass one of those"
        )
    pattern = default_pattern if pattern is None else pattern
    specials = dict(default_specials if special_tokens is None else special_tokens)
    tokens = _tokens(ranks, specials, label)
    merges = merges_from_ranks(ranks)
    try:
        return Vocabulary(
            tokens=tuple(tokens), merges=merges, model="bpe", model_options=dict(_MODEL_OPTIONS),
            pre_tokenizer=pre_tokenizer_for(pattern), post_processor=dict(_POST_PROCESSOR),
            decoder=dict(_DECODER),
            metadata={"tiktoken": {"name": name or default_name, "pattern": pattern}},
        )
    except ValueError as exc:
        raise FormatError(f"{label}: {exc}") from None


def read_ranks(path: str | PathLike[str]) -> dict[bytes, int]:
    """Parse a ``.tiktoken`` file: one ``<base64 token> <rank>`` per line.

    tiktoken's own loader is not used: it copies local files into a cache folder as a side effect.

    Raises:
        FormatError: the file is missing or a line is malformed; the message names the path and line.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FormatError(f"{path}: no such file; pass the path of a .tiktoken ranks file") from None
    ranks: dict[bytes, int] = {}
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            if len(parts) != 2:
                raise ValueError(f"expected 2 fields, found {len(parts)}")
            token, rank = base64.b64decode(parts[0], validate=True), int(parts[1])
        except (ValueError, binascii.Error) as exc:
            raise FormatError(
                f"line {number} of {path}: {line[:60]!r} is not '<base64 token> <rank>' ({exc}); the file is "
                "truncated or not a .tiktoken file — fetch or export it again (to_tiktoken writes this format)"
            ) from None
        if token in ranks:
            raise FormatError(
                f"line {number} of {path}: token {token!r} already has rank {ranks[token]}; each token may appear "
                "once — the file is corrupt, fetch or export it again"
            )
        ranks[token] = rank
    if not ranks:
        raise FormatError(f"{path}: no ranks in the file; it is empty or not a .tiktoken file — export it again")
    return ranks


def _tokens(ranks: Mapping[bytes, int], specials: Mapping[str, int], label: str) -> list[Token]:
    """Dense tokens: ranks as normal tokens, specials at their ids, unused tokens in the holes."""
    by_id: dict[int, Token] = {}
    for content, rank in ranks.items():
        if not isinstance(rank, int) or rank < 0:
            raise FormatError(f"{label}: token {content!r} has rank {rank!r}; ranks must be non-negative integers")
        if rank in by_id:
            raise FormatError(
                f"{label}: rank {rank} is given to both {by_id[rank].content!r} and {content!r}; ranks must be "
                "unique — the ranks are corrupt"
            )
        by_id[rank] = Token(rank, bytes(content))
    for text, token_id in specials.items():
        if token_id in by_id:
            raise FormatError(
                f"{label}: special token {text!r} has id {token_id}, which is already the rank of "
                f"{by_id[token_id].content!r}; pass special_tokens with ids outside the ranks"
            )
        by_id[token_id] = Token(token_id, text.encode("utf-8"), TokenKind.SPECIAL)
    size = max(by_id) + 1
    return [by_id.get(i) or Token(i, b"", TokenKind.UNUSED) for i in range(size)]


def merges_from_ranks(ranks: Mapping[bytes, int]) -> tuple[Merge, ...]:
    """Merges equivalent to tiktoken's rank rule, ordered as transformers' ``TikTokenConverter`` orders them.

    Every split of a token into two tokens becomes a merge (`lexkit.formats._merges.derive_merges`); merges are
    sorted by the rank of the result, then by the ranks of the left and right parts. Cost: one dictionary lookup
    per byte boundary of every token (about 0.6 s for o200k's 200k tokens), so no cache is needed.

    Returns:
        ``(left_id, right_id)`` pairs (ids = ranks).
    """
    merges, ambiguous = derive_merges(sorted(ranks, key=ranks.__getitem__), ranks, split_order="ids")
    if ambiguous:
        logger.info(
            "%d tokens (e.g. %s) are reachable by two overlapping splits; where both splits are adjacent at once "
            "tiktoken merges the leftmost while a merge list picks the earlier merge, so ids can differ on rare "
            "inputs (check with a tiktoken.Encoding built by to_tiktoken_encoding)",
            len(ambiguous), ", ".join(repr(t) for t in ambiguous[:3]),
        )
    return merges


# ----------------------------------------------------------------------------------------------------------------
# the regex in HF's engine
def pre_tokenizer_for(pattern: str) -> JSON:
    """The HF pre-tokenizer that splits like tiktoken's regex (``TikTokenConverter``'s Split + ByteLevel)."""
    return {
        "type": "Sequence",
        "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": to_onig_regex(pattern)}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
        ],
    }


def to_onig_regex(pattern: str) -> str:
    r"""Rewrite a tiktoken (fancy-regex) pattern so HF's Oniguruma engine matches the same text.

    Two constructs read differently there: a possessive counted repeat ``X{m,n}+`` (Oniguruma's Ruby syntax reads
    a repeat of a repeat; rewritten as the atomic group ``(?>X{m,n})``), and ``^``/``$`` outside classes (line
    anchors there, text anchors in fancy-regex; rewritten as ``\A``/``\z``). Everything else is passed through.

    >>> to_onig_regex(r"\p{N}{1,3}+|\s++$")
    '(?>\\p{N}{1,3})|\\s++\\z'
    """
    out, _ = _translate(pattern, 0, top=True)
    return out


def _translate(pattern: str, start: int, *, top: bool) -> tuple[str, int]:
    """Translate from ``start`` up to the ``)`` closing the current group (or the end); returns (text, end)."""
    atoms: list[str] = []
    i, n = start, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == ")" and not top:
            return "".join(atoms), i + 1
        if ch == "\\":
            end = _escape_end(pattern, i)
            atoms.append(pattern[i:end])
            i = end
        elif ch == "[":
            end = _class_end(pattern, i)
            atoms.append(pattern[i:end])
            i = end
        elif ch == "(":
            head_end = _group_head_end(pattern, i)
            inner, end = _translate(pattern, head_end, top=False)
            atoms.append(pattern[i:head_end] + inner + ")")
            i = end
        elif ch == "{" and atoms and (close := _counted_repeat_end(pattern, i)) is not None:
            if close < n and pattern[close] == "+":  # possessive counted repeat
                atoms[-1] = f"(?>{atoms[-1]}{pattern[i:close]})"
                i = close + 1
            else:
                atoms[-1] += pattern[i:close]
                i = close
        elif ch in "*+?" and atoms:
            atoms[-1] += ch
            i += 1
        elif ch == "^":
            atoms.append(r"\A")
            i += 1
        elif ch == "$":
            atoms.append(r"\z")
            i += 1
        else:
            atoms.append(ch)
            i += 1
    if not top:
        raise ValueError(f"unbalanced parenthesis in regex {pattern!r}")
    return "".join(atoms), i


def _escape_end(pattern: str, i: int) -> int:
    """End of the escape starting at ``pattern[i] == '\\'`` (``\\p{..}``, ``\\x{..}`` included)."""
    if i + 2 < len(pattern) and pattern[i + 1] in "pPx" and pattern[i + 2] == "{":
        return pattern.index("}", i + 2) + 1
    return min(i + 2, len(pattern))


def _class_end(pattern: str, i: int) -> int:
    """End of the character class starting at ``pattern[i] == '['`` (nested classes and escapes handled)."""
    depth, j = 0, i
    while j < len(pattern):
        ch = pattern[j]
        if ch == "\\":
            j += 2
            continue
        if ch == "[":
            depth += 1
            if pattern[j + 1:j + 2] == "^":
                j += 1
            if pattern[j + 1:j + 2] == "]":  # a leading ']' is a literal
                j += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    raise ValueError(f"unterminated character class in regex {pattern!r}")


def _group_head_end(pattern: str, i: int) -> int:
    """End of a group's opening (``(``, ``(?:``, ``(?i:``, ``(?=``, ``(?<=``, ``(?<name>``...)."""
    j = i + 1
    if pattern[j:j + 1] != "?":
        return j
    j += 1
    if pattern[j:j + 2] in ("<=", "<!"):
        return j + 2
    if pattern[j:j + 1] in ("=", "!", ">", ":"):
        return j + 1
    if pattern[j:j + 1] == "<" or pattern[j:j + 2] == "P<":
        return pattern.index(">", j) + 1
    while j < len(pattern) and (pattern[j].isalpha() or pattern[j] == "-"):
        j += 1
    return j + 1 if pattern[j:j + 1] == ":" else j  # ``(?i)`` keeps its ``)`` for the caller


def _counted_repeat_end(pattern: str, i: int) -> int | None:
    """End of ``{m}``, ``{m,}`` or ``{m,n}`` at ``i``, or None when the brace is a literal."""
    close = pattern.find("}", i)
    if close < 0:
        return None
    body = pattern[i + 1:close]
    low, _, high = body.partition(",")
    if low.isdigit() and (not high or high.isdigit()):
        return close + 1
    return None


# ----------------------------------------------------------------------------------------------------------------
# writing
def to_tiktoken(
    vocabulary: Vocabulary,
    path: str | PathLike[str] | None = None,
    *,
    allow_lossy: bool = False,
) -> tuple[dict[bytes, int], str, dict[str, int]]:
    """Export a byte-level BPE vocabulary as tiktoken ranks (rank = id), optionally writing a ``.tiktoken`` file.

    Args:
        vocabulary: a byte-level BPE vocabulary holding all 256 single bytes as normal tokens.
        path: where to write the ranks (atomically); nothing is written when None.
        allow_lossy: export even when ranks cannot hold everything (a warning lists what is dropped).

    Returns:
        ``(ranks, pattern, special_tokens)``: what ``tiktoken.Encoding(name, pat_str=pattern,
        mergeable_ranks=ranks, special_tokens=special_tokens)`` needs. The file holds only the ranks.

    Raises:
        UnsupportedAlphabetError: the alphabet is not bytes or a single byte has no normal token.
        LossyConversionError: something would be lost (listed in the message) and ``allow_lossy`` is False.

    >>> v = from_tiktoken({bytes([b]): b for b in range(256)} | {b"ab": 256})
    >>> ranks, pattern, specials = to_tiktoken(v)
    >>> ranks[b"ab"], pattern == GPT2_PATTERN, specials
    (256, True, {})
    """
    if vocabulary.alphabet.kind != "bytes":
        raise UnsupportedAlphabetError(
            f"tiktoken ranks hold byte tokens; this vocabulary has a {vocabulary.alphabet.kind} alphabet — "
            "save it with lexkit.formats.native.save (lexkit.json) instead"
        )
    ranks = {t.content: t.id for t in vocabulary.tokens if t.kind == TokenKind.NORMAL}
    missing = [b for b in range(256) if bytes([b]) not in ranks]
    if missing:
        raise UnsupportedAlphabetError(
            f"tiktoken needs a normal token for every single byte; {len(missing)} bytes have none (first: "
            f"{bytes(missing[:8])!r}), so tiktoken could not encode text containing them — export a byte-level "
            "vocabulary (trained with all 256 bytes as base symbols), or use to_hf for byte-fallback vocabularies"
        )
    pattern, lost = _pattern_and_losses(vocabulary)
    if lost:
        if not allow_lossy:
            raise LossyConversionError(
                f"tiktoken ranks cannot hold {'; '.join(lost)}; export with to_hf or save lexkit.json instead, "
                "or pass allow_lossy=True to write the ranks without them"
            )
        logger.warning("to_tiktoken drops %s (allow_lossy=True)", "; ".join(lost))
    specials = {t.text: t.id for t in vocabulary.tokens if t.kind == TokenKind.SPECIAL}
    if path is not None:
        from lexkit.atomic import atomic_write_text

        lines = [f"{base64.b64encode(content).decode('ascii')} {rank}\n"
                 for content, rank in sorted(ranks.items(), key=lambda item: item[1])]
        atomic_write_text(Path(path), "".join(lines))
    return ranks, pattern, specials


def to_tiktoken_encoding(vocabulary: Vocabulary, *, allow_lossy: bool = False) -> tiktoken.Encoding:
    """Build a ``tiktoken.Encoding`` from a vocabulary (see `to_tiktoken` for what can be exported).

    Raises:
        MissingDependencyError: tiktoken is not installed.
        UnsupportedAlphabetError, LossyConversionError: as `to_tiktoken`.
    """
    tiktoken_module: Any = require("tiktoken")
    ranks, pattern, specials = to_tiktoken(vocabulary, allow_lossy=allow_lossy)
    name = str(vocabulary.metadata.get("tiktoken", {}).get("name", "lexkit"))
    encoding: tiktoken.Encoding = tiktoken_module.Encoding(name, pat_str=pattern, mergeable_ranks=ranks,
                                                            special_tokens=specials)
    return encoding


def _pattern_and_losses(vocabulary: Vocabulary) -> tuple[str, list[str]]:
    """The tiktoken regex equivalent to the vocabulary's pipeline, and what ranks cannot hold."""
    lost: list[str] = []
    if vocabulary.model != "bpe":
        lost.append(f"the {vocabulary.model} model (tiktoken is BPE by ranks)")
    kinds: dict[str, int] = {}
    for token in vocabulary.tokens:
        if token.kind in (TokenKind.BYTE, TokenKind.UNKNOWN, TokenKind.ADDED) or (
            token.kind == TokenKind.UNUSED and token.content
        ):
            kinds[token.kind.value] = kinds.get(token.kind.value, 0) + 1
    lost += [f"{count} {kind} tokens" for kind, count in kinds.items()]
    scaffolds = sum(1 for t in vocabulary.tokens if t.scaffold)
    if scaffolds:
        lost.append(f"{scaffolds} scaffold flags")
    if any(t.score is not None for t in vocabulary.tokens):
        lost.append("token scores")
    matching = [t.id for t in vocabulary.tokens if t.kind == TokenKind.SPECIAL and t.added is not None
                and (t.added.lstrip or t.added.rstrip or t.added.single_word or t.added.normalized)]
    if matching:
        lost.append(f"the lstrip/rstrip/single_word/normalized options of special tokens {matching[:5]}")
    options = vocabulary.model_options
    for key in ("dropout", "continuing_subword_prefix", "end_of_word_suffix"):
        if options.get(key):
            lost.append(f"the BPE option {key}={options[key]!r}")
    if options.get("byte_fallback"):
        lost.append("byte_fallback")
    previous = -1
    for rank, merge in enumerate(vocabulary.merges):
        result = vocabulary.merge_result(merge)
        if result < previous:
            lost.append(
                f"the merge order (merge {rank} makes token {result} after a merge made token {previous}; "
                "tiktoken applies merges in the order of their results' ids)"
            )
            break
        previous = result
    if vocabulary.normalizer is not None:
        lost.append(f"the normalizer {vocabulary.normalizer.get('type')}")
    if vocabulary.decoder is not None and vocabulary.decoder.get("type") != "ByteLevel":
        lost.append(f"the decoder {vocabulary.decoder.get('type')} (tiktoken decodes bytes only)")
    post_processor = vocabulary.post_processor
    if post_processor is not None and _adds_tokens(post_processor):
        lost.append(f"the post-processor {post_processor.get('type')} (it adds special tokens)")
    pattern, problem = _pattern_of(vocabulary)
    if problem:
        lost.append(problem)
    return pattern, lost


def _adds_tokens(spec: JSON | None) -> bool:
    """Whether an HF post-processor adds tokens (ByteLevel and token-free templates only adjust offsets)."""
    if spec is None:
        return False
    kind = spec.get("type")
    if kind == "Sequence":
        return any(_adds_tokens(child) for child in spec.get("processors", []))
    if kind == "TemplateProcessing":
        return any("SpecialToken" in item for key in ("single", "pair") for item in spec.get(key, []))
    return kind != "ByteLevel"


def _pattern_of(vocabulary: Vocabulary) -> tuple[str, str | None]:
    """(tiktoken regex, None) for byte-level pipelines; (GPT-2's regex, what is lost) otherwise."""
    spec = vocabulary.pre_tokenizer
    steps = spec.get("pretokenizers", []) if spec and spec.get("type") == "Sequence" else [spec] if spec else []
    recorded = vocabulary.metadata.get("tiktoken", {}).get("pattern")
    if (len(steps) == 2 and steps[0].get("type") == "Split" and steps[1].get("type") == "ByteLevel"
            and "Regex" in steps[0].get("pattern", {}) and steps[0].get("behavior") == "Isolated"
            and not steps[0].get("invert") and not steps[1].get("add_prefix_space")
            and not steps[1].get("use_regex", True)):
        regex = steps[0]["pattern"]["Regex"]
        if isinstance(recorded, str) and to_onig_regex(recorded) == regex:
            return recorded, None
        # subtle: fancy-regex also reads atomic groups and \A/\z, so the HF spelling is valid for tiktoken.
        return regex, None
    if len(steps) == 1 and steps[0].get("type") == "ByteLevel" and steps[0].get("use_regex", True):
        if steps[0].get("add_prefix_space"):
            return GPT2_PATTERN, "the ByteLevel pre-tokenizer's add_prefix_space=True"
        return GPT2_PATTERN, None
    kinds = [s.get("type") for s in steps] or ["none"]
    return GPT2_PATTERN, (
        f"the pre-tokenizer {'+'.join(map(str, kinds))} (tiktoken needs one regex split followed by byte-level "
        "mapping)"
    )
