# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The inference thread: the one thread that loads the model and runs every inference.

One thread does all the model's work: on the CPU, torch ran the shipped model's
forward pass 1.8 times slower (22.7 against 12.7 ms) in a thread other than the one
that had built it (OpenMP thread pools). Callbacks hand it work through a one-item
mailbox (:class:`~vlm_perception.pairing.LatestSlot`), so a slow model drops frames
instead of queueing them and the executor never waits for the model. Requests (the
~/detect service) wait in a queue of their own, in order, and each is served before
the next topic frame; none is ever dropped.
"""

from collections import deque
from concurrent.futures import Future
import threading

from vlm_perception.conversion import ImageConversionError
from vlm_perception.pairing import LatestSlot


class WorkerClosed(RuntimeError):
    """The inference thread has stopped (the node is shutting down): a request was not run."""


class InferenceWorker:
    """
    Load the model in a thread of its own, then run ``process(item)`` on each item.

    ``load_detector()`` builds the model; ``process(detector, item)`` does one
    item's work; ``warn(text)`` and ``error(text)`` log (throttled by the caller).
    An ImageConversionError from ``process`` counts as a bad frame, any other
    exception as a failed inference: neither ends the thread.

    :meth:`request` queues an item for ``answer(detector, item)`` instead and returns
    a future of what it returns (or raises). Waiting requests are served first, in
    the order they came, then the topic frame in the slot.
    """

    def __init__(self, load_detector, process, warn, error, answer=None,
                 name='vlm_inference'):
        self.slot = LatestSlot()
        self._answer = answer
        self._requests = deque()           # (item, Future), oldest first
        self._wake = threading.Condition()  # a request, a frame in the slot, or close()
        self._closed = False
        self.bad_frames = 0
        self.failed = 0
        self.detector = None
        self._load_detector = load_detector
        self._process = process
        self._warn = warn
        self._error = error
        self._loaded = threading.Event()
        self._load_error = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self):
        """Start the thread and wait for the model; return it, or raise what loading raised."""
        self._thread.start()
        self._loaded.wait()
        if self._load_error is not None:
            raise self._load_error
        return self.detector

    def submit(self, item):
        """Offer ``item`` to the thread; a newer item replaces one not yet taken (dropped)."""
        replaced = self.slot.put(item)
        with self._wake:
            self._wake.notify()
        return replaced

    def request(self, item):
        """
        Queue ``item`` for ``answer(detector, item)``, ahead of topic frames.

        Returns a concurrent.futures.Future of the answer: its result, or the exception
        ``answer`` raised, or WorkerClosed when the thread stops first (or has stopped).
        Its done callbacks run in the inference thread.
        """
        future = Future()
        with self._wake:
            if not self._closed:
                self._requests.append((item, future))
                self._wake.notify()
                return future
        future.set_exception(WorkerClosed('the node is shutting down'))
        return future

    @property
    def waiting_requests(self):
        """Return how many requests wait for the thread (not counting one it runs)."""
        return len(self._requests)

    @property
    def dropped(self):
        """Return how many items were replaced before the thread took them."""
        return self.slot.dropped

    def close(self, timeout=5.0):
        """
        Refuse further items, fail waiting requests, and wait for the thread to end.

        Waiting requests get WorkerClosed; one already running finishes. Waits at most
        ``timeout`` seconds.
        """
        with self._wake:
            self._closed = True
            waiting, self._requests = self._requests, deque()
            self._wake.notify_all()
        self.slot.close()
        for _, future in waiting:
            future.set_exception(WorkerClosed('the node is shutting down'))
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)

    def _next(self):
        """Wait for work: (item, Future) of a request, (item, None) of a frame; None: closed."""
        with self._wake:
            while not self._closed:
                if self._requests:
                    return self._requests.popleft()
                # submit() puts outside this lock and then notifies under it, so a frame
                # cannot land between this look and the wait unnoticed. (Items are never
                # None: take() returns None for an empty slot.)
                item = self.slot.take(timeout=0)
                if item is not None:
                    return item, None
                self._wake.wait()
            return None

    def _run(self):
        try:
            self.detector = self._load_detector()
        except Exception as error:  # handed to start(), which raises it
            self._load_error = error
            return
        finally:
            self._loaded.set()
        while (work := self._next()) is not None:
            item, future = work
            if future is not None:
                self._run_request(item, future)
                continue
            try:
                self._process(self.detector, item)
            except ImageConversionError as error:
                self.bad_frames += 1
                self._warn(f'dropped an image ({self.bad_frames} so far): {error}')
            except Exception as error:  # one bad frame must not end the node
                if self.slot.closed:
                    return  # shutting down: the publishers may already be gone
                self.failed += 1
                self._error(f'inference failed ({self.failed} so far): '
                            f'{type(error).__name__}: {error}')

    def _run_request(self, item, future):
        if not future.set_running_or_notify_cancel():
            return  # cancelled while it waited
        try:
            answer = self._answer(self.detector, item)
        except Exception as error:  # the caller's to report; the thread goes on
            future.set_exception(error)
        else:
            future.set_result(answer)
