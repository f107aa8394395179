"""The model's side of a worker: one thread that loads the model, then runs every prediction.

* The model runs in one thread of its own (the "lane"), one prediction at a time, so it need not
  be thread-safe; ``load`` runs in that same thread first (a library that keeps per-thread state
  finds it where ``predict`` runs). A ``predict`` that is ``async def`` runs on the event loop
  instead, for a model that awaits (another service, a GPU queue of its own).
* The worker's event loop never waits on the lane: it answers health checks and reads request
  bodies while a prediction runs.
* At most ``max_queue`` requests wait behind the running one, and never more than ``timeout``
  seconds of work at the model's recent pace (a moving average of its own time); the next is
  answered 503 with ``Retry-After`` at once (``OverloadedError``) instead of hanging until a
  load balancer gives up. So a fast model can queue many, and a slow one few.
* ``timeout`` counts the model's own time only, from the moment a prediction starts: waiting
  in the queue never counts. A prediction that overruns it cannot be stopped (Python cannot
  cancel a thread), so the worker answers 504 to it, 503 to the requests queued behind it,
  reports unready and exits; granian starts a new worker in its place.
* A model declared with ``@batch`` gets batches: while it runs, requests gather in the queue;
  when it is free the lane takes up to ``max_batch_size`` of them at once, waiting at most
  ``max_wait_ms`` after the oldest one arrived for more to join (so a lone request waits that
  long at most, and requests that gathered while the model ran go at once). Once requests have
  been seen to arrive further apart than that on average (one client at a time, light traffic),
  no company is expected and a lone request goes at once. A batch's answers go back one per
  request; an exception fails that batch's requests only. The queue's bounds count requests,
  and its time bound uses the model's time per item.
* A request whose client has gone before its prediction starts is dropped from the queue: the
  endpoint cancels its future, and the lane never hands it to the model.
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

import pydantic

from app import InputError
from app.contract import ModelSpec

LOADING, READY, FAILED, RESTARTING = "loading", "ready", "failed", "restarting"

EXIT_AFTER_TIMEOUT_SECONDS = 0.5
"""How long a worker whose model overran ``TIMEOUT`` keeps running so its answers leave."""

EXIT_STATUS_TIMEOUT = 70
"""The worker's exit status after an overrun (EX_SOFTWARE): granian logs it and respawns."""

_STOP = object()

PACE_WEIGHT = 0.1

ARRIVAL_WEIGHT = 0.25
"""Weight of the newest gap between two requests' arrivals in the moving average that decides
whether a lone request waits for company (``_batch_lane``)."""
"""Weight of the newest prediction's time in the moving average that bounds the queue's wait."""


class NotReadyError(Exception):
    """The model is not loaded (yet, or ever) in this worker."""


class OverloadedError(Exception):
    """More requests wait for the model than the queue holds."""


class ModelTimeoutError(Exception):
    """The prediction ran longer than ``TIMEOUT``."""


class ClientGoneError(Exception):
    """The client disconnected before its answer was ready (logged as 499)."""


class BatchFailedError(Exception):
    """The batch this request was part of failed: ``error`` is what the model raised (or what
    broke the contract), ``size`` the batch's size. One instance is shared by the batch's
    requests: ``logged`` is set by the first to log it (whichever client is still there), so
    a batch of 32 logs one traceback, not 32."""

    def __init__(self, error: BaseException, size: int, logged: bool = False) -> None:
        super().__init__(str(error))
        self.error = error
        self.size = size
        self.logged = logged


class BatchLengthError(Exception):
    """A ``@batch`` predict returned a number of answers other than its number of inputs."""


class Runner:
    """The model thread and its bounded queue, for one worker.

    Args:
        spec: The model to load and run.
        timeout: Seconds one prediction may run.
        max_queue: Requests that may wait while one runs.
        model_path: The weights file to check and hand to ``load``, if any.
        model_sha256: Its expected SHA-256 (hex), if any.
        ready_workers: Slots shared by the server's workers (``multiprocessing.Array`` of
            pids, one per worker): the live workers whose model has loaded. With it, a worker
            reports ready only once all ``workers`` have loaded, so a load balancer never
            sends a request to a replica where a worker still loading would answer 503.
        workers: How many workers the server runs.
        exit: Ends the worker after an overrun (tests replace it).
        max_batch_size: ``MAX_BATCH_SIZE``: overrides the ``@batch`` declaration's value.
        max_wait_ms: ``MAX_BATCH_WAIT_MS``: overrides the ``@batch`` declaration's value.
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
        max_batch_size: int | None = None,
        max_wait_ms: float | None = None,
    ) -> None:
        self.spec = spec
        # 0: predict takes one input. The environment's values override the declaration's.
        self.max_batch_size = (max_batch_size or spec.max_batch_size) if spec.batched else 0
        wait_ms = spec.max_wait_ms if max_wait_ms is None else max_wait_ms
        self.max_wait = wait_ms / 1000 if spec.batched else 0.0
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
        self.pace = 0.0  # seconds per item, a moving average of the recent ones
        self.running_since: float | None = None  # set by the lane while predict runs
        self.running: tuple[asyncio.Future[Any], ...] = ()  # the batch predict runs on
        # Pending predictions in arrival order: the first one is the one running.
        self._futures: dict[asyncio.Future[Any], None] = {}
        self._overran: set[asyncio.Future[Any]] = set()
        self._gone: set[asyncio.Future[Any]] = set()  # cancelled: their clients left
        self._watched: dict[Any, asyncio.Future[Any]] = {}  # disconnect watch -> request
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._requests: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # (future, ok, answer or error, the model's seconds, the batch's size on its first
        # request and 0 on the others)
        self._answers: collections.deque[tuple[asyncio.Future[Any], bool, Any, float, int]] = (
            collections.deque()
        )
        self.observe: Callable[[float], Any] | None = None  # the model's time, per prediction
        self.observe_batch: Callable[[int], Any] | None = None  # each batch's size
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
        slots = self.ready_workers
        if slots is not None:
            ready = sum(1 for pid in slots[:] if pid and alive(pid))
            if ready < self.workers:
                return f"the model has loaded in {ready} of {self.workers} workers"
        return None

    def _count(self) -> None:
        """Take a slot with this worker's pid: one that is free, or a dead worker's (a worker
        killed outright never gives its slot back, and its pid no longer counts as ready)."""
        slots = self.ready_workers
        if slots is None or self._counted:
            return
        with slots.get_lock():
            for i, pid in enumerate(slots[:]):
                if not pid or not alive(pid):
                    slots[i] = os.getpid()
                    self._counted = True
                    return

    def _uncount(self) -> None:
        slots = self.ready_workers
        if slots is None or not self._counted:
            return
        with slots.get_lock():
            for i, pid in enumerate(slots[:]):
                if pid == os.getpid():
                    slots[i] = 0
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
        if self.max_batch_size:
            self._batch_lane()
            return
        get, answers, predict = self._requests.get, self._answers, self.spec.predict
        while True:
            item = get()
            if item is _STOP:
                return
            future, value, _ = item
            if future.cancelled():  # answered already (the worker is restarting), or gone
                continue
            self.running = (future,)
            self.running_since = started = time.monotonic()
            try:
                answer = (future, True, predict(value), time.monotonic() - started, 1)
            except BaseException as e:
                answer = (future, False, e, time.monotonic() - started, 1)
            self.running_since = None
            answers.append(answer)
            self._wake()

    def _wake(self) -> None:
        """Have the event loop drain the answers, unless a drain is already scheduled."""
        with self._wake_lock:
            if self._wake_pending:
                return  # the loop has a drain scheduled; it will take these answers too
            self._wake_pending = True
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._drain)

    def _batch_lane(self) -> None:
        # In the model thread, for a @batch predict. A request's future that is cancelled
        # (its client left, or the worker is restarting) is never handed to the model.
        get, answers, predict = self._requests.get, self._answers, self.spec.predict
        size, wait, name = self.max_batch_size, self.max_wait, self.spec.name
        # A moving average of the gap between arrivals, each gap capped at 4 waits (a pause in
        # traffic counts as long, however long): once company comes less often than once a
        # wait, a lone request does not wait for it. None: no gap seen yet, so it waits.
        gap: float | None = None
        last: float | None = None
        while True:
            item = get()
            if item is _STOP:
                return
            if last is not None:
                sample = min(max(item[2] - last, 0.0), 4 * wait)
                gap = sample if gap is None else gap + ARRIVAL_WEIGHT * (sample - gap)
            last = item[2]
            if item[0].cancelled():
                continue
            batch = [item]
            alone = gap is not None and gap > wait  # no company expected within the wait
            # The wait counts from the oldest request's arrival: requests that gathered while
            # the model ran have waited already, and go at once.
            deadline = item[2] + wait
            while len(batch) < size:
                try:
                    item = get(False)
                except queue.Empty:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or alone:
                        break
                    try:
                        item = get(True, remaining)
                    except queue.Empty:
                        break
                if item is _STOP:
                    return
                sample = min(max(item[2] - last, 0.0), 4 * wait)
                gap = sample if gap is None else gap + ARRIVAL_WEIGHT * (sample - gap)
                last = item[2]
                if not item[0].cancelled():
                    batch.append(item)
            futures = tuple(it[0] for it in batch)
            values = [it[1] for it in batch]
            n = len(batch)
            self.running = futures
            self.running_since = started = time.monotonic()
            try:
                results = predict(values)
                try:
                    got = len(results)
                except TypeError:
                    got = None
                if got != n:
                    raise BatchLengthError(
                        f"{name}.predict returned "
                        + (f"{got} answers" if got is not None else type(results).__name__)
                        + f" for a batch of {n} input{'s' if n != 1 else ''}: a @batch "
                        "predict must return a list with one answer per input, in order"
                    )
                outcome = [
                    (f, not isinstance(r, BaseException), r)
                    for f, r in zip(futures, results, strict=True)
                ]
            except (InputError, pydantic.ValidationError) as e:  # the client's, not the model's
                outcome = [(f, False, e) for f in futures]
            except BatchLengthError as e:  # one line says it all: no traceback of ours
                _log(f"[ERROR] {e}; answering 500 to the batch")
                failed = BatchFailedError(e, n, logged=True)
                outcome = [(f, False, failed) for f in futures]
            except BaseException as e:
                failed = BatchFailedError(e, n)
                outcome = [(f, False, failed) for f in futures]
            seconds = time.monotonic() - started
            self.running_since = None
            self.running = ()
            for i, (future, ok, result) in enumerate(outcome):
                answers.append((future, ok, result, seconds, 0 if i else n))
            self._wake()

    def _drain(self) -> None:
        # On the event loop: every answer the lane has produced since the last drain.
        with self._wake_lock:
            self._wake_pending = False
        answers, observe = self._answers, self.observe
        while answers:
            future, ok, result, seconds, size = answers.popleft()
            if size:  # once per batch: its first request carries its size
                self._learn_pace(seconds / size)
                if observe is not None:
                    observe(seconds)
                if self.observe_batch is not None:
                    self.observe_batch(size)
            if not future.done():
                future.set_result((ok, result, seconds))

    # --- predictions ----------------------------------------------------------------------------

    async def predict(self, value: Any, disconnect: Any = None) -> tuple[Any, float]:
        """Run the model on ``value``, after the requests ahead of it; return its answer and
        the seconds the model itself took.

        Args:
            value: The validated input.
            disconnect: Returns an awaitable future that completes when the client leaves
                (granian's ``proto.client_disconnect``). A request that must wait (the model is
                busy, or gathers a batch) watches it: if its client leaves, it is dropped from
                the queue unrun, or its answer is dropped if it was running. A request that
                starts at once is not watched: its watch could save no model time, and costs
                about as much CPU as a whole echo.

        Raises:
            NotReadyError: The model is not loaded, or the worker is restarting.
            OverloadedError: The queue is full.
            ModelTimeoutError: The prediction overran ``timeout``.
            ClientGoneError: The client left before the answer was ready.
            BatchFailedError: The batch this request was in failed.
            BaseException: Whatever the model raised.
        """
        if self.state != READY:
            raise NotReadyError(self.problem)
        # Waiting: the requests pending less the one (or the batch) the model runs.
        if self.pending - max(1, len(self.running)) >= self.max_queue:
            raise OverloadedError(
                f"the model is busy and {self.max_queue} requests already wait "
                f"(MAX_QUEUE={self.max_queue}); retry shortly"
            )
        if self.pending and self.pending * self.pace > self.timeout:
            # The queue is bounded in time too: at the model's recent pace, this request would
            # wait longer than one prediction may run. Better a 503 now than an answer after
            # the client or the load balancer has given up.
            raise OverloadedError(
                f"the model is busy: the {self.pending} requests ahead would take about "
                f"{self.pending * self.pace:.0f} s, more than TIMEOUT={self.timeout:g} s; "
                "retry shortly"
            )
        if self.spec.is_async:
            return await self._predict_async(value)
        watch = None
        if disconnect is not None and (self.pending or self.max_batch_size):
            watch = disconnect()
            if not hasattr(watch, "add_done_callback"):
                # granian's already-complete awaitable: the client has gone already.
                raise ClientGoneError("the client left before its answer was ready")
            watch.add_done_callback(self._leave)
        self.pending += 1
        assert self._loop is not None
        future = self._loop.create_future()
        self._futures[future] = None
        if watch is not None:
            self._watched[watch] = future
        self._requests.put((future, value, time.monotonic()))
        try:
            ok, result, seconds = await future
        except asyncio.CancelledError:
            if future in self._overran:
                raise ModelTimeoutError(self.problem) from None
            if self.state == RESTARTING:
                raise NotReadyError(self.problem) from None
            if future in self._gone:
                raise ClientGoneError("the client left before its answer was ready") from None
            raise
        finally:
            self.pending -= 1
            self._futures.pop(future, None)
            self._gone.discard(future)
            if watch is not None:
                del self._watched[watch]
                if not watch.done():
                    # Stop watching (the connection may carry more requests), without the
                    # call back granian makes on a cancel.
                    watch.remove_done_callback(self._leave)
                    watch.cancel()
        if watch is not None and not watch.cancelled():
            # The client left while its prediction ran: the answer has no one to go to.
            raise ClientGoneError("the client left before its answer was ready")
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
            self._learn_pace(seconds)
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

    def _leave(self, watch: Any) -> None:
        """A watched client disconnected: the lane skips its request if it has not started."""
        future = self._watched.get(watch)
        if future is None or watch.cancelled() or future.done():
            return
        self._gone.add(future)
        future.cancel()

    def _learn_pace(self, seconds: float) -> None:
        # The first prediction sets the pace; then a moving average follows the model's time.
        self.pace = seconds if not self.pace else self.pace + PACE_WEIGHT * (seconds - self.pace)

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
        self._overran = set(self.running)
        for future in futures:
            future.cancel()
        assert self._loop is not None
        self._loop.call_later(EXIT_AFTER_TIMEOUT_SECONDS, self.exit, EXIT_STATUS_TIMEOUT)


class _WeightsError(Exception):
    """The weights file is missing, unreadable or not the one expected."""


def alive(pid: int) -> bool:
    """Whether process ``pid`` still exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _log(line: str) -> None:
    os.write(2, f"[{os.getpid()}] {line}\n".encode("utf-8", "replace"))
