"""The model's side of a worker: one thread that loads the model, then runs every prediction.

* The model runs in one thread of its own, one prediction at a time, so it need not be
  thread-safe; ``load`` runs in that same thread first (a library that keeps per-thread state
  finds it where ``predict`` runs).
* The worker's event loop never waits on it: it answers health checks and reads request bodies
  while a prediction runs.
* At most ``max_queue`` requests wait behind the running one; the next is answered 503 with
  ``Retry-After`` at once (``OverloadedError``) instead of hanging until a load balancer gives up.
* ``timeout`` counts the model's own time only, from the moment a prediction starts: waiting
  in the queue never counts. A prediction that overruns it cannot be stopped (Python cannot
  cancel a thread), so the worker answers 504 to it, 503 to the requests queued behind it,
  reports unready and exits; granian starts a new worker in its place.
"""

from __future__ import annotations

import asyncio
import os
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from app.contract import ModelSpec

LOADING, READY, FAILED, RESTARTING = "loading", "ready", "failed", "restarting"

EXIT_AFTER_TIMEOUT_SECONDS = 0.5
"""How long a worker whose model overran ``TIMEOUT`` keeps running so its answers leave."""

EXIT_STATUS_TIMEOUT = 70
"""The worker's exit status after an overrun (EX_SOFTWARE): granian logs it and respawns."""


class NotReadyError(Exception):
    """The model is not loaded (yet, or ever) in this worker."""


class OverloadedError(Exception):
    """More requests wait for the model than the queue holds."""


class ModelTimeoutError(Exception):
    """The prediction ran longer than ``TIMEOUT``."""


class Runner:
    """The model thread and its bounded queue, for one worker.

    Args:
        spec: The model to load and run.
        timeout: Seconds one prediction may run.
        max_queue: Requests that may wait while one runs.
        exit: Ends the worker after an overrun (tests replace it).
    """

    def __init__(
        self,
        spec: ModelSpec,
        timeout: float,
        max_queue: int,
        exit: Callable[[int], Any] = os._exit,
    ) -> None:
        self.spec = spec
        self.timeout = timeout
        self.max_queue = max_queue
        self.exit = exit
        self.state = LOADING
        self.problem = "the model is loading"
        self.load_seconds: float | None = None
        self.pending = 0  # running + waiting
        self.running_since: float | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        # Pending predictions in arrival order: the first one is the one running.
        self._futures: dict[asyncio.Future[Any], None] = {}
        self._overran: asyncio.Future[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watchdog: asyncio.TimerHandle | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start loading the model in its thread; the event loop goes on meanwhile."""
        self._loop = loop
        self._executor.submit(self._load)
        self._tick = min(1.0, self.timeout / 4)
        self._watchdog = loop.call_later(self._tick, self._watch)

    def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def not_ready(self) -> str | None:
        """None when predictions are served, else why not (for ``/readyz``)."""
        return None if self.state == READY else self.problem

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            if self.spec.load is not None:
                self.spec.load()
        except BaseException as e:
            detail = "".join(traceback.format_exception(e))
            self._set(FAILED, f"the model failed to load: {_one_line(e)}")
            _log(f"[ERROR] {self.spec.name}.load() failed; this worker stays unready:\n{detail}")
            return
        self.load_seconds = time.perf_counter() - started
        self._set(READY, "")
        _log(
            f"[INFO] model {self.spec.name} version {self.spec.version} ready "
            f"(load took {self.load_seconds:.3f} s)"
        )

    def _set(self, state: str, problem: str) -> None:
        def apply() -> None:
            if self.state != RESTARTING:
                self.state, self.problem = state, problem

        if self._loop is not None:
            self._loop.call_soon_threadsafe(apply)
        else:  # pragma: no cover - start() always sets the loop first
            apply()

    # --- predictions ----------------------------------------------------------------------------

    async def predict(self, value: Any) -> Any:
        """Run the model on ``value`` in its thread, after the requests ahead of it.

        Raises:
            NotReadyError: The model is not loaded.
            OverloadedError: The queue is full.
            ModelTimeoutError: The prediction overran ``timeout``, or the worker is restarting.
            BaseException: Whatever the model raised.
        """
        if self.state != READY:
            raise NotReadyError(self.problem)
        if self.pending > self.max_queue:
            raise OverloadedError(
                f"the model is busy and {self.max_queue} requests already wait "
                f"(MAX_QUEUE={self.max_queue}); retry shortly"
            )
        self.pending += 1
        future = asyncio.wrap_future(self._executor.submit(self._call, value))
        self._futures[future] = None
        try:
            ok, result = await future
        except asyncio.CancelledError:
            if future is self._overran:
                raise ModelTimeoutError(self.problem) from None
            if self.state == RESTARTING:
                raise NotReadyError(self.problem) from None
            raise
        finally:
            self.pending -= 1
            self._futures.pop(future, None)
        if not ok:
            raise result
        return result

    def _call(self, value: Any) -> tuple[bool, Any]:
        # In the model thread. Every exception, SystemExit and KeyboardInterrupt included, is
        # handed back as a value: none may end the thread or reach the event loop as itself.
        self.running_since = time.monotonic()
        try:
            return True, self.spec.predict(value)
        except BaseException as e:
            return False, e
        finally:
            self.running_since = None

    def _watch(self) -> None:
        started = self.running_since
        if started is not None and time.monotonic() - started > self.timeout:
            self._overrun()
            return
        assert self._loop is not None
        self._watchdog = self._loop.call_later(self._tick, self._watch)

    def _overrun(self) -> None:
        self.state = RESTARTING
        self.problem = f"the model ran longer than TIMEOUT={self.timeout:g} s; this worker restarts"
        _log(
            f"[CRITICAL] a prediction has run for more than TIMEOUT={self.timeout:g} s: "
            f"answering 504, and 503 to the {max(0, self.pending - 1)} requests queued behind "
            "it; this worker exits and granian starts a new one"
        )
        futures = list(self._futures)
        self._overran = futures[0] if futures else None
        for future in futures:
            future.cancel()
        assert self._loop is not None
        self._loop.call_later(EXIT_AFTER_TIMEOUT_SECONDS, self.exit, EXIT_STATUS_TIMEOUT)


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _log(line: str) -> None:
    os.write(2, f"[{os.getpid()}] {line}\n".encode("utf-8", "replace"))


__all__ = ["ModelTimeoutError", "NotReadyError", "OverloadedError", "Runner"]
