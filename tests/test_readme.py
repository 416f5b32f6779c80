"""The README's examples run as written, on small inputs.

Every fenced ``bash`` and ``python`` block is read; each command either runs here (in a scratch folder with a small
``corpus/`` from the embedded text and smaller vocabulary sizes) or is listed in `NOT_RUN` with the test that
covers it. A command added to the README that is in neither place fails this test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import _resources

from lexkit.embedded import prose_documents

README = Path(__file__).resolve().parents[1] / "README.md"
SMALLER = {"32000": "1200", "32768": "2048", "16000": "1000"}

# Commands this test does not run, by their first words, and where they are exercised instead.
NOT_RUN = {
    "make demo": "tests/cli/test_demo.py (lexkit demo); make itself is what CI runs",
    "make test": "the whole suite",
    "lexkit train bytespan -n 16000 --byte-lm transformer": "tests/vocab (byte transformer training)",
    "lexkit morph build-lexicon": "tests/cli/test_morph_cli.py (needs the hunspell fixture)",
    "lexkit train morph": "tests/cli/test_morph_cli.py (needs a lexicon)",
    "lexkit transplant": "tests/transfer (needs model folders)",
    "lexkit evaluate": "tests/transfer (needs model folders)",
    "lexkit sample": "tests/lexkit/sampling (needs a model folder)",
    "lexkit heal": "tests/cli/test_heal_cli.py and tests/transfer/test_heal_smollm2.py (needs model folders)",
}
# Python blocks this test does not run, by their first line, and where they are exercised instead.
PYTHON_NOT_RUN = {
    "from lexkit.transfer import Budget, HealConfig, heal": "tests/transfer/test_heal.py (needs models)",
}


def _blocks(language: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def _commands() -> list[str]:
    lines = [line for block in _blocks("bash") for line in block.splitlines() if line.strip()]
    return [re.sub(r"\s+#.*$", "", line).strip() for line in lines]


def _shrink(command: str) -> str:
    for big, small in SMALLER.items():
        command = command.replace(big, small)
    return command


def _scratch(tmp_path: Path) -> dict[str, str]:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    documents = prose_documents()
    (corpus / "a.txt").write_text("".join(documents[:30]), encoding="utf-8")
    (corpus / "b.txt").write_text("".join(documents[30:45]), encoding="utf-8")
    (tmp_path / "extra.txt").write_text(documents[50], encoding="utf-8")
    (tmp_path / "my-terms.txt").write_text("Python\nkeyword argument\n", encoding="utf-8")
    (tmp_path / "cache").symlink_to(_resources.CACHE.parent)
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "LEXKIT_FIXTURES": str(_resources.CACHE), "PYTHONSAFEPATH": "1"}


def test_every_readme_command_runs_or_is_covered_elsewhere(tmp_path):
    _resources.fixture_path("tiktoken")
    env = _scratch(tmp_path)
    ran = []
    for command in _commands():
        if any(command.startswith(prefix) for prefix in NOT_RUN):
            continue
        if not command.startswith("lexkit "):
            raise AssertionError(f"README command {command!r} is neither run by this test nor listed in NOT_RUN")
        result = subprocess.run(["bash", "-o", "pipefail", "-c", _shrink(command)], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=600)
        # a closed pipe (`| head`) ends lexkit quietly with 141, like any Unix tool
        allowed = (0, 141) if "| head" in command else (0,)
        assert result.returncode in allowed and "error" not in result.stderr, (command, result.stdout, result.stderr)
        ran.append((command, result.stdout))
    outputs = dict(ran)
    decode = next(c for c in outputs if c.startswith("lexkit decode"))
    assert outputs[decode] == "Hello, world\n"
    assert (tmp_path / "view.html").stat().st_size > 10_000 and (tmp_path / "report" / "index.html").exists()
    assert len(ran) >= 10


def test_readme_python_block_runs(tmp_path):
    _resources.fixture_path("llama3", "tokenizer.json")
    env = _scratch(tmp_path)
    (block,) = [b for b in _blocks("python") if b.splitlines()[0] not in PYTHON_NOT_RUN]
    code = _shrink(block) + "\nprint(Tokenizer.load('cache/fixtures/llama3/tokenizer.json').encode('hello world'))\n"
    result = subprocess.run([sys.executable, "-P", "-c", code], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[15339, 1917]"  # the README's comment
    assert (tmp_path / "my-bpe" / "lexkit.json").exists()
