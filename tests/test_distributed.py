"""Sweeps and tuning runs on a dask.distributed cluster give the in-process results.

The cluster is a real ``LocalCluster`` of two worker processes on this
machine, reached both through a ``Client`` and through a ``dask://HOST:PORT``
address, as a remote scheduler would be.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pandas as pd
import pytest
from distributed import Client, LocalCluster, get_task_stream

from layerlab.cli import main
from layerlab.errors import ConfigError
from layerlab.imageset import ImageSet, default_imageset
from layerlab.metrics.executors import run_pieces
from layerlab.metrics.sweep import grid, sweep
from layerlab.metrics.tune import tune
from layerlab.strategies import get_strategy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        with Client(cluster) as c:
            yield c


@pytest.fixture(scope="module")
def small() -> ImageSet:
    return default_imageset().subset(range(0, 30, 3), name="every-third")


POINTS = [
    *grid("nixery", {"popularity_threshold": [10, 100, 1000], "size_threshold": [10**7, 10**8]}),
    get_strategy("nixery", merge_mode="resort"),
    get_strategy("auto-layer"),
    get_strategy("keystone"),
    get_strategy("popularity-contest"),
]


def test_a_sweep_on_dask_equals_the_in_process_sweep(client: Client, small: ImageSet) -> None:
    serial = sweep(small, POINTS, [94, 10], rules=["any", "chain"], executor="serial", cache=False)
    with get_task_stream(client) as stream:
        on_dask = sweep(small, POINTS, [94, 10], rules=["any", "chain"], executor=client, cache=False, workers=2)
    pd.testing.assert_frame_equal(serial, on_dask)
    pieces = [t for t in stream.data if str(t["key"]).startswith("layerlab-piece")]
    assert len(pieces) == len(POINTS)  # small pieces: one configuration each here
    assert len({t["worker"] for t in pieces}) == 2  # both worker processes took part


def test_a_dask_address_reaches_the_same_cluster(client: Client, small: ImageSet) -> None:
    address = client.scheduler.address.replace("tcp://", "dask://")
    serial = sweep(small, POINTS[:3], [30], executor="serial", cache=False)
    pd.testing.assert_frame_equal(serial, sweep(small, POINTS[:3], [30], executor=address, cache=False))


def test_a_tuning_run_on_dask_equals_the_in_process_run(client: Client, small: ImageSet) -> None:
    space = {"popularity_threshold": [10, 100, 1000, 10**4], "size_threshold": [10**7, 10**8, 10**9]}
    kw = {"budget": 30, "space": space, "method": "coordinate", "cache": False}
    here = tune("nixery", small, executor="serial", **kw)
    there = tune("nixery", small, executor=client, **kw)
    assert there.strategy == here.strategy and there.value == here.value and there.baseline == here.baseline
    pd.testing.assert_frame_equal(here.points, there.points)
    pd.testing.assert_frame_equal(here.sensitivity, there.sensitivity)


def test_the_command_line_takes_a_dask_address(client: Client, tmp_path, capsys) -> None:
    address = client.scheduler.address.replace("tcp://", "dask://")
    out = tmp_path / "s.csv"
    args = [
        "sweep",
        "--strategy",
        "nixery",
        "--grid",
        "popularity_threshold=10,1000",
        "--budgets",
        "30",
        "-q",
        "--no-cache",
    ]
    assert main([*args, "--executor", address, "--out", str(out)]) == 0
    assert main([*args, "--serial", "--out", str(tmp_path / "t.csv")]) == 0
    assert out.read_text() == (tmp_path / "t.csv").read_text()
    assert main([*args, "--executor", "dask://"]) == 2
    assert "names no scheduler" in capsys.readouterr().err


def test_stopping_early_cancels_the_pieces_not_started() -> None:
    started: list[int] = []
    release = threading.Event()

    def piece(shared: None, n: int) -> int:
        started.append(n)
        if n:
            release.wait(30)
        return n

    results = run_pieces("thread", piece, None, list(range(50)), workers=2)
    assert next(results) == (0, 0)
    threading.Timer(0.2, release.set).start()  # lets the running pieces end once the pending ones are cancelled
    results.close()
    assert len(started) <= 4  # the rest never started


def test_an_unreachable_scheduler_is_a_clear_error(small: ImageSet) -> None:
    with pytest.raises(ConfigError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        sweep(small, "nixery", [30], executor="dask://127.0.0.1:9", cache=False)


def test_a_scorecard_on_dask_equals_the_in_process_scorecard(client: Client, small: ImageSet) -> None:
    from layerlab.metrics.scorecard import scorecard

    strategies = ["nixery", "per-path", "keystone"]
    here = scorecard(small, strategies, [30, 10], sample=60, seed=2, executor="serial")
    with get_task_stream(client) as stream:
        there = scorecard(small, strategies, [30, 10], sample=60, seed=2, executor=client)
    pd.testing.assert_frame_equal(here, there)
    assert any(str(t["key"]).startswith("layerlab-piece") for t in stream.data)  # the update pairs ran on the cluster


def test_the_score_command_takes_a_dask_address(client: Client, tmp_path, capsys) -> None:
    address = client.scheduler.address.replace("tcp://", "dask://")
    args = ["score", "--strategy", "per-path", "--budgets", "10", "--sample", "20", "-q"]
    assert main([*args, "--executor", address, "--out", str(tmp_path / "dask.csv")]) == 0
    assert main([*args, "--out", str(tmp_path / "here.csv")]) == 0
    assert (tmp_path / "dask.csv").read_text() == (tmp_path / "here.csv").read_text()


def test_work_is_cut_for_as_many_pieces_as_the_cluster_runs_at_once(client: Client) -> None:
    import os

    from layerlab.metrics.executors import worker_count

    assert worker_count(client) == 2  # two single-threaded workers
    assert worker_count(client, workers=5) == 5
    assert worker_count("serial", workers=5) == 1
    assert worker_count("process") == worker_count(None) == (os.cpu_count() or 1)
