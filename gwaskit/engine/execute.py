"""Run tasks in-process (a thread pool) or on Dask (an authenticated LocalCluster or a running
scheduler), with one callback per finished task.

The engine knows nothing of genotypes or statistics: a pipeline hands it a task function
``fn(shared, item)``, one ``shared`` object (broadcast once to every Dask worker) and the items
(chunks, chromosomes, panel slices). :func:`run_tasks` calls ``on_result(k, result)`` in the
calling thread, once per finished task: in item order in-process, in completion order on Dask,
so the caller can checkpoint each task as it arrives.

**Bit-identity.** Every task runs its BLAS on one thread (threadpoolctl), in every mode, and the
kernels are serial per task; a task's result therefore does not depend on the number of threads,
on the worker that ran it or on the mode.

**Security.** ``workers=N`` starts a LocalCluster on loopback with TLS and mutual
authentication (``distributed.security.Security.temporary()``: a fresh certificate that only
this process and its workers hold), so another local process cannot join the cluster or run
code in its workers. A remote ``scheduler`` is used as given: secure it with TLS (see README,
"Running on a cluster").

Dask is imported only here, and only when asked for. ``$GWASKIT_SCHEDULER_TIMEOUT`` (seconds,
default 30) bounds the wait for a ``scheduler``; ``$GWASKIT_WORKER_GRACE`` (seconds, default 30)
is how long a run waits with no worker left before it gives up with :class:`WorkersLostError`.
"""
from __future__ import annotations

import logging
import os
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

from .._log import logger
from .._threads import default_threads
from ..errors import InputError

__all__ = ["Execution", "WorkersLostError", "run_tasks", "default_threads"]


class WorkersLostError(InputError):
    """Every Dask worker (or the scheduler) went away before the tasks finished."""


@dataclass(frozen=True)
class Execution:
    """Where tasks run. Does not change results (see the module docstring).

    Parameters
    ----------
    threads : in-process worker threads (default :func:`default_threads`); each runs one task
        at a time with single-threaded BLAS
    scheduler : address of a running Dask scheduler (``tls://host:8786``); inputs must be
        readable under the same paths on every worker (a shared filesystem)
    workers : start an authenticated Dask LocalCluster of this many single-threaded worker
        processes here (call from a script guarded by ``if __name__ == "__main__":``)
    """

    threads: int | None = None
    scheduler: str | None = None
    workers: int | None = None

    def __post_init__(self) -> None:
        if self.scheduler and self.workers:
            raise InputError("execution: scheduler and workers are mutually exclusive")
        if self.workers is not None and self.workers < 1:
            raise InputError(f"execution: workers must be >= 1, got {self.workers}")
        if self.threads is not None and self.threads < 1:
            raise InputError(f"execution: threads must be >= 1, got {self.threads}")
        if self.threads is None and not self.distributed:
            default_threads()  # a bad $GWASKIT_THREADS fails here, before any work

    @property
    def distributed(self) -> bool:
        return bool(self.scheduler or self.workers)

    def n_threads(self) -> int:
        return self.threads if self.threads is not None else default_threads()

    def describe(self) -> str:
        if self.scheduler:
            return f"Dask scheduler {self.scheduler}"
        if self.workers:
            return f"Dask LocalCluster ({self.workers} worker process(es) x 1 thread, TLS)"
        return f"in-process ({self.n_threads()} thread(s))"


def run_tasks(fn: Callable, shared, items: Sequence, on_result: Callable[[int, object], None],
              execution: Execution | None = None, label: str = "task",
              scatter_items: bool = False) -> None:
    """Run ``fn(shared, item)`` for every item; ``on_result(k, result)`` per finished task.

    In-process, at most ``threads + 1`` tasks are in flight and results arrive in item order.
    On Dask, ``shared`` is scattered once to every worker (``broadcast=True``), each task gets
    only its item (with ``scatter_items`` the items are scattered too, so large items do not
    travel through the scheduler), tasks are prioritised in item order and results arrive in
    completion order. Tasks lost with a dead worker are rerun by the scheduler; a task's own
    error is raised here after the remaining tasks are cancelled; losing every worker raises
    :class:`WorkersLostError`.
    """
    execution = execution or Execution()
    if not len(items):
        return
    if execution.distributed:
        _run_dask(fn, shared, items, on_result, execution, label, scatter_items)
    else:
        _run_threads(fn, shared, items, on_result, execution.n_threads())


def _run_threads(fn, shared, items, on_result, threads: int) -> None:
    from threadpoolctl import threadpool_limits

    todo = iter(enumerate(items))
    pending: deque = deque()
    with threadpool_limits(limits=1, user_api="blas"), \
            ThreadPoolExecutor(threads, thread_name_prefix="gwaskit-task") as pool:

        def submit_next() -> None:
            nxt = next(todo, None)
            if nxt is not None:
                k, item = nxt
                pending.append((k, pool.submit(fn, shared, item)))

        try:
            for _ in range(threads + 1):
                submit_next()
            while pending:
                k, fut = pending.popleft()
                res = fut.result()
                submit_next()
                on_result(k, res)
        finally:
            for _, fut in pending:  # an error or an interrupt: start nothing new
                fut.cancel()


def _env_seconds(name: str, default: float) -> float:
    try:
        return max(float(os.environ.get(name, default) or default), 0.1)
    except ValueError:
        return default


def _client(execution: Execution):
    """A connected ``distributed.Client`` and the LocalCluster it owns (None for a remote
    scheduler). Any failure to reach the scheduler is an :class:`InputError` (one line)."""
    # a missing 'distributed' or 'cryptography' (gwaskit[dist]) propagates as
    # ModuleNotFoundError: the CLI turns it into the one-line pip hint
    from distributed import Client, LocalCluster
    from distributed.security import Security

    if execution.scheduler:
        address = execution.scheduler
        timeout = _env_seconds("GWASKIT_SCHEDULER_TIMEOUT", 30.0)
        try:
            return Client(address, timeout=f"{timeout:g}s"), None
        except (OSError, TimeoutError) as e:
            raise InputError(f"scheduler {address}: cannot connect ({e})") from None
        except Exception as e:  # noqa: BLE001 - malformed address (ValueError, ...), one line
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise InputError(f"scheduler {address}: cannot connect ({msg}); expected an "
                             f"address such as tls://host:8786") from None
    security = Security.temporary()  # a fresh self-signed certificate (needs 'cryptography')
    cluster = LocalCluster(n_workers=execution.workers, threads_per_worker=1, processes=True,
                           host="127.0.0.1", protocol="tls", security=security,
                           dashboard_address=None, silence_logs=logging.ERROR)
    return Client(cluster, security=security), cluster


def _run_dask(fn, shared, items, on_result, execution, label, scatter_items) -> None:
    # distributed's INFO chatter (and its shutdown noise) would reach a root handler that
    # third-party code may have installed (bed_reader's logging.info calls basicConfig); cut
    # it off from the root: its warnings and errors still print (logging's last resort)
    dlog = logging.getLogger("distributed")
    saved = dlog.propagate
    dlog.propagate = False
    try:
        client, cluster = _client(execution)
        try:
            _submit_and_collect(client, fn, shared, items, on_result, label, scatter_items)
        finally:
            try:
                client.close(timeout=10)
            except Exception:  # noqa: BLE001 - best effort during shutdown
                pass
            if cluster is not None:
                try:
                    cluster.close(timeout=10)
                except Exception:  # noqa: BLE001
                    pass
    finally:
        dlog.propagate = saved


def _lost(done: int, total: int, why: str) -> WorkersLostError:
    return WorkersLostError(f"Dask: {why} after {done} of {total} task(s) finished; finished "
                            f"work is kept")


def _submit_and_collect(client, fn, shared, items, on_result, label, scatter_items) -> None:
    from concurrent.futures import CancelledError  # distributed's Future(s)CancelledError

    from distributed import wait
    from distributed.comm import CommClosedError

    grace = _env_seconds("GWASKIT_WORKER_GRACE", 30.0)
    total, finished = len(items), 0
    futures: list = []
    try:
        n_workers = len(client.nthreads())
        logger.info("Dask: %s, %d worker(s); %d %s task(s)", client.scheduler.address,
                    n_workers, total, label)
        shared_future = client.scatter(shared, broadcast=True, hash=False)
        args = client.scatter(list(items), hash=False) if scatter_items else list(items)
        tag = uuid.uuid4().hex[:8]
        futures = [client.submit(fn, shared_future, arg, key=f"gwaskit-{label}-{tag}-{k}",
                                 pure=False, priority=-k) for k, arg in enumerate(args)]
        pos = {f.key: k for k, f in enumerate(futures)}
        pending = set(futures)
        no_workers_since: float | None = None
        while pending:
            try:
                done, pending = wait(pending, timeout=1.0, return_when="FIRST_COMPLETED")
            except TimeoutError:
                done = set()
            for fut in done:
                if fut.status == "error":
                    exc = fut.exception()
                    client.cancel(futures)
                    if type(exc).__name__ == "KilledWorker":
                        raise _lost(finished, total, f"task {pos[fut.key]} killed every "
                                    f"worker that ran it ({exc})") from None
                    raise exc
                if fut.status == "cancelled":
                    raise CancelledError()
                res = fut.result()
                fut.release()
                on_result(pos[fut.key], res)
                finished += 1
            if not done and pending:  # nothing finished this second: are there workers left?
                try:
                    alive = len(client.nthreads())
                except Exception:  # noqa: BLE001 - the scheduler itself is gone
                    raise _lost(finished, total, "lost the scheduler") from None
                if alive:
                    no_workers_since = None
                elif no_workers_since is None:
                    no_workers_since = time.monotonic()
                elif time.monotonic() - no_workers_since > grace:
                    raise _lost(finished, total, f"lost every worker (none left for {grace:g} s)")
    except CancelledError:
        # the scheduler cancels the tasks when the data they need died with the workers that
        # held it, or when it is closed or restarted
        try:
            alive = len(client.nthreads())
        except Exception:  # noqa: BLE001
            alive = 0
        why = "lost every worker" if alive == 0 else "the scheduler cancelled the tasks"
        raise _lost(finished, total, why) from None
    except CommClosedError:
        raise _lost(finished, total, "lost the connection to the scheduler") from None
    finally:
        try:
            if futures:
                client.cancel(futures)
        except Exception:  # noqa: BLE001 - best effort during shutdown
            pass
