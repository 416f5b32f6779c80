"""``lexkit sample``: generate bytes from a tokenized causal LM without tokenization bias.

The prompt may end anywhere, even inside a token (``"def hello_wor"``): the next bytes come from the exact
byte-level distribution (`lexkit.sampling`), not from conditioning on ``encode(prompt)``. With ``--ensemble``
several models with different tokenizers predict each byte together (product of experts or mixture).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from lexkit.errors import LexkitError

__all__ = ["sample"]


@click.command()
@click.option("-m", "--model", "model_dir", required=True, type=click.Path(exists=True, path_type=Path),
              help="The model: a transformers folder with tokenizer.json, or a .gguf file (as in transplant).")
@click.option("-p", "--prompt", required=True, help="The text to continue (may end mid-word).")
@click.option("-n", "--max-bytes", type=click.IntRange(min=1), default=200, help="Most bytes to generate.")
@click.option("--gguf-file", default=None,
              help="Deprecated alias: -m FOLDER --gguf-file NAME is -m FOLDER/NAME; pass the .gguf path to -m.")
@click.option("--ensemble", "ensemble_paths", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Another model (folder, or a .gguf file) that predicts each byte with --model (repeatable).")
@click.option("--ensemble-mode", type=click.Choice(("product", "mixture")), default="product", show_default=True,
              help="Combine next-byte distributions as a product of experts or a mixture.")
@click.option("--weights", default=None,
              help="Comma-separated weights, --model first then each --ensemble (default: equal).")
@click.option("--floor", type=click.FloatRange(min=0, max=1, max_open=True), default=0.0,
              help="Product only: lift member probabilities to this, so no member vetoes a byte another supports.")
@click.option("--temperature", type=click.FloatRange(min=0), default=1.0,
              help="Byte-level temperature (applied to the 257-way byte distribution); 0 is greedy.")
@click.option("--top-k", type=click.IntRange(min=1), default=None, help="Keep the k likeliest bytes.")
@click.option("--top-p", type=click.FloatRange(min=0, max=1, min_open=True), default=None,
              help="Keep the likeliest bytes up to this probability mass.")
@click.option("--stop", multiple=True, help="Stop after this string (repeatable).")
@click.option("--mask-floor", type=click.FloatRange(min=0, max=1), default=1e-6,
              help="Next tokens below this probability skip the canonicality check (0: check all, exact).")
@click.option("--bos-id", type=int, default=None, help="Token id put before the prompt (default: the model's BOS).")
@click.option("--device", type=click.Choice(("cpu", "cuda", "auto")), default="auto", help="Where the model runs.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="torch CPU threads.")
@click.option("--seed", type=int, default=0, help="Random seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def sample(model_dir: Path, prompt: str, max_bytes: int, gguf_file: str | None, ensemble_paths: tuple[Path, ...],
           ensemble_mode: str, weights: str | None, floor: float, temperature: float, top_k: int | None,
           top_p: float | None, stop: tuple[str, ...], mask_floor: float, bos_id: int | None, device: str,
           threads: int | None, seed: int, as_json: bool) -> None:
    """Continue PROMPT byte by byte from the model in --model (and the --ensemble models)."""
    from lexkit.sampling import ByteEnsemble, load_byte_sampler

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    if gguf_file is not None:
        model_dir = _gguf_alias(model_dir, gguf_file)
    parsed = _parse_weights(weights, 1 + len(ensemble_paths))
    members = [load_byte_sampler(model_dir, device=device, bos_id="auto" if bos_id is None else bos_id,
                            mask_floor=mask_floor)]
    for path in ensemble_paths:
        members.append(load_byte_sampler(path, device=device, mask_floor=mask_floor))
    model = (ByteEnsemble(members, mode=ensemble_mode, weights=parsed, floor=floor)  # type: ignore[arg-type]
             if ensemble_paths else members[0])
    calls = sum(m.lm.forward_calls for m in members)
    start = time.perf_counter()
    out = model.generate(prompt, max_bytes, temperature=temperature, top_k=top_k, top_p=top_p,
                         stop=[s.encode("utf-8") for s in stop], seed=seed)
    seconds = time.perf_counter() - start
    text = out.decode("utf-8", errors="replace")
    if as_json:
        click.echo(json.dumps({"prompt": prompt, "completion": text, "bytes": len(out),
                               "seconds": round(seconds, 3), "models": len(members),
                               "model_calls": sum(m.lm.forward_calls for m in members) - calls},
                              ensure_ascii=False))
    else:
        click.echo(prompt + text)


def _gguf_alias(model: Path, name: str) -> Path:
    """The deprecated ``-m FOLDER --gguf-file NAME`` as the path ``FOLDER/NAME`` that -m now takes directly."""
    if model.is_file():
        raise LexkitError(f"-m {model} is already a file, so --gguf-file {name} has no folder to look in; pass "
                          "the .gguf path to -m alone")
    path = model / name
    if not path.is_file():
        raise LexkitError(f"{path} does not exist, so the GGUF model cannot be loaded; pass -m with the path of "
                          "the .gguf file")
    click.echo(f"lexkit: --gguf-file is deprecated; pass -m {path} instead", err=True)
    return path


def _parse_weights(text: str | None, count: int) -> list[float] | None:
    """``"0.5,0.5"`` -> ``[0.5, 0.5]``, checked against the number of models."""
    if text is None:
        return None
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise LexkitError(f"--weights {text!r} is not a comma-separated list of numbers; pass e.g. "
                          "--weights 0.5,0.5") from None
    if len(values) != count:
        raise LexkitError(f"--weights has {len(values)} values but there are {count} models (--model and each "
                          f"--ensemble); pass {count} comma-separated weights")
    return values
