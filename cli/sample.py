"""``lexkit sample``: generate bytes from a tokenized causal LM without tokenization bias.

The prompt may end anywhere, even inside a token (``"def hello_wor"``): the next bytes come from the exact
byte-level distribution (spec ``sampling.md``), not from conditioning on ``encode(prompt)``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from lexkit.errors import LexkitError


@click.command()
@click.option("-m", "--model", "model_dir", required=True, type=click.Path(exists=True, path_type=Path),
              help="A transformers model folder with tokenizer.json (or the folder of --gguf-file).")
@click.option("-p", "--prompt", required=True, help="The text to continue (may end mid-word).")
@click.option("-n", "--max-bytes", type=click.IntRange(min=1), default=200, help="Most bytes to generate.")
@click.option("--gguf-file", default=None, help="Load this GGUF file inside --model (needs the gguf package).")
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
def sample(model_dir: Path, prompt: str, max_bytes: int, gguf_file: str | None, temperature: float,
           top_k: int | None, top_p: float | None, stop: tuple[str, ...], mask_floor: float, bos_id: int | None,
           device: str, threads: int | None, seed: int, as_json: bool) -> None:
    """Continue PROMPT byte by byte from the model in --model."""
    from lexkit.sampling import load_byte_lm

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    if gguf_file is not None and not (model_dir / gguf_file).exists():
        raise LexkitError(f"{model_dir / gguf_file} does not exist, so the GGUF model cannot be loaded; "
                          "pass --gguf-file with a file name inside the --model folder")
    byte_lm = load_byte_lm(model_dir, gguf_file=gguf_file, device=device,
                           bos_id="auto" if bos_id is None else bos_id, mask_floor=mask_floor)
    calls = byte_lm.lm.forward_calls
    start = time.perf_counter()
    out = byte_lm.generate(prompt, max_bytes, temperature=temperature, top_k=top_k, top_p=top_p,
                           stop=[s.encode("utf-8") for s in stop], seed=seed)
    seconds = time.perf_counter() - start
    text = out.decode("utf-8", errors="replace")
    if as_json:
        click.echo(json.dumps({"prompt": prompt, "completion": text, "bytes": len(out),
                               "seconds": round(seconds, 3), "model_calls": byte_lm.lm.forward_calls - calls},
                              ensure_ascii=False))
    else:
        click.echo(prompt + text)
