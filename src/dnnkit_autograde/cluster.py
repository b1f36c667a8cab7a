"""The Dask cluster a batch runs on: a local one of all cores, or an existing one by address.

A local cluster is ``distributed.LocalCluster`` of single-threaded worker processes (a worker
runs one nbgrader at a time), no dashboard and Dask's own logs silenced. It has a quarter more
workers than cores (:func:`local_workers`): grading a notebook is two processes taking turns,
nbgrader and the kernel it drives, and between tasks a worker waits for the coordinator, so one
worker per core leaves part of the machine idle (measured on 2 cores, 40 submissions: 2
workers kept 1.68 cores busy, 3 workers 1.83, and finished 6 % sooner). On Linux its workers
are forked from the coordinator, which has already imported nbgrader: a spawned worker would
spend seconds importing it again before its first task (measured: 8 s of a 30 s batch on a
loaded 2-core machine), which is the whole gain of grading in parallel on a small batch. Dask
runs without the background work of its dashboard (:data:`LOCAL_CLUSTER_CONFIG`). The worker
processes are children of the coordinator and exit when it does, even when it is killed
(``distributed``'s ``AsyncProcess`` watches a pipe from its parent).
An existing cluster (``dask scheduler`` + ``dask worker``, dask-jobqueue, dask-kubernetes) is
reached with its scheduler's address; its workers need this package and nbgrader installed, but
nothing of the course.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from dnnkit_autograde.tasks import WorkerSetup

__all__ = [
    "ClusterSpec",
    "ClusterUnavailable",
    "available_cores",
    "connect",
    "local_workers",
    "worker_count",
]


#: Dask settings of the local cluster. Its workers are forked where Linux allows it (they
#: inherit the imported nbgrader), else spawned. Dask's defaults serve its dashboard and long
#: interactive sessions: every process would wake every 20 ms to check that its event loop is
#: not blocked, each worker would sample its running task's stack every 10 ms for a profile
#: nobody reads, and read its system and memory figures every 0.5 and 0.1 s. On 2 cores these
#: wake-ups took a tenth of a batch's CPU time (40 submissions: 4.6 of 48 busy CPU-seconds).
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.multiprocessing-method": (
        "fork" if sys.platform.startswith("linux") else "spawn"
    ),
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
}


class ClusterUnavailable(RuntimeError):
    """The scheduler could not be reached, or no worker joined in time."""


@dataclass(frozen=True)
class ClusterSpec:
    """Where a batch runs.

    Attributes
    ----------
    scheduler : str or None
        Address of an existing cluster's scheduler (``tcp://host:8786``); None for a local
        cluster.
    workers : int
        Worker processes of the local cluster (ignored for an existing cluster).
    connect_timeout : float
        Seconds to wait for the scheduler and for a first worker.
    """

    scheduler: str | None = None
    workers: int = 1
    connect_timeout: float = 60.0


def local_workers(cores: int) -> int:
    """Worker processes of a local cluster on ``cores`` cores: ``cores + max(1, cores // 4)``
    (2 cores: 3 workers; 8 cores: 10)."""
    return cores + max(1, cores // 4)


def available_cores() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def connect(spec: ClusterSpec) -> Iterator[object]:
    """A ``distributed.Client`` on the cluster of ``spec``, its workers set up (nbgrader
    imported); a local cluster is shut down on exit, also when starting it fails half-way.

    Yields
    ------
    distributed.Client
    """
    from distributed import Client

    with contextlib.ExitStack() as stack:
        if spec.scheduler is None:
            cluster = stack.enter_context(_local_cluster(spec.workers))
            client = Client(cluster, timeout=spec.connect_timeout)
        else:
            client = _existing_cluster_client(spec)
        stack.callback(_close_quietly, client)
        if spec.scheduler is not None:
            _wait_for_a_worker(client, spec)
        client.register_plugin(WorkerSetup(capture_output=spec.scheduler is None))
        yield client


@contextlib.contextmanager
def _local_cluster(workers: int) -> Iterator[object]:
    """A ``LocalCluster`` of ``workers`` single-threaded processes, closed on exit."""
    import dask
    from distributed import LocalCluster

    with _garbage_collector_frozen():
        with dask.config.set(LOCAL_CLUSTER_CONFIG):
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.CRITICAL,
            )
        try:
            yield cluster
        finally:
            _close_quietly(cluster)


@contextlib.contextmanager
def _garbage_collector_frozen() -> Iterator[None]:
    """What exists now (the imported nbgrader, Dask, SQLAlchemy) lives as long as the batch:
    the garbage collector stops walking it, here and in the workers forked from here (Python's
    advice for a parent that forks). Undone on exit, unless the caller had frozen it already:
    then the freeze is the caller's to undo."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _existing_cluster_client(spec: ClusterSpec):
    """A client on the scheduler at ``spec.scheduler``, or :class:`ClusterUnavailable`."""
    from distributed import Client

    try:
        return Client(spec.scheduler, timeout=spec.connect_timeout)
    except (OSError, TimeoutError) as exc:
        raise ClusterUnavailable(
            f"cannot reach the Dask scheduler at {spec.scheduler} ({exc}); start one with "
            "`dask scheduler` and `dask worker ADDRESS`, or leave out --scheduler to use "
            "this machine's cores"
        ) from None


def _wait_for_a_worker(client, spec: ClusterSpec) -> None:
    try:
        client.wait_for_workers(1, timeout=spec.connect_timeout)
    except TimeoutError:
        raise ClusterUnavailable(
            f"no Dask worker joined the scheduler at {spec.scheduler} within "
            f"{spec.connect_timeout:.0f} s"
        ) from None


def _close_quietly(client_or_cluster) -> None:
    """Close a Dask client or cluster, ignoring errors of one that is already gone."""
    with contextlib.suppress(Exception):
        client_or_cluster.close(timeout=10)


def worker_count(client) -> int:
    """Workers connected to the scheduler now."""
    return len(client.scheduler_info().get("workers", {}))
