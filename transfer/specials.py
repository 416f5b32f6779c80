"""Special tokens across a tokenizer swap: carried over by role, and the chat template checked against them.

A target tokenizer may bring no special tokens at all (a bare ``.tiktoken`` ranks file), so the swapped model
would have no end token to stop generating at and a chat template whose ``<|im_start|>`` the new tokenizer splits
into ordinary pieces. `carry_specials` gives the target, for every role (bos, eos, pad, unk, mask) it lacks, the
source's token for that role, and, when the source's chat template will be kept, the source specials the template
writes; the target's own specials always win. Carried tokens are appended as special added tokens; anchor
matching then copies their source rows (same role or same special text). `check_chat_template` reports every
special-looking literal of the template that the new tokenizer does not encode as one token.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lexkit.transfer.tokenizer import ROLES, TransferTokenizer
from lexkit.vocabulary import TokenKind

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["CarriedSpecials", "special_texts", "carry_specials", "template_literals", "check_chat_template"]

# Conventional special-token spellings found in chat templates: <|im_start|>, <|eot_id|>, <|start_header_id|>...
_SPECIAL_LOOKING = re.compile(r"<\|[^<>|\s]{1,64}\|>")


@dataclass(frozen=True)
class CarriedSpecials:
    """What `carry_specials` added to the target tokenizer.

    Attributes:
        roles: role -> text of the source token carried for a role the target lacked.
        extra: texts of source specials carried because the kept chat template writes them.
        ids: text -> id of every carried token in the extended target.
    """

    roles: dict[str, str] = field(default_factory=dict)
    extra: tuple[str, ...] = ()
    ids: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """The ``special_tokens`` entry of the transplant report."""
        return {"carried_roles": self.roles, "carried_extra": list(self.extra), "ids": self.ids}


def special_texts(side: TransferTokenizer) -> list[str]:
    """Texts of a tokenizer's special, unknown and special added tokens, in id order."""
    kinds = (TokenKind.SPECIAL, TokenKind.UNKNOWN)
    texts = [t.text for t in side.vocabulary.tokens if t.kind in kinds]
    return texts + [t for t in _hf_specials(side) if t not in texts]


def _hf_specials(side: TransferTokenizer) -> list[str]:
    if side._hf is None:
        return []
    return [str(t) for t in side._hf.all_special_tokens]


def carry_specials(source: TransferTokenizer, target: TransferTokenizer) -> tuple[TransferTokenizer, CarriedSpecials]:
    """The target, extended with the source's special tokens for the roles (and chat template) it lacks.

    Args:
        source: the model's own tokenizer.
        target: the tokenizer being switched to.

    Returns:
        ``(side, carried)``: the target unchanged when nothing was missing, else a new transfer tokenizer whose transformers
        tokenizer (a copy; the caller's is not modified) holds the carried tokens with their roles, and the
        source's chat template when the target had none.
    """
    roles = {role: source.vocabulary.tokens[source.roles[role]].text
             for role in ROLES if role in source.roles and role not in target.roles}
    template = target.chat_template or source.chat_template
    extra: list[str] = []
    if target.chat_template is None and template is not None:
        have = set(special_texts(target)) | set(roles.values())
        extra = [t for t in special_texts(source) if t in template and t not in have]
    if not roles and not extra:
        return target, CarriedSpecials()
    from tokenizers import AddedToken

    hf = copy.deepcopy(target.hf)
    request: dict[str, object] = {f"{role}_token": AddedToken(text, special=True, normalized=False)
                                  for role, text in roles.items()}
    if extra:
        request["extra_special_tokens"] = [AddedToken(t, special=True, normalized=False) for t in extra]
    hf.add_special_tokens(request, replace_extra_special_tokens=False)  # type: ignore[arg-type]
    if hf.chat_template is None and template is not None:
        hf.chat_template = template
    extended = TransferTokenizer._from_hf(hf)
    ids = {text: int(hf.convert_tokens_to_ids(text)) for text in [*dict.fromkeys(roles.values()), *extra]}
    return extended, CarriedSpecials(roles, tuple(extra), ids)


def template_literals(template: str, specials: list[str]) -> list[str]:
    """Special-token literals a chat template writes: known special texts it contains, and ``<|...|>`` spellings."""
    found = [t for t in specials if t and t in template]
    return list(dict.fromkeys(found + _SPECIAL_LOOKING.findall(template)))


def check_chat_template(tokenizer: PreTrainedTokenizerBase, source: TransferTokenizer) -> list[str]:
    """Special-token literals of the tokenizer's chat template that it splits into pieces, as ``'<|x|>' (n tokens)``.

    Args:
        tokenizer: the transformers tokenizer that will be saved, holding the template it will be saved with.
        source: the source tokenizer (its specials are the literals a copied template is likely to write).

    Returns:
        Problems, empty when every literal encodes to exactly one token (or there is no template).
    """
    template = getattr(tokenizer, "chat_template", None)
    if not isinstance(template, str):
        return []
    problems = []
    for literal in template_literals(template, special_texts(source) + [str(t) for t in tokenizer.all_special_tokens]):
        ids = tokenizer(literal, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            problems.append(f"{literal!r} ({len(ids)} tokens)")
    return problems
