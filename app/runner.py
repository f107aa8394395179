"""The model's side of a worker: one thread that loads the model, then runs every prediction.

* The model runs in one thread of its own (the "lane"), one prediction at a time, so it need not
  be thread-safe; ``load`` runs in that same thread first (a library that keeps per-thread state
  finds it where ``predict`` runs). A ``predict`` that is ``async def`` runs on the event loop
  instead, for a model that awaits (another service, a GPU queue of its own).
* The worker's event loop never waits on the lane: it answers health checks and reads request
  bodies while a prediction runs.
* At most ``max_queue`` requests wait behind the running one; the next is answered 503 with
  ``Retry-After`` at once (``OverloadedError``) instead of hanging until a load balancer gives
  up.
* ``timeout`` counts the model's own time only, from the moment a prediction starts: waiting
  in the queue never counts. A prediction that overruns it cannot be stopped (Python cannot
  cancel a thread), so the worker answers 504 to it, 503 to the requests queued behind it,
  reports unready and exits; granian starts a new worker in its place.
* With ``MODEL_PATH`` set, the weights file is checked (readable, and its SHA-256 when
  ``MODEL_SHA256`` is given) before ``load`` runs, and ``load(path)`` receives its path. A file
  that is missing or differs leaves the worker unready, saying why in ``/readyz`` and the log.

Why a lane of our own rather than ``loop.run_in_executor``: handing a request to the thread and
back costs a lock, a wake-up and a self-pipe write each way with an executor; here requests go
through a ``SimpleQueue`` and answers come back in batches, one loop wake-up for all the answers
ready at that moment. ``bench/bench.py`` measured the difference on the echo.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import os
import queue
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from app.contract import ModelSpec

LOADING, READY, FAILED, RESTARTING = "loading", "ready", "failed", "restarting"

EXIT_AFTER_TIMEOUT_SECONDS = 0.5
"""How long a worker whose model overran ``TIMEOUT`` keeps running so its answers leave."""

EXIT_STATUS_TIMEOUT = 70
"""The worker's exit status after an overrun (EX_SOFTWARE): granian logs it and respawns."""

_STOP = object()


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
        model_path: The weights file to check and hand to ``load``, if any.
        model_sha256: Its expected SHA-256 (hex), if any.
        ready_workers: A counter shared by the server's workers (``multiprocessing.Value``):
            the workers whose model has loaded. With it, a worker reports ready only once all
            ``workers`` have loaded, so a load balancer never sends a request to a replica
            where a worker still loading would answer 503.
        workers: How many workers the server runs.
        exit: Ends the worker after an overrun (tests replace it).
    """

    def __init__(
        self,
        spec: ModelSpec,
        timeout: float,
        max_queue: int,
        model_path: str | None = None,
        model_sha256: str | None = None,
        ready_workers: Any = None,
        workers: int = 1,
        exit: Callable[[int], Any] = os._exit,
    ) -> None:
        self.spec = spec
        self.timeout = timeout
        self.max_queue = max_queue
        self.model_path = model_path
        self.model_sha256 = model_sha256
        self.exit = exit
        self.ready_workers = ready_workers
        self.workers = workers
        self._counted = False
        self.state = LOADING
        self.problem = "the model is loading"
        self.load_seconds: float | None = None
        self.pending = 0  # running + waiting
        self.running_since: float | None = None  # set by the lane while predict runs
        # Pending predictions in arrival order: the first one is the one running.
        self._futures: dict[asyncio.Future[Any], None] = {}
        self._overran: asyncio.Future[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._requests: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._answers: collections.deque[tuple[asyncio.Future[Any], bool, Any, float]] = (
            collections.deque()
        )
        self.observe: Callable[[float], Any] | None = None  # the model's time, per prediction
        self._wake_lock = threading.Lock()
        self._wake_pending = False

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the lane, which loads the model first; the event loop goes on meanwhile."""
        self._loop = loop
        threading.Thread(target=self._lane, name="model", daemon=True).start()
        self._tick = min(1.0, self.timeout / 4)
        self._watchdog = loop.call_later(self._tick, self._watch)

    def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._requests.put(_STOP)
        self._uncount()

    def not_ready(self) -> str | None:
        """None when predictions are served, else why not (for ``/readyz``)."""
        if self.state != READY:
            return self.problem
        shared = self.ready_workers
        if shared is not None and shared.value < self.workers:
            return f"the model has loaded in {shared.value} of {self.workers} workers"
        return None

    def _count(self) -> None:
        if self.ready_workers is not None and not self._counted:
            with self.ready_workers.get_lock():
                self.ready_workers.value += 1
            self._counted = True

    def _uncount(self) -> None:
        if self.ready_workers is not None and self._counted:
            with self.ready_workers.get_lock():
                self.ready_workers.value -= 1
            self._counted = False

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            path = self._check_weights()
            if self.spec.load is not None:
                if self.spec.load_takes_path:
                    self.spec.load(path)
                else:
                    self.spec.load()
        except _WeightsError as e:
            self._set(FAILED, str(e))
            _log(f"[ERROR] {e}; this worker stays unready")
            return
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

    def _check_weights(self) -> str | None:
        path = self.model_path
        if path is None:
            return None
        try:
            with open(path, "rb") as f:
                if self.model_sha256 is None:
                    return path
                digest = hashlib.file_digest(f, "sha256").hexdigest()
        except OSError as e:
            raise _WeightsError(
                f"MODEL_PATH={path}: the model file cannot be read: {e.strerror or e}"
            ) from None
        if digest != self.model_sha256:
            raise _WeightsError(
                f"MODEL_PATH={path}: the file's SHA-256 is {digest}, not MODEL_SHA256="
                f"{self.model_sha256}: refusing to load it"
            )
        return path

    def _set(self, state: str, problem: str) -> None:
        def apply() -> None:
            if self.state != RESTARTING:
                self.state, self.problem = state, problem
                if state == READY:
                    self._count()

        assert self._loop is not None
        self._loop.call_soon_threadsafe(apply)

    # --- the lane ---------------------------------------------------------------------------------

    def _lane(self) -> None:
        # In the model thread. Every exception, SystemExit and KeyboardInterrupt included, is
        # handed back as a value: none may end the thread or reach the event loop as itself.
        self._load()
        get, answers, predict = self._requests.get, self._answers, self.spec.predict
        while True:
            item = get()
            if item is _STOP:
                return
            future, value = item
            if future.cancelled():  # answered already (the worker is restarting)
                continue
            self.running_since = started = time.monotonic()
            try:
                answer = (future, True, predict(value), time.monotonic() - started)
            except BaseException as e:
                answer = (future, False, e, time.monotonic() - started)
            self.running_since = None
            answers.append(answer)
            with self._wake_lock:
                if self._wake_pending:
                    continue  # the loop has a drain scheduled; it will take this answer too
                self._wake_pending = True
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        # On the event loop: every answer the lane has produced since the last drain.
        with self._wake_lock:
            self._wake_pending = False
        answers, observe = self._answers, self.observe
        while answers:
            future, ok, result, seconds = answers.popleft()
            if observe is not None:
                observe(seconds)
            if not future.done():
                future.set_result((ok, result, seconds))

    # --- predictions ----------------------------------------------------------------------------

    async def predict(self, value: Any) -> tuple[Any, float]:
        """Run the model on ``value``, after the requests ahead of it; return its answer and
        the seconds the model itself took.

        Raises:
            NotReadyError: The model is not loaded, or the worker is restarting.
            OverloadedError: The queue is full.
            ModelTimeoutError: The prediction overran ``timeout``.
            BaseException: Whatever the model raised.
        """
        if self.state != READY:
            raise NotReadyError(self.problem)
        if self.pending > self.max_queue:
            raise OverloadedError(
                f"the model is busy and {self.max_queue} requests already wait "
                f"(MAX_QUEUE={self.max_queue}); retry shortly"
            )
        if self.spec.is_async:
            return await self._predict_async(value)
        self.pending += 1
        assert self._loop is not None
        future = self._loop.create_future()
        self._futures[future] = None
        self._requests.put((future, value))
        try:
            ok, result, seconds = await future
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
        return result, seconds

    async def _predict_async(self, value: Any) -> tuple[Any, float]:
        self.pending += 1
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout) as deadline:
                answer = await self.spec.predict(value)
            seconds = time.monotonic() - started
            if self.observe is not None:
                self.observe(seconds)
            return answer, seconds
        except TimeoutError:
            if deadline.expired():
                raise ModelTimeoutError(
                    f"the model ran longer than TIMEOUT={self.timeout:g} s"
                ) from None
            raise
        finally:
            self.pending -= 1

    def _watch(self) -> None:
        started = self.running_since
        if started is not None and time.monotonic() - started > self.timeout:
            self._overrun()
            return
        assert self._loop is not None
        self._watchdog = self._loop.call_later(self._tick, self._watch)

    def _overrun(self) -> None:
        self.state = RESTARTING
        self._uncount()
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


class _WeightsError(Exception):
    """The weights file is missing, unreadable or not the one expected."""


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _log(line: str) -> None:
    os.write(2, f"[{os.getpid()}] {line}\n".encode("utf-8", "replace"))
