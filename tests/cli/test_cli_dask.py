"""``lexkit train --engine dask``: the same files as the local engine, and one-line errors."""

from __future__ import annotations

import json

import distributed
import pytest
from click.testing import CliRunner

from lexkit.cli.main import main
from lexkit.embedded import default_corpus


@pytest.fixture(scope="module")
def scheduler():
    """The address of a 2-worker LocalCluster on loopback, closed after the module."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "prose.txt"
    path.write_text("\n".join(default_corpus("prose")[:40]), encoding="utf-8")
    return path


def train(corpus, out, *extra):
    return CliRunner().invoke(main, ["train", "bpe", "-n", "600", "-o", str(out), "--no-progress", "--json", *extra,
                                     str(corpus)])


def test_dask_engine_writes_the_same_tokenizer_as_the_local_engine(scheduler, corpus, tmp_path):
    local = train(corpus, tmp_path / "local", "--workers", "1")
    assert local.exit_code == 0, local.output
    on_dask = train(corpus, tmp_path / "dask", "--engine", "dask", "--scheduler", scheduler)
    assert on_dask.exit_code == 0, on_dask.output
    assert json.loads(on_dask.output)["merges"] == json.loads(local.output)["merges"] > 0
    for name in ("lexkit.json", "tokenizer.json"):
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()


def test_unreachable_scheduler_and_misplaced_options_fail_with_one_line(corpus, tmp_path):
    result = train(corpus, tmp_path / "out", "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "lexkit: error: could not reach the Dask scheduler at 'tcp://127.0.0.1:9'" in result.output
    assert not (tmp_path / "out").exists()
    result = train(corpus, tmp_path / "out", "--scheduler", "tcp://127.0.0.1:9")
    assert result.exit_code == 1 and "go with --engine dask" in result.output
