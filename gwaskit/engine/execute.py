"""Run a chunk plan in-process (threads) or on Dask (LocalCluster or a running scheduler).

Both call ``on_result(ChunkResult)`` in the calling thread, once per finished chunk (in plan
order in-process, in completion order on Dask), so the caller can checkpoint each chunk as it
arrives. :func:`run_tasks` is the generic part (any task function, one object scattered to
every worker, a callback per finished task), also used by ``clump`` and ``prs``. Dask is
imported only here, and only when asked for. ``$GWASKIT_SCHEDULER_TIMEOUT`` (seconds, default
30) bounds the wait for a ``--scheduler``.
"""
from __future__ import annotations

import logging
import os
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

from .._log import logger
from ..errors import InputError
from .plan import Chunk
from .tasks import ChunkResult, ScanJob, run_chunk

__all__ = ["run_in_process", "run_dask", "run_tasks", "describe_mode"]


def describe_mode(scheduler: str | None, workers: int | None) -> str:
    if scheduler:
        return f"Dask scheduler {scheduler}"
    if workers:
        return f"Dask LocalCluster ({workers} worker process(es) x 1 thread)"
    return "in-process"


def run_in_process(job: ScanJob, chunks: Sequence[Chunk], reader,
                   on_result: Callable[[ChunkResult], None], threads: int = 1) -> None:
    """Chunks on ``threads`` worker threads of this process; results in plan order.

    Each worker decodes one chunk and tests it, exactly as a Dask task does
    (:func:`~gwaskit.engine.tasks.run_chunk`): decoders, inflaters, the C kernels and BLAS
    release the GIL, so the workers run in parallel. BLAS is single-threaded, as in a Dask
    task, so the bits match the distributed modes whatever ``threads`` is. At most
    ``threads + 1`` chunks are in flight (memory ~ ``(threads + 1) x N x chunk x itemsize``);
    ``on_result`` is called in the calling thread, in plan order.
    """
    from threadpoolctl import threadpool_limits

    if not chunks:
        return
    threads = max(1, int(threads))
    todo = iter(chunks)
    pending: deque = deque()
    with threadpool_limits(limits=1, user_api="blas"), \
            ThreadPoolExecutor(threads, thread_name_prefix="gwaskit-chunk") as pool:

        def submit_next() -> None:
            ch = next(todo, None)
            if ch is not None:
                pending.append(pool.submit(run_chunk, job, ch, reader, pin_blas=False))

        try:
            for _ in range(threads + 1):
                submit_next()
            while pending:
                res = pending.popleft().result()
                submit_next()
                on_result(res)
        finally:
            for fut in pending:  # an error or an interrupt: start nothing new
                fut.cancel()


def _connect_timeout() -> float:
    """Seconds to wait for a ``--scheduler`` (``$GWASKIT_SCHEDULER_TIMEOUT``, default 30)."""
    try:
        return max(float(os.environ.get("GWASKIT_SCHEDULER_TIMEOUT", "30") or 30), 0.1)
    except ValueError:
        return 30.0


def _client(scheduler: str | None, workers: int | None):
    """A connected ``distributed.Client`` and the LocalCluster it owns (None for a remote
    scheduler). Any failure to reach ``scheduler`` is an :class:`InputError` (one line)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("--scheduler/--workers need dask.distributed: "
                         "pip install 'gwaskit[dist]'") from None
    if scheduler:
        timeout = _connect_timeout()
        try:
            return Client(scheduler, timeout=f"{timeout:g}s"), None
        except (OSError, TimeoutError) as e:
            raise InputError(f"--scheduler {scheduler}: cannot connect ({e})") from None
        except Exception as e:  # noqa: BLE001 - malformed address (ValueError, ...), one line
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise InputError(f"--scheduler {scheduler}: cannot connect ({msg}); expected an "
                             f"address such as tcp://host:8786") from None
    if workers is None or workers < 1:
        raise InputError(f"--workers: must be >= 1, got {workers}")
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None,
                           silence_logs=logging.ERROR)
    return Client(cluster), cluster


def run_tasks(fn: Callable, shared, items: Sequence, on_result: Callable[[int, object], None],
              scheduler: str | None = None, workers: int | None = None, label: str = "task",
              scatter_items: bool = False) -> None:
    """Run ``fn(shared, item)`` for every item as a Dask task.

    ``shared`` is scattered once to every worker (``broadcast=True``); each task gets only its
    item (with ``scatter_items`` the items are scattered too, one copy each, so that large
    items do not travel through the scheduler). ``on_result(k, result)`` is called in the
    calling thread, once per finished task, in completion order (``k``: the item's position).
    Tasks are prioritised in item order. Tasks lost with a dead worker are rerun by the
    scheduler; a task's own error is raised here after the remaining tasks are cancelled.
    """
    if not len(items):
        return
    # distributed's INFO chatter (and its shutdown noise) would reach a root handler that
    # third-party code may have installed (bed_reader's logging.info calls basicConfig); cut
    # it off from the root: its warnings and errors still print (logging's last resort)
    dlog = logging.getLogger("distributed")
    saved = dlog.propagate
    dlog.propagate = False
    try:
        _run_tasks(fn, shared, items, on_result, scheduler, workers, label, scatter_items)
    finally:
        dlog.propagate = saved


def _run_tasks(fn, shared, items, on_result, scheduler, workers, label, scatter_items) -> None:
    client, cluster = _client(scheduler, workers)
    futures = []
    try:
        from distributed import as_completed

        n_workers = len(client.scheduler_info().get("workers", {}))
        logger.info("Dask: %s, %d worker(s); %d %s task(s)", client.scheduler.address,
                    n_workers, len(items), label)
        shared_future = client.scatter(shared, broadcast=True, hash=False)
        args = client.scatter(list(items), hash=False) if scatter_items else list(items)
        tag = uuid.uuid4().hex[:8]
        futures = [client.submit(fn, shared_future, arg, key=f"gwaskit-{label}-{tag}-{k}",
                                 pure=False, priority=-k) for k, arg in enumerate(args)]
        pos = {f.key: k for k, f in enumerate(futures)}
        for fut in as_completed(futures):
            if fut.status == "error":
                exc = fut.exception()
                client.cancel(futures)
                raise exc
            res = fut.result()
            fut.release()
            on_result(pos[fut.key], res)
    finally:
        try:
            if futures:
                client.cancel(futures)
        except Exception:  # noqa: BLE001 - best effort during shutdown
            pass
        client.close()
        if cluster is not None:
            cluster.close()


def run_dask(job: ScanJob, chunks: Sequence[Chunk], on_result: Callable[[ChunkResult], None],
             scheduler: str | None = None, workers: int | None = None) -> None:
    """Chunks as Dask tasks (:func:`run_tasks`). The job (fitted null model) is scattered once
    to every worker (``broadcast=True``); each task gets only its chunk. Tasks lost with a dead
    worker are rerun by the scheduler; a task's own error (e.g. a corrupt genotype block) is
    raised here after the remaining tasks are cancelled."""
    run_tasks(run_chunk, job, list(chunks), lambda _k, res: on_result(res),
              scheduler=scheduler, workers=workers, label="chunk")
