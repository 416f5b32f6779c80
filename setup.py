"""Map the project folders into one ``lexkit.*`` namespace (docs/design.md)."""

from setuptools import Extension, find_packages, setup

FOLDERS = {"lexkit": "lexkit", "lexkit.vocab": "vocab", "lexkit.transfer": "transfer",
           "lexkit.analysis": "analysis", "lexkit.cli": "cli"}

# subtle: the package list is computed, never hand-written: a missed subpackage still works in an
# editable install and only breaks after a wheel install.
packages = []
for name, folder in FOLDERS.items():
    packages.append(name)
    packages += [f"{name}.{sub}" for sub in find_packages(folder)]
package_dir = dict(FOLDERS)
for name in packages:
    if name not in package_dir:
        root = next(n for n in sorted(FOLDERS, key=len, reverse=True) if name.startswith(n + "."))
        package_dir[name] = FOLDERS[root] + "/" + name[len(root) + 1:].replace(".", "/")

# The compiled merge kernel (vocab/_merge_kernel.c, CPython C-API only). optional: without a C compiler
# the install still succeeds and the engine uses its pure-Python kernel (and tests/vocab/test_merge_kernel.py
# fails loudly).
merge_kernel = Extension("lexkit.vocab._merge_kernel", ["vocab/_merge_kernel.c"], optional=True)
# LBPE's long-token-first encoders (lexkit/_lbpe_kernel.c), optional the same way: lexkit._lbpe falls back to
# Python (and tests/vocab/test_lbpe.py fails loudly).
lbpe_kernel = Extension("lexkit._lbpe_kernel", ["lexkit/_lbpe_kernel.c"], optional=True)
# Pre-token counting for the built-in split patterns (lexkit/corpus/_split_kernel.c), optional the same way:
# lexkit.corpus.splitting falls back to Python's re (and tests/lexkit/test_split_kernel.py fails loudly).
split_kernel = Extension("lexkit.corpus._split_kernel", ["lexkit/corpus/_split_kernel.c"], optional=True)
# BERT's normalizer, pre-tokenizer and WordPiece in one pass (lexkit/_wordpiece_kernel.c), optional the same way:
# without it BERT encodes with HF tokenizers (and tests/lexkit/test_wordpiece.py fails loudly).
wordpiece_kernel = Extension("lexkit._wordpiece_kernel", ["lexkit/_wordpiece_kernel.c"], optional=True)

setup(packages=packages, package_dir=package_dir,
      package_data={"lexkit": ["py.typed", "data/*", "_lbpe_kernel.pyi", "_wordpiece_kernel.pyi"],
                    "lexkit.vocab": ["_merge_kernel.pyi"],
                    "lexkit.corpus": ["_split_kernel.pyi"],
                    "lexkit.analysis": ["viewer_assets/*"]},
      exclude_package_data={"lexkit": ["*.c"], "lexkit.vocab": ["*.c"], "lexkit.corpus": ["*.c"]},
      ext_modules=[merge_kernel, lbpe_kernel, split_kernel, wordpiece_kernel])
