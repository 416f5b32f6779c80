"""Sticky-token detection: kernels, token filtering, pair selection, a planted sticky token, determinism,
the transformers embedder on a tiny BertModel, bad input, rendering and the downstream check."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import asdict, replace

import numpy as np
import pytest
from click.testing import CliRunner

from lexkit import LexkitError, Tokenizer
from lexkit.analysis.sticky import (
    Category,
    SentencePair,
    StickyConfig,
    StickyTokenDetector,
    categorize,
    distances,
    draw_positions,
    final_cut,
    insertion_texts,
    pair_mode_scores,
    pick_below_mean,
    raw_vocab_strings,
    shortlist_threshold,
    split_sentences,
    spread_pairs,
    verification_successes,
)
from lexkit.analysis.sticky.downstream import RetrievalTask, downstream_check, retrieval_scores
from lexkit.analysis.sticky.render import render_html, render_markdown, to_json
from lexkit.cli.main import main
from lexkit.cli.sticky import sticky
from lexkit.embedded import prose_documents
from lexkit.embedders import TransformersEmbedder, check_model_folder

WORDS = ("the of and to a in is that for it as with be on by this are or an not from at which can if you "
         "will function value object class name type module return list string file python data used when "
         "any other all has have new only use also may one two set each must code method attribute "
         "statement expression zebra").split()
PLANTED = "="  # punctuation: BERT pre-tokenization splits it off even when repeats are glued


@pytest.fixture(scope="module")
def hf_folder(make_tiny_bert):
    """A tiny BERT-style checkpoint folder: WordPiece tokenizer (~190 tokens) and a 2-layer BertModel."""
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    pieces = ["[unused0]", "[unused1]"] + list(".,;:!?'()-\"`*=_/0123456789") + letters
    pieces += ["##" + c for c in letters + list("0123456789")] + WORDS + ["##ing", "##ed", "##s"]
    return make_tiny_bert(pieces, pair=True)


class BagEmbedder:
    """A bag-of-tokens embedder over lexkit's encoding with a real model's anisotropy: short texts collapse
    toward a shared centre c (so the single-token mean similarity μ is high) while sentences spread out.
    Each occurrence of the planted token adds a fixed pull toward c, so inserting it drags any text to
    the centre: a sticky token. Other tokens only add noise."""

    def __init__(self, tokenizer: Tokenizer, planted: str = PLANTED, dim: int = 24) -> None:
        rng = np.random.default_rng(7)
        self.tokenizer = tokenizer
        self.centre = rng.normal(size=dim)
        self.centre /= np.linalg.norm(self.centre)
        self.table = rng.normal(size=(len(tokenizer.vocabulary), dim)) / np.sqrt(dim)
        self.planted = tokenizer.vocabulary.id_of(planted.encode())
        self.table[self.planted] = 0.0
        self.calls: list[int] = []

    def encode(self, texts):
        self.calls.append(len(texts))
        out = []
        for text in texts:
            ids = self.tokenizer.encode(text, allowed_special="all") or [1]
            pull = 0.3 + 2.0 / len(ids) + 0.5 * ids.count(self.planted)
            out.append(self.table[ids].mean(0) + pull * self.centre)
        vectors = np.stack(out)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


FAST = StickyConfig(sentences=80, scoring_pairs=3, verification_pairs=24, insertions=4, chunk_tokens=16,
                    shortlist_percentile=90.0, pair_range=0.5)  # 13 candidates of ~125 tokens


# -- kernels ------------------------------------------------------------------------------------------------
def test_score_formula_matches_hand_computation():
    # d0 = 0.9, d = 0.8, 0.85, 0.6 -> steps -0.1, +0.05, -0.25: F = 0.35, nF = 2, R = 0.05, nR = 1
    score = pair_mode_scores(np.array(0.9), np.array([0.8, 0.85, 0.6]), np.array(0.7), alpha=0.1, beta=0.05,
                             gamma=0.01)
    assert score == pytest.approx((0.35 + 0.1 * 2 + 0.1 * 0.7) / (0.05 + 0.05 * 1 + 0.01))
    flat = pair_mode_scores(np.array(0.5), np.array([0.5, 0.5]), np.array(0.0), alpha=1, beta=0.5, gamma=0.1)
    assert flat == pytest.approx(0.0)


def test_distances_of_hand_vectors():
    d = distances(np.array([1.0, 0.0]), np.array([[0.0, 1.0], [1.0, 0.0]]))
    assert d["cos"] == pytest.approx([1.0, 0.0])
    assert d["euc"] == pytest.approx([np.sqrt(2), 0.0])
    assert d["man"] == pytest.approx([2.0, 0.0])


def test_verification_weights_and_final_cut_on_synthetic_values():
    d0 = np.array([0.5, 0.5])
    d = np.array([[0.4, 0.5], [0.6, 0.5]])  # mean 0.45 (success) and 0.55 (failure)
    assert verification_successes(d0, d).tolist() == [True, False]
    values = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.99]
    cut = final_cut(values, 0.7)
    assert (cut.q1, cut.q3) == pytest.approx((0.3, 0.7))
    assert cut.cut == pytest.approx(0.7 + 0.7 * 0.4)
    assert [v for v in values if v > cut.cut] == [0.99]
    assert shortlist_threshold(list(range(101)), 98.0) == pytest.approx(98.0)
    with pytest.raises(LexkitError, match="no candidate"):
        final_cut([])


def test_insertion_texts_keep_the_no_separator_quirk():
    texts = insertion_texts("cat", "the man runs", [0, 4], separator="")
    assert texts["prefix"] == ["catthe man runs", "catcatthe man runs"]
    assert texts["suffix"] == ["the man runscat", "the man runscatcat"]
    assert texts["random"] == ["cat the man runs", "cat the man runs cat"]
    spaced = insertion_texts(" cat", "the man", [1], separator="")
    assert spaced["prefix"] == [" catthe man"]  # SentencePiece strings keep their leading space
    assert insertion_texts("cat", "a b", [1], separator=" ")["prefix"] == ["cat a b"]


def test_random_positions_cover_the_growing_sentence():
    rng = random.Random(0)
    for _ in range(200):
        positions = draw_positions(rng, "one two three", 5)
        assert all(0 <= p <= 3 + k for k, p in enumerate(positions))


def test_pair_selection_nearest_target_with_repeats_and_range():
    pairs = [SentencePair(f"a{i}", f"b{i}", s) for i, s in enumerate([-0.5, -0.45, 0.0, 0.1, 0.3, 0.9])]
    chosen, low, high = pick_below_mean(pairs, 0.2, 5, pair_range=0.8)
    assert low == -0.5 and high == pytest.approx(-0.5 + 0.8 * 0.7)
    assert all(p.similarity <= high for p in chosen)
    assert [p.similarity for p in chosen] == [-0.5, -0.45, 0.0, 0.0, 0.0]  # targets -0.5 .. 0.06; repeats
    distinct, _, _ = pick_below_mean(pairs, 0.2, 5, allow_repeats=False)
    assert len({p.s1 for p in distinct}) == len(distinct) == 3  # three pairs in range, no repeats
    with pytest.raises(LexkitError, match="below the mean"):
        pick_below_mean(pairs, -0.9, 3)


def test_spread_pairs_are_distinct_and_cover_the_range():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(30, 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = vectors @ vectors.T
    chosen = spread_pairs(sims, 50)
    assert len({(i, j) for i, j, _ in chosen}) == 50 and all(i < j for i, j, _ in chosen)
    upper = sims[np.triu_indices(30, 1)]
    assert chosen[0][2] == pytest.approx(upper.min()) and chosen[-1][2] == pytest.approx(upper.max())


# -- token filtering ----------------------------------------------------------------------------------------
def test_categories_on_a_wordpiece_vocabulary(tokenizer):
    infos = categorize(tokenizer)
    vocab = tokenizer.vocabulary
    by_piece = {piece: infos[vocab.special_tokens.get(piece, vocab.id_of(piece.encode()))] for piece in ("the", "##ing", "[unused0]", "[SEP]",
                                                                         "[CLS]", "[PAD]", "7")}
    assert by_piece["the"].category is Category.OK and by_piece["the"].kind == "word"
    # HF's WordPiece decoder keeps '##' on a lone token; re-encoding '##ing' gives '#', '#', 'ing'.
    assert by_piece["##ing"].text == "##ing"
    assert by_piece["##ing"].category is Category.UNREACHABLE_MULTI_TOKEN and by_piece["##ing"].kind == "fragment"
    assert by_piece["[unused0]"].category is Category.UNREACHABLE_SPECIAL and by_piece["[unused0]"].kind == "unused"
    assert by_piece["[SEP]"].category is Category.OK_SPECIAL and by_piece["[SEP]"].kind == "special"
    assert by_piece["[CLS]"].category is Category.OK  # the authors' special list leaves out cls
    assert by_piece["[PAD]"].category is Category.OK_SPECIAL
    assert by_piece["7"].category is Category.OK and by_piece["7"].kind == "fragment"
    cls_id = vocab.special_tokens["[CLS]"]
    assert infos[cls_id].raw == "[CLS]" and by_piece["##ing"].raw == "##ing"
    with_cls = categorize(tokenizer, special_roles=("cls", "sep"))
    assert with_cls[cls_id].category is Category.OK_SPECIAL
    assert with_cls[vocab.special_tokens["[PAD]"]].category is Category.OK


def test_meaningless_and_undecodeable_rules():
    from lexkit.analysis.sticky.categories import _category

    assert _category(5, "  ", [], set()) is Category.MEANINGLESS
    assert _category(5, "a\ufffd", [9, 10], set()) is Category.UNDECODEABLE
    assert _category(5, "ab", [9], set()) is Category.UNREACHABLE_SINGLE_TOKEN


def test_sentencepiece_style_tokenizer_keeps_the_leading_space(tmp_path):
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers

    pieces = ["<unk>", "<s>", "</s>", "\u2581the", "\u2581cat", "\u2581", "t", "h", "e", "c", "a", "\u00ab",
              "\u2581\u00ab", "s", "\u2581test"]
    hf = HFTokenizer(models.Unigram([(p, -1.0 if p.startswith("\u2581") else -3.0) for p in pieces], unk_id=0))
    hf.pre_tokenizer = pre_tokenizers.Metaspace()
    hf.decoder = decoders.Metaspace()
    hf.add_special_tokens(["<unk>", "<s>", "</s>"])
    hf.save(str(tmp_path / "tokenizer.json"))
    tok = Tokenizer.load(tmp_path / "tokenizer.json")
    infos = categorize(tok)
    cat = infos[tok.vocabulary.id_of(b" cat")]
    assert cat.text == " cat" and cat.category is Category.OK and cat.kind == "word"
    assert infos[tok.vocabulary.id_of(b"t")].kind == "fragment"  # not word-initial


# -- the detector -------------------------------------------------------------------------------------------
def test_planted_sticky_token_is_found_first(tokenizer, sentences):
    detector = StickyTokenDetector(BagEmbedder(tokenizer), tokenizer, FAST, progress=False)
    report = detector.run(sentences=sentences, source="embedded prose")
    assert report.final and report.final[0].token == PLANTED and report.final[0].rank == 1
    assert report.final[0].verification["cos"] > report.cut.cut
    assert report.scored == sum(1 for t in detector.categorize_tokens().values() if t.category.scored)
    assert len(report.candidates) == sum(1 for e in report.candidates if e.score >= report.threshold)
    assert report.pairs["scoring"] == 3 and report.pairs["verification"] == 24 and not report.pairs["comparable"]


def _strip(report):
    data = asdict(report)
    data.pop("timings")
    data.pop("estimate")  # measured wall time of the first batch, like timings
    return data


def test_same_seed_same_report_and_chunking_does_not_matter(tokenizer, sentences):
    first = StickyTokenDetector(BagEmbedder(tokenizer), tokenizer, FAST, progress=False).run(sentences=sentences)
    again = StickyTokenDetector(BagEmbedder(tokenizer), tokenizer, replace(FAST, chunk_tokens=5),
                                progress=False).run(sentences=sentences)
    again.config["chunk_tokens"] = FAST.chunk_tokens
    assert _strip(first) == _strip(again)
    other_seed = StickyTokenDetector(BagEmbedder(tokenizer), tokenizer, replace(FAST, seed=1),
                                     progress=False).run(sentences=sentences)
    assert _strip(other_seed) != _strip(first)


def test_per_token_seed_scope_does_not_depend_on_the_other_tokens(tokenizer, sentences):
    config = replace(FAST, seed_scope="per_token")
    detector = StickyTokenDetector(BagEmbedder(tokenizer), tokenizer, config, progress=False)
    pairs = detector.select_pairs(mean=detector.mean_similarity().mean, sentences=sentences).scoring
    tokens = detector.scorable_tokens()
    together = detector.score(tokens, pairs)
    alone = detector.score(tokens[-1:], pairs)
    reversed_order = detector.score(tokens[::-1][:10], pairs)
    assert together[tokens[-1].token_id] == alone[tokens[-1].token_id]
    assert all(together[t.token_id] == reversed_order[t.token_id] for t in tokens[::-1][:10])


def test_batched_scores_equal_the_plain_loop(tokenizer, sentences):
    """The chunked, de-duplicated engine gives the plain per-token loop's numbers (the sticky score)."""
    config = replace(FAST, seed_scope="per_token")
    embedder = BagEmbedder(tokenizer)
    detector = StickyTokenDetector(embedder, tokenizer, config, progress=False)
    pair_sets = detector.select_pairs(mean=detector.mean_similarity().mean, sentences=sentences)
    tokens = detector.scorable_tokens()[40:46]
    scores = detector.score(tokens, pair_sets.scoring)
    verified = detector.verify(tokens, pair_sets.verification)

    def e(text):
        return embedder.encode([text])[0]

    for token in tokens:
        for stage, pairs in (("score", pair_sets.scoring), ("verify", pair_sets.verification)):
            rng = random.Random(f"{config.seed}/{stage}/{token.token_id}")
            total, success = 0.0, 0.0
            for pair in pairs:
                texts = insertion_texts(token.text, pair.s2, draw_positions(rng, pair.s2, config.insertions))
                d0 = distances(e(pair.s1), e(pair.s2))["cos"]
                tok = distances(e(pair.s1), e(token.text))["cos"]
                for m, mode in enumerate(("prefix", "suffix", "random")):
                    d = np.array([distances(e(pair.s1), e(t))["cos"] for t in texts[mode]])
                    total += config.score_weights[m] * pair_mode_scores(d0, d, tok, alpha=0.1, beta=0.05, gamma=0.01)
                    success += config.mode_weights[m] * bool(d.mean() - d0 < 0)
            if stage == "score":
                assert scores[token.token_id].cos == pytest.approx(total / len(pairs), rel=1e-6)
            else:
                assert verified[token.token_id].cos == pytest.approx(success / len(pairs), rel=1e-9)


def test_verification_embeds_repeated_pairs_once(tokenizer, sentences):
    embedder = BagEmbedder(tokenizer)
    detector = StickyTokenDetector(embedder, tokenizer, FAST, progress=False)
    pair_sets = detector.select_pairs(mean=detector.mean_similarity().mean, sentences=sentences)
    distinct = len(set(pair_sets.verification))
    assert distinct < len(pair_sets.verification)  # nearest-target selection repeats pairs
    token = detector.scorable_tokens()[50]
    embedder.calls.clear()
    detector.verify([token], pair_sets.verification)
    k = FAST.insertions
    assert embedder.calls[-1] <= distinct * 2 * k + len(pair_sets.verification) * k


def test_checkpoint_resumes_without_recomputing(tokenizer, sentences, tmp_path):
    embedder = BagEmbedder(tokenizer)
    config = replace(FAST, seed_scope="per_token", max_tokens=30)
    detector = StickyTokenDetector(embedder, tokenizer, config, progress=False)
    pairs = detector.select_pairs(mean=detector.mean_similarity().mean, sentences=sentences).scoring
    tokens = detector.scorable_tokens()
    first = detector.score(tokens[:20], pairs, checkpoint=tmp_path / "s.jsonl")
    embedder.calls.clear()
    resumed = detector.score(tokens, pairs, checkpoint=tmp_path / "s.jsonl")
    assert {k: resumed[k] for k in first} == first
    assert sum(embedder.calls) < 30 * 3 * 3 * 4  # only the ten new tokens were embedded (plus E(t) alone)


def test_mu_sample_embeds_a_seeded_subset_of_the_vocabulary(tokenizer):
    raw = raw_vocab_strings(tokenizer)
    full = StickyTokenDetector(BagEmbedder(tokenizer), tokenizer, FAST, raw_vocab=raw, progress=False)
    quick = [StickyTokenDetector(BagEmbedder(tokenizer), tokenizer, replace(FAST, mu_sample=50), raw_vocab=raw,
                                 progress=False) for _ in range(2)]
    everything, sampled, again = full.mean_similarity(), quick[0].mean_similarity(), quick[1].mean_similarity()
    assert everything.count == len(raw) and sampled.count == quick[0].texts_embedded["mu"] == 50
    assert sampled == again and sampled.mean != everything.mean
    assert StickyTokenDetector(BagEmbedder(tokenizer), tokenizer, replace(FAST, mu_sample=10_000), raw_vocab=raw,
                               progress=False).mean_similarity() == everything  # a sample >= the vocabulary: all


def test_config_validation():
    with pytest.raises(LexkitError, match="scoring_pairs"):
        StickyConfig(scoring_pairs=0)
    with pytest.raises(LexkitError, match="mu_sample"):
        StickyConfig(mu_sample=0)
    with pytest.raises(LexkitError, match="seed_scope"):
        StickyConfig(seed_scope="thread")  # type: ignore[arg-type]


# -- the transformers embedder, bad input, CLI -------------------------------------------------------------
def test_transformers_embedder_matches_mean_pooling_and_runs_the_pipeline(hf_folder, tokenizer, sentences):
    import torch
    from transformers import AutoModel, AutoTokenizer

    embedder = TransformersEmbedder(hf_folder, device="cpu")
    assert (embedder.settings.pooling, embedder.settings.normalize) == ("mean", True)
    texts = ["the cat sat on the mat.", "zebra zebra", "a", "the cat sat on the mat."]
    hf_tok, model = AutoTokenizer.from_pretrained(hf_folder), AutoModel.from_pretrained(hf_folder).eval()
    batch = hf_tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        states = model(**batch).last_hidden_state
    mask = batch["attention_mask"][..., None]
    expected = torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1), dim=1).numpy()
    assert np.allclose(embedder.encode(texts), expected, atol=1e-5)
    config = replace(FAST, max_tokens=25, verification_pairs=6, insertions=3)
    report = StickyTokenDetector(embedder, tokenizer, config, raw_vocab=embedder.base_vocab_strings(),
                                 progress=False).run(sentences=sentences[:300])
    assert report.scored == 25 and report.candidates and report.mean_similarity.count == len(tokenizer.vocabulary)


def test_bad_model_folders_give_one_line_errors(hf_folder, tmp_path):
    causal = tmp_path / "gpt"
    causal.mkdir()
    (causal / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}))
    (causal / "tokenizer.json").write_text("{}")
    with pytest.raises(LexkitError, match="generative model .*GPT2LMHeadModel.*embedding model") as caught:
        check_model_folder(causal)
    assert str(causal) in str(caught.value) and "\n" not in str(caught.value)
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text((hf_folder / "config.json").read_text())
    with pytest.raises(LexkitError, match="has no tokenizer .*save_pretrained"):
        check_model_folder(bare)
    with pytest.raises(LexkitError, match="no such model folder"):
        check_model_folder(tmp_path / "missing")
    with pytest.raises(LexkitError, match="no config.json"):
        check_model_folder(tmp_path)
    main.add_command(sticky)
    result = CliRunner().invoke(main, ["sticky", "--model", str(causal), "-o", str(tmp_path / "r.json")])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output.startswith("lexkit: error: ") and "generative model" in result.output
    assert not (tmp_path / "r.json").exists()


def test_cli_writes_json_and_markdown(hf_folder, tmp_path):
    main.add_command(sticky)
    sentences = tmp_path / "s.txt"
    sentences.write_text("\n".join(split_sentences("\n\n".join(prose_documents()))[:200]), encoding="utf-8")
    common = ["sticky", "--model", str(hf_folder), "--sentences", str(sentences), "--max-tokens", "12",
              "--scoring-pairs", "2", "--verification-pairs", "4", "--insertions", "2", "--no-progress"]
    result = CliRunner().invoke(main, [*common, "-o", str(tmp_path / "r.json"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert json.loads(result.stdout)["scored"] == data["scored"] == 12
    entry = data["candidates"][0]
    assert set(entry) == {"token_id", "token", "raw", "category", "kind", "score", "score_euclidean",
                          "score_manhattan", "verification", "rank"}
    assert set(entry["verification"]) == {"cos", "euc", "man"}
    result = CliRunner().invoke(main, [*common, "-o", str(tmp_path / "r.md")])
    assert result.exit_code == 0 and "sticky tokens of" in result.stdout
    assert (tmp_path / "r.md").read_text().startswith("### Sticky tokens of")


# -- rendering and downstream -------------------------------------------------------------------------------
def test_render_fragments(tokenizer, sentences):
    report = StickyTokenDetector(BagEmbedder(tokenizer), tokenizer, FAST, progress=False).run(sentences=sentences)
    markdown, html = render_markdown(report), render_html(report)
    assert repr(PLANTED) in markdown and "<details>" in markdown and "| rank | token |" in markdown
    assert html.startswith("<section") and f"&#x27;{PLANTED}&#x27;" in html and "<html" not in html
    assert to_json(report)["final"][0]["token"] == PLANTED and json.dumps(to_json(report))


def test_downstream_sticky_insertion_hurts_more_than_random(tokenizer, sentences):
    embedder = BagEmbedder(tokenizer)
    queries = sentences[:60]
    documents = [q + " " + sentences[100 + i] for i, q in enumerate(queries)]
    task = RetrievalTask("prose sentences", tuple(queries), tuple(documents))
    pool = [t.text for t in categorize(tokenizer).values() if t.category is Category.OK and t.kind == "word"
            and t.text != PLANTED]
    report = downstream_check(embedder, task, [PLANTED], pool, insertions=4, seed=0)
    clean, planted, rand = report.rows
    assert clean.scores.recall_at_1 > 0.5
    assert planted.recall_drop > rand.recall_drop + 0.2
    assert "| sticky |" in report.markdown()
    assert retrieval_scores(np.eye(3), np.eye(3)).recall_at_1 == 1.0


def _magikarp_category(token_id: int, text: str, reencoded: list[int], specials: set[int]) -> Category:
    """The step-4 token filtering rules of the authors' code, written out for the test: first match wins."""
    if not text.strip():
        return Category.MEANINGLESS
    if reencoded == [token_id]:
        return Category.OK_SPECIAL if token_id in specials else Category.OK
    if len(text) >= 3 and text[0] in "[<" and text[-1] in "]>" and any(c.isalpha() for c in text):
        return Category.UNREACHABLE_SPECIAL
    if "\ufffd" in text:
        return Category.UNDECODEABLE
    return Category.UNREACHABLE_SINGLE_TOKEN if len(reencoded) == 1 else Category.UNREACHABLE_MULTI_TOKEN


def _minilm_embeddings(folder, texts: list[str]) -> np.ndarray:
    """all-MiniLM-L6-v2 as its model card defines it: BERT, mean pooling over the attention mask, L2 norm."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder)).eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), model.config.hidden_size))
    with torch.inference_mode():
        for start in range(0, len(order), 128):
            rows = order[start:start + 128]
            batch = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=256,
                              return_tensors="pt")
            states = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            out[rows] = torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1), dim=1).double().numpy()
    return out


@pytest.mark.slow
def test_all_minilm_l6_v2_reduced_run():
    """The real model with reduced counts: every token's category and μ equal an independent computation with
    transformers' pure-Python BERT tokenizer and the plain model, and the pipeline runs end to end."""
    from _resources import corpus_path, minilm_dir
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    folder = minilm_dir()
    embedder = TransformersEmbedder(folder, device="cpu")
    tokenizer = Tokenizer.load(embedder.tokenizer_file)
    config = StickyConfig(sentences=200, scoring_pairs=2, verification_pairs=10, insertions=4, sample=100)
    vocab = (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert embedder.base_vocab_strings() == vocab
    detector = StickyTokenDetector(embedder, tokenizer, config, raw_vocab=vocab[:3000], progress=False,
                                   model_name="all-MiniLM-L6-v2")

    # step 4 by hand: decode each id alone with the slow tokenizer, re-encode without special tokens; the special
    # list is pad, unk, sep and mask (CLS is left out, so "[CLS]" lands in OK)
    slow = BertTokenizerLegacy(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    specials = {slow.convert_tokens_to_ids(t) for t in (slow.pad_token, slow.unk_token, slow.sep_token,
                                                         slow.mask_token)}
    expected = {}
    for token_id in range(len(vocab)):
        text = slow.decode([token_id])
        expected[token_id] = _magikarp_category(token_id, text, slow.encode(text, add_special_tokens=False),
                                                specials)
    categories = {token_id: info.category for token_id, info in detector.categorize_tokens().items()}
    assert categories == expected
    counts = Counter(expected.values())
    # magikarp's classes on a BERT vocabulary: most ids are reachable words, "##x" pieces re-encode as "#", "#",
    # "x", the [unusedN] placeholders are unreachable specials.
    assert counts[Category.OK] > 0.7 * len(vocab) and counts[Category.OK_SPECIAL] == 4
    assert counts[Category.UNREACHABLE_MULTI_TOKEN] >= sum(v.startswith("##") for v in vocab)

    # step 0 by hand: μ = the mean cosine over all ordered pairs (self-pairs included) of the strings embedded alone
    vectors = _minilm_embeddings(folder, vocab[:3000])
    total = vectors.sum(0)
    mu = float(total @ total) / len(vectors) ** 2

    with open(corpus_path(), encoding="utf-8") as handle:
        sentences = split_sentences(handle.read(1_000_000))
    report = detector.run(sentences=sentences, source="corpus_10M.txt")
    assert report.mean_similarity.mean == pytest.approx(mu, abs=1e-6)
    assert report.scored == 100 and 1 <= len(report.candidates) <= 3
    assert all(categories[c.token_id].scored for c in report.candidates)
    assert 0.0 <= report.candidates[0].verification["cos"] <= 1.0
