"""Worker processes: third-party scans and renders with timeouts and crash isolation.

A third-party plugin runs native code in our process: if it crashes
(segfault, ``abort()``) it takes the process with it, and if it hangs
nothing returns. :class:`Worker` runs tasks in a separate process started
with the **spawn** method (JUCE's and LLVM's threads and ``fork()`` do not
mix) and watches it:

* the task reports progress labels (e.g. the node being rendered); the
  timeout applies from one label to the next, so it bounds each node, not
  the whole render;
* if the process dies, :class:`NodeCrashedError` names the last label and
  the signal or exit code; if a label takes longer than the timeout, the
  process is killed and :class:`NodeTimeoutError` names the label. Either
  way the worker is gone, the caller gets an exception and carries on
  (a new :class:`Worker` starts a fresh process);
* exceptions raised inside the task come back as themselves (or as
  :class:`WorkerError` with the remote traceback when they do not pickle).

In the worker, ``dawdreamer`` is imported before anything else (DESIGN.md:
before numba), and file descriptor 1 is pointed at 2, so the C++ loaders'
chatter cannot corrupt the parent's stdout (``plugins list --json``).

:func:`scan_plugins` scans plugin files one by one in a small pool of such
workers (``jobs``), replacing a worker that crashed or hung, so one bad
plugin costs one result (listed as failed with the reason), not the scan.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
import traceback
from typing import Callable

from .errors import NeuromasterError

#: Default per-label timeout of isolated renders (seconds).
DEFAULT_RENDER_TIMEOUT_S = 600.0

#: Default per-plugin timeout of scans (seconds).
DEFAULT_SCAN_TIMEOUT_S = 30.0

#: Longest wait for a spawned worker to import neuromaster (seconds).
STARTUP_TIMEOUT_S = 120.0


class WorkerError(NeuromasterError, RuntimeError):
    """A task failed in a worker process.

    Attributes
    ----------
    node : str or None
        The label the worker was on (a graph node name, a plugin path).
    """

    def __init__(self, message: str, node: str | None = None):
        super().__init__(message)
        self.node = node


class NodeCrashedError(WorkerError):
    """The worker process died (crash, ``abort()``, killed) while on ``node``."""

    def __init__(self, message: str, node: str | None = None, exitcode: int | None = None):
        super().__init__(message, node)
        self.exitcode = exitcode


class NodeTimeoutError(WorkerError):
    """``node`` took longer than the timeout; the worker was killed."""

    def __init__(self, message: str, node: str | None = None, timeout_s: float | None = None):
        super().__init__(message, node)
        self.timeout_s = timeout_s


def _describe_exit(code) -> str:
    if code is None:
        return "no exit code"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:  # pragma: no cover
            return f"signal {-code}"
    return f"exit code {code}"


def _worker_main(conn) -> None:  # pragma: no cover - runs in the child process
    """Child process: import dawdreamer first, then serve tasks until told to stop."""
    try:
        import dawdreamer  # noqa: F401  (LLVM order: before numba)
    except ImportError:
        pass
    try:
        os.dup2(2, 1)
    except OSError:
        pass
    import pickle
    # import the package (and so numba and every stage) now, under the start-up
    # timeout, so that a task's first timeout does not include it
    import neuromaster  # noqa: F401
    conn.send(("ready", os.getpid()))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        func, args, kwargs = msg

        def progress(label, *rest):
            conn.send(("progress", str(label)))

        try:
            result = func(*args, progress=progress, **kwargs)
            conn.send(("ok", result))
        except BaseException as e:  # report everything, including SystemExit
            tb = traceback.format_exc()
            try:
                blob = pickle.dumps(e)
                pickle.loads(blob)
            except Exception:
                blob = None
            conn.send(("error", (type(e).__name__, str(e), tb, blob)))


class Worker:
    """One spawned worker process that runs tasks one at a time.

    Use as a context manager, or call :meth:`close`. After a crash or a
    timeout the worker is dead (:attr:`alive` is False); start a new one.
    """

    def __init__(self, startup_timeout_s: float = STARTUP_TIMEOUT_S):
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe(duplex=True)
        self._proc = ctx.Process(target=_worker_main, args=(child,), daemon=True, name="neuromaster-worker")
        self._proc.start()
        child.close()
        self._ready = False
        self._startup_timeout_s = float(startup_timeout_s)

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return self._proc.is_alive()

    def _wait_ready(self):
        if self._ready:
            return
        if not self._conn.poll(self._startup_timeout_s):
            self._kill()
            raise NodeTimeoutError(f"the worker process did not start within {self._startup_timeout_s:g} s",
                                   None, self._startup_timeout_s)
        try:
            msg = self._conn.recv()
        except (EOFError, OSError):
            code = self._join()
            raise NodeCrashedError(f"the worker process died while starting ({_describe_exit(code)})", None, code) from None
        if msg[0] != "ready":  # pragma: no cover
            raise WorkerError(f"unexpected message from the worker: {msg[0]!r}")
        self._ready = True

    def call(self, func: Callable, *args, timeout_s: float | None = None, label: str = "",
             on_progress: Callable | None = None, **kwargs):
        """Run ``func(*args, progress=..., **kwargs)`` in the worker.

        ``func`` must be a module-level function (it is pickled by name) that
        accepts a ``progress(label)`` keyword. ``timeout_s`` bounds the time
        between two progress reports (and to the result); ``label`` names the
        task until the first report. ``on_progress(label)`` is called in this
        process for each report.
        """
        if not self.alive:
            raise WorkerError("the worker process is not running (it crashed or was closed); start a new Worker")
        self._wait_ready()
        try:
            self._conn.send((func, args, kwargs))
        except (BrokenPipeError, OSError, EOFError):
            code = self._join()
            raise NodeCrashedError(f"the worker process died ({_describe_exit(code)})", label or None, code) from None
        current = label
        limit = None if timeout_s is None else float(timeout_s)
        while True:
            if not self._conn.poll(limit):
                self._kill()
                what = f"node {current!r}" if current else "the task"
                raise NodeTimeoutError(f"{what} did not finish within {limit:g} s; the worker was killed",
                                       current or None, limit)
            try:
                kind, payload = self._conn.recv()
            except (EOFError, OSError, ConnectionResetError):
                code = self._join()
                what = f"node {current!r}" if current else "the task"
                raise NodeCrashedError(f"{what} crashed the worker process ({_describe_exit(code)})",
                                       current or None, code) from None
            if kind == "progress":
                current = payload
                if on_progress is not None:
                    on_progress(payload)
                continue
            if kind == "ok":
                return payload
            if kind == "error":
                name, msg, tb, blob = payload
                if blob is not None:
                    import pickle
                    exc = pickle.loads(blob)
                    if isinstance(exc, BaseException):
                        if isinstance(exc, WorkerError) and exc.node is None:
                            exc.node = current or None
                        raise exc
                raise WorkerError(f"{name}: {msg}\n--- worker traceback ---\n{tb}", current or None)
            raise WorkerError(f"unexpected message from the worker: {kind!r}")  # pragma: no cover

    def _join(self, wait_s: float = 5.0):
        self._proc.join(wait_s)
        if self._proc.is_alive():  # pragma: no cover
            self._kill()
        return self._proc.exitcode

    def _kill(self):
        if self._proc.is_alive():
            try:
                os.kill(self._proc.pid, signal.SIGKILL)
            except (ProcessLookupError, TypeError):  # pragma: no cover
                pass
        self._proc.join(5.0)
        try:
            self._conn.close()
        except OSError:  # pragma: no cover
            pass

    def close(self):
        """Ask the worker to stop; kill it if it does not within 5 s."""
        if self._proc.is_alive():
            try:
                self._conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            self._proc.join(5.0)
        self._kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):  # pragma: no cover - best effort
        try:
            if self._proc.is_alive():
                self._kill()
        except Exception:
            pass


def render_in_worker(graph, wanted, duration_s=None, *, timeout_s: float | None = None,
                     progress: Callable | None = None, worker: Worker | None = None) -> dict:
    """Render ``graph`` (nodes ``wanted``) in a worker process.

    A fresh worker is started unless ``worker`` is given (and closed after
    the render when it was started here). ``timeout_s`` bounds each node
    (default :data:`DEFAULT_RENDER_TIMEOUT_S`). Raises
    :class:`NodeCrashedError` / :class:`NodeTimeoutError` naming the node.
    """
    from .graph import _render_task
    timeout = DEFAULT_RENDER_TIMEOUT_S if timeout_s is None else float(timeout_s)
    if timeout <= 0:
        from .errors import ParameterError
        raise ParameterError(f"timeout_s must be > 0 s; got {timeout_s!r}")
    own = worker is None
    w = Worker() if own else worker
    count = [0]

    def on_progress(label):
        if progress is not None:
            progress(label, count[0], None)
        count[0] += 1

    try:
        return w.call(_render_task, graph, list(wanted), duration_s, timeout_s=timeout, label="(graph set-up)",
                      on_progress=on_progress)
    finally:
        if own:
            w.close()


# ------------------------------------------------------------------- scans
def _scan_task(path: str, sample_rate: float, progress=None) -> dict:
    """Worker entry: describe one plugin (failures come back as data)."""
    from .thirdparty import scan_plugin
    if progress is not None:
        progress(path)
    return scan_plugin(path, sample_rate)


def scan_plugins(paths, *, sample_rate: float = 44100.0, timeout_s: float = DEFAULT_SCAN_TIMEOUT_S, jobs: int = 1,
                 progress: Callable | None = None) -> list[dict]:
    """Scan plugin files in worker processes, one plugin at a time each.

    Returns one dict per path (in the order given) with ``status`` ``"ok"``,
    ``"failed"`` (the plugin would not load: ``error`` says why),
    ``"crashed"`` or ``"timeout"``. ``progress(path, done, total)`` is
    called after each plugin.
    """
    paths = [str(p) for p in paths]
    jobs = max(1, min(int(jobs), len(paths) or 1))
    results: dict[int, dict] = {}
    lock = threading.Lock()
    next_index = [0]
    done = [0]

    def take():
        with lock:
            i = next_index[0]
            if i >= len(paths):
                return None
            next_index[0] += 1
            return i

    def run():
        w = None
        try:
            while True:
                i = take()
                if i is None:
                    return
                path = paths[i]
                t0 = time.perf_counter()
                if w is None or not w.alive:
                    w = Worker()
                try:
                    res = w.call(_scan_task, path, sample_rate, timeout_s=timeout_s, label=path)
                except NodeCrashedError as e:
                    res = {"path": path, "status": "crashed", "error": str(e)}
                    w = None
                except NodeTimeoutError as e:
                    res = {"path": path, "status": "timeout", "error": str(e)}
                    w = None
                except WorkerError as e:
                    res = {"path": path, "status": "failed", "error": str(e).splitlines()[0]}
                res.setdefault("scan_s", round(time.perf_counter() - t0, 3))
                with lock:
                    results[i] = res
                    done[0] += 1
                    if progress is not None:
                        progress(path, done[0], len(paths))
        finally:
            if w is not None:
                w.close()

    threads = [threading.Thread(target=run, daemon=True) for _ in range(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [results[i] for i in range(len(paths))]
