"""Special-token roles: the vocabulary's one role table matches each real tokenizer's own configuration.

The roles a `Vocabulary` infers from token names (`Vocabulary.special_roles`) must equal the roles the tokenizer's
own configuration gives: transformers' ``bos_token``/``eos_token``/... for GPT-2 (its tokenizer class defaults),
Llama-3 (``tokenizer_config.json``) and BERT (all-MiniLM-L6-v2's ``tokenizer_config.json``), and the
sentencepiece trainer spec (``bos_id``/``eos_id``/``unk_id``/``pad_id``) for Mistral.
"""

from __future__ import annotations

from collections.abc import Callable

import _resources
import pytest

from lexkit import Tokenizer, Vocabulary
from lexkit.formats.hf import from_hf
from lexkit.formats.sentencepiece import from_sentencepiece
from lexkit.vocabulary import SPECIAL_ROLES, SpecialRoles, Token, TokenKind


def _hf_roles(tokenizer: object) -> dict[str, int]:
    """Role -> id as a transformers tokenizer's configuration sets them."""
    roles = {}
    for role in SPECIAL_ROLES:
        token = getattr(tokenizer, f"{role}_token", None)
        if token is not None:
            roles[role] = int(tokenizer.convert_tokens_to_ids(str(token)))  # type: ignore[attr-defined]
    return roles


def _gpt2() -> tuple[Vocabulary, dict[str, int]]:
    from transformers import GPT2TokenizerFast

    path = _resources.gpt2_tokenizer_json()
    return from_hf(path), _hf_roles(GPT2TokenizerFast(tokenizer_file=str(path)))


def _llama3() -> tuple[Vocabulary, dict[str, int]]:
    from transformers import AutoTokenizer

    path = _resources.llama3_tokenizer_json()
    _resources.fixture_path("llama3", "tokenizer_config.json")
    return from_hf(path), _hf_roles(AutoTokenizer.from_pretrained(str(path.parent)))


def _bert() -> tuple[Vocabulary, dict[str, int]]:
    from transformers import AutoTokenizer

    folder = _resources.minilm_dir()
    return from_hf(folder / "tokenizer.json"), _hf_roles(AutoTokenizer.from_pretrained(str(folder)))


def _mistral() -> tuple[Vocabulary, dict[str, int]]:
    import sentencepiece as spm

    path = _resources.mistral_sp_model()
    processor = spm.SentencePieceProcessor(model_file=str(path))
    ids = {"bos": processor.bos_id(), "eos": processor.eos_id(), "unk": processor.unk_id(),
           "pad": processor.pad_id()}
    return from_sentencepiece(path), {role: i for role, i in ids.items() if i >= 0}


REAL: dict[str, Callable[[], tuple[Vocabulary, dict[str, int]]]] = {
    "gpt2": _gpt2, "llama3": _llama3, "bert": _bert, "mistral": _mistral}
# What each configuration says, written out so that a loader that loses every role cannot pass by agreeing.
EXPECTED = {
    "gpt2": {"bos": "<|endoftext|>", "eos": "<|endoftext|>", "unk": "<|endoftext|>"},
    "llama3": {"bos": "<|begin_of_text|>", "eos": "<|end_of_text|>"},
    "bert": {"unk": "[UNK]", "sep": "[SEP]", "pad": "[PAD]", "cls": "[CLS]", "mask": "[MASK]"},
    "mistral": {"bos": "<s>", "eos": "</s>", "unk": "<unk>"},
}


@pytest.mark.parametrize("name", list(REAL))
def test_roles_match_the_tokenizers_own_configuration(name):
    vocabulary, configured = REAL[name]()
    roles = vocabulary.special_roles()
    assert roles.ids == configured
    assert {role: vocabulary.tokens[i].text for role, i in roles.ids.items()} == EXPECTED[name]


def test_gpt2_endoftext_plays_bos_eos_and_unk():
    vocabulary, _ = _gpt2()
    eot = vocabulary.special_tokens["<|endoftext|>"]
    roles = vocabulary.special_roles()
    assert roles.roles_of(eot) == ("bos", "eos", "unk")
    assert roles.select(["bos"]) == roles.select(["unk"]) == {eot}
    assert roles.select(["additional"]) == set()


def test_unnamed_specials_are_additional_and_unknown_kind_is_unk():
    tokens = [Token(0, b"<|im_start|>", TokenKind.SPECIAL), Token(1, b"<oov>", TokenKind.UNKNOWN),
              Token(2, b"[CLS]", TokenKind.SPECIAL)] + [Token(3 + b, bytes([b])) for b in range(256)]
    roles = Vocabulary(tuple(tokens)).special_roles()
    assert roles == SpecialRoles({0: (), 1: ("unk",), 2: ("cls",)})
    assert roles.select(["additional"]) == {0} and roles.select(["unk", "cls"]) == {1, 2}
    assert roles.ids == {"unk": 1, "cls": 2} and roles.roles_of(5) == ()



@pytest.mark.parametrize("name", list(REAL))
def test_sticky_and_transfer_read_the_same_roles(name):
    from lexkit.analysis.sticky import special_ids
    from lexkit.transfer.tokenizer import ROLES, TransferTokenizer

    vocabulary, _ = REAL[name]()
    side = TransferTokenizer.from_any(vocabulary)
    tokenizer = Tokenizer(vocabulary)
    for role in ROLES:
        expected = {side.roles[role]} if role in side.roles else set()
        assert special_ids(tokenizer, [role]) == expected, role
    # the bug this table fixed: sticky treated GPT-2's <|endoftext|> as eos only, transfer as bos, eos and unk
    if name == "gpt2":
        assert special_ids(tokenizer, ["bos"]) == special_ids(tokenizer, ["unk"]) == {side.roles["eos"]}
