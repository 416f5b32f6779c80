"""``lexkit morph build-lexicon`` and ``lexkit train morph``: happy path and error paths."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from lexkit import Tokenizer
from lexkit.cli.main import main

AFF = "SET UTF-8\nFLAG num\n\nSFX 1 N 1\nSFX 1 0 lar .\n\nSFX 2 N 1\nSFX 2 0 ı .\n\nSFX 3 N 1\nSFX 3 0 ler .\n\n" \
      "SFX 4 N 1\nSFX 4 0 de .\n\nSFX 5 N 1\nSFX 5 0 da .\n"
DIC = "6\nkitap/1\nkitabı\nev/3,4\nadam/1,2,5\nAnkara/5\nve\n"


def run(*args: str) -> object:
    return CliRunner().invoke(main, list(args))


def test_build_lexicon_train_encode_decode(tmp_path: Path) -> None:
    (tmp_path / "t.aff").write_text(AFF, encoding="utf-8")
    (tmp_path / "t.dic").write_text(DIC, encoding="utf-8")
    lexicon = tmp_path / "lex.json"
    result = run("morph", "build-lexicon", "--dic", str(tmp_path / "t.dic"), "--aff", str(tmp_path / "t.aff"),
                 "-o", str(lexicon), "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert stats["roots"] == 4 and stats["roots_with_variants"] == 1  # kitap/kitab attested by "kitabı"
    names = {a["name"] for a in json.loads(lexicon.read_text(encoding="utf-8"))["affixes"]}
    assert {"lAr", "DA"} <= names
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("Kitabı evde okudum ve adamlar Ankara'da.\n" * 20, encoding="utf-8")
    out = tmp_path / "tok"
    result = run("train", "morph", "--lexicon", str(lexicon), "--vocab-size", "400", "-o", str(out),
                 "--no-progress", "--workers", "1", str(corpus))
    assert result.exit_code == 0, result.output
    assert (out / "lexkit.json").exists() and not (out / "tokenizer.json").exists()
    tokenizer = Tokenizer.load(out)
    assert tokenizer.encoder_name == "morph"
    text = "Adamlar kitabı evlerde okudu."
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_errors(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("ev\n", encoding="utf-8")
    result = run("train", "morph", "--vocab-size", "400", "-o", str(tmp_path / "o"), str(corpus))
    assert result.exit_code == 1 and "needs --lexicon" in result.output
    result = run("train", "bpe", "--lexicon", str(corpus), "--vocab-size", "400", "-o",
                 str(tmp_path / "o"), str(corpus))
    assert result.exit_code == 1 and "--lexicon is not an option of `lexkit train bpe`; it belongs to `lexkit train morph`" in result.output
    result = run("train", "morph", "--lexicon", str(corpus), "--vocab-size", "400", "-o",
                 str(tmp_path / "o"), str(corpus))
    assert result.exit_code == 1 and "not a UTF-8 JSON lexicon" in result.output
    result = run("morph", "build-lexicon", "--dic", str(tmp_path / "none.dic"), "--aff", str(tmp_path / "none.aff"),
                 "-o", str(tmp_path / "l.json"))
    assert result.exit_code == 1 and "no such hunspell file" in result.output
    assert not (tmp_path / "o").exists() and not (tmp_path / "l.json").exists()
