"""Fixtures shared by the sticky-token tests: a tiny BERT checkpoint folder, its tokenizer, real sentences."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from lexkit import Tokenizer
from lexkit.analysis.sticky import split_sentences
from lexkit.embedded import prose_documents

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@pytest.fixture(scope="session")
def make_tiny_bert(tmp_path_factory) -> Callable[..., Path]:
    """Build a tiny BERT-style checkpoint folder from WordPiece ``pieces`` (the specials come first): a 2-layer
    BertModel with mean pooling and normalization (sentence-transformers files); ``pair`` adds a pair template."""

    def build(pieces: Sequence[str], *, pair: bool = False) -> Path:
        import torch
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, normalizers, pre_tokenizers, processors
        from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

        folder = tmp_path_factory.mktemp("tiny-bert")
        vocab = {piece: i for i, piece in enumerate(dict.fromkeys([*SPECIALS, *pieces]))}
        hf = HFTokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
        hf.normalizer = normalizers.BertNormalizer(lowercase=True)
        hf.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        hf.decoder = decoders.WordPiece()
        templates = {"single": "[CLS] $A [SEP]", **({"pair": "[CLS] $A [SEP] $B:1 [SEP]:1"} if pair else {})}
        hf.post_processor = processors.TemplateProcessing(
            **templates, special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
        hf.add_special_tokens(SPECIALS)
        fast = PreTrainedTokenizerFast(tokenizer_object=hf, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                       sep_token="[SEP]", mask_token="[MASK]", model_max_length=128)
        fast.save_pretrained(folder)
        torch.manual_seed(0)
        config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=128,
                            initializer_range=0.5)  # less anisotropic than the default: pairs fall below mu
        BertModel(config).eval().save_pretrained(folder)
        (folder / "modules.json").write_text(json.dumps([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]))
        (folder / "1_Pooling").mkdir()
        (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
        return folder

    return build


@pytest.fixture(scope="module")
def tokenizer(hf_folder):
    """The lexkit tokenizer of the test module's ``hf_folder``."""
    return Tokenizer.load(hf_folder / "tokenizer.json")


@pytest.fixture(scope="module")
def sentences():
    """Prose sentences from the embedded real documents."""
    return split_sentences("\n\n".join(prose_documents()))
