"""Run a function in a forked child process with a wall-clock limit per call (benchmark helper).

A ``ChildWorker`` forks once, optionally warms the function up there (imports, first-call caches), then
serves calls one at a time over a pipe. A call that outlives its limit kills the child, so a slow solver
(or one stuck in C code) cannot hang the benchmark; the worker is then dead and ``alive`` is False.
"""

from __future__ import annotations

import multiprocessing as mp


def _serve(fn, conn, warmup_arg):
    try:
        if warmup_arg is not None:
            fn(warmup_arg)
        conn.send(("ready", None))
    except BaseException as exc:  # report start-up failures (missing package, ...) to the parent
        conn.send(("err", f"{type(exc).__name__}: {exc}"))
        return
    while True:
        arg = conn.recv()
        if arg is None:
            return
        try:
            conn.send(("ok", fn(arg)))
        except Exception as exc:
            conn.send(("err", f"{type(exc).__name__}: {exc}"))


class ChildWorker:
    """Serve ``fn(arg)`` from a forked child; ``call`` raises TimeoutError past ``timeout`` seconds."""

    def __init__(self, fn, warmup_arg=None, start_timeout: float = 300.0):
        ctx = mp.get_context("fork")  # the child inherits fn and the thread-limiting environment
        self._conn, child_conn = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(fn, child_conn, warmup_arg), daemon=True)
        self._proc.start()
        child_conn.close()
        self._receive(start_timeout)  # "ready", or raises if start-up failed or hung

    @property
    def alive(self) -> bool:
        return self._proc.is_alive()

    def _receive(self, timeout):
        if not self._conn.poll(timeout):
            self.kill()
            raise TimeoutError(f"no answer within {timeout:g} s")
        try:
            status, value = self._conn.recv()
        except EOFError:  # child died (segfault, out of memory)
            self.kill()
            raise RuntimeError(f"child process died (exit code {self._proc.exitcode})") from None
        if status == "err":
            raise RuntimeError(value)
        return value

    def call(self, arg, timeout: float):
        self._conn.send(arg)
        return self._receive(timeout)

    def kill(self) -> None:
        if self._proc.is_alive():
            self._proc.kill()
        self._proc.join(5)

    def close(self) -> None:
        if self._proc.is_alive():
            try:
                self._conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            self._proc.join(5)
        self.kill()
        self._conn.close()
