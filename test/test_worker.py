# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The inference thread's order of work, with plain threads and no ROS.

Requests (the ~/detect service) wait in order and go before the next topic frame;
topic frames keep the one-item mailbox (a newer one replaces one not yet taken).
A gate holds the thread inside its first item so the tests can line work up.
"""

from concurrent.futures import CancelledError
import threading

import pytest
from vlm_perception.conversion import ImageConversionError
from vlm_perception.worker import InferenceWorker, WorkerClosed

WAIT = 30.0  # generous bound on every wait: a hang fails instead of blocking the run


def wait_until(condition, timeout=WAIT):
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; return it."""
    stop = threading.Event()
    deadline = threading.Timer(timeout, stop.set)
    deadline.start()
    try:
        while not condition() and not stop.wait(0.005):
            pass
        return condition()
    finally:
        deadline.cancel()


class Recorder:
    """A worker whose ``process`` and ``answer`` record what ran, held at the 'gate' item."""

    def __init__(self, answer=None):
        self.ran = []
        self.threads = set()
        self.inside_gate = threading.Event()
        self.open_gate = threading.Event()
        self.warnings = []
        self.errors = []
        self.worker = InferenceWorker(lambda: 'detector', self.process,
                                      self.warnings.append, self.errors.append,
                                      answer=answer or self.answer)
        assert self.worker.start() == 'detector'

    def _enter(self, kind, item):
        self.threads.add(threading.current_thread().name)
        self.ran.append((kind, item))
        if item == 'gate':
            self.inside_gate.set()
            assert self.open_gate.wait(WAIT)

    def process(self, detector, item):
        assert detector == 'detector'
        self._enter('frame', item)
        if item == 'bad':
            raise ImageConversionError('not an image')

    def answer(self, detector, item):
        assert detector == 'detector'
        self._enter('request', item)
        if item == 'fails':
            raise ValueError('no answer for this one')
        return f'answer to {item}'

    def hold(self, kind='frame'):
        """Make the thread busy inside the gate item (a frame, or a request)."""
        held = self.worker.submit('gate') if kind == 'frame' else self.worker.request('gate')
        assert self.inside_gate.wait(WAIT)
        return held

    def settle(self, futures=(), frames=0):
        """Open the gate; wait for ``futures`` and until ``frames`` frames have run."""
        self.open_gate.set()
        for future in futures:
            future.exception(timeout=WAIT)
        assert wait_until(lambda: sum(kind == 'frame' for kind, _ in self.ran) >= frames)

    def close(self):
        self.open_gate.set()
        self.worker.close()


@pytest.fixture
def recorder():
    made = Recorder()
    yield made
    made.close()


def test_waiting_requests_run_before_the_next_topic_frame_in_their_order(recorder):
    recorder.hold('frame')
    recorder.worker.submit('frame 1')
    first = recorder.worker.request('first')
    second = recorder.worker.request('second')
    assert recorder.worker.waiting_requests == 2
    recorder.settle([first, second], frames=2)
    assert recorder.ran[:4] == [('frame', 'gate'), ('request', 'first'),
                                ('request', 'second'), ('frame', 'frame 1')]
    assert first.result() == 'answer to first' and second.result() == 'answer to second'
    assert recorder.worker.waiting_requests == 0


def test_topic_frames_keep_the_latest_slot_while_requests_wait(recorder):
    recorder.hold('frame')
    recorder.worker.submit('old frame')
    request = recorder.worker.request('asked')
    assert recorder.worker.submit('new frame') is True  # replaced 'old frame'
    recorder.settle([request], frames=2)
    frames = [item for kind, item in recorder.ran if kind == 'frame']
    assert frames == ['gate', 'new frame']
    assert recorder.worker.dropped == 1
    assert ('request', 'asked') in recorder.ran


def test_requests_are_never_dropped(recorder):
    recorder.hold('request')
    futures = [recorder.worker.request(index) for index in range(50)]
    recorder.settle(futures)
    assert [future.result() for future in futures] == [f'answer to {i}' for i in range(50)]
    assert [item for kind, item in recorder.ran if kind == 'request'][1:51] == list(range(50))
    assert recorder.worker.dropped == 0


def test_a_failing_request_gets_its_error_and_the_thread_goes_on(recorder):
    failing = recorder.worker.request('fails')
    assert isinstance(failing.exception(timeout=WAIT), ValueError)
    recorder.worker.submit('bad')
    after = recorder.worker.request('after')
    assert after.result(timeout=WAIT) == 'answer to after'
    recorder.settle(frames=1)
    # Requests do not count as the topic's bad frames or failed inferences.
    assert recorder.worker.failed == 0 and recorder.errors == []
    assert recorder.worker.bad_frames == 1 and 'not an image' in recorder.warnings[0]


def test_a_conversion_error_in_a_request_reaches_the_caller():
    def malformed(detector, item):
        raise ImageConversionError('data has 10 bytes, step x height needs 20')

    recorder = Recorder(answer=malformed)
    try:
        error = recorder.worker.request('anything').exception(timeout=WAIT)
        assert isinstance(error, ImageConversionError) and 'step x height' in str(error)
        assert recorder.worker.bad_frames == 0
    finally:
        recorder.close()


def test_answers_are_completed_in_the_inference_thread(recorder):
    completed_in = []
    done = threading.Event()
    future = recorder.worker.request('where')
    future.add_done_callback(lambda _: (completed_in.append(threading.current_thread().name),
                                        done.set()))
    assert done.wait(WAIT)
    assert recorder.threads == {'vlm_inference'}
    # Done at once (callback run here) or done by the thread: never another thread.
    assert completed_in[0] in ('vlm_inference', threading.current_thread().name)


def test_close_fails_the_waiting_requests_and_every_later_one(recorder):
    running = recorder.hold('request')
    waiting = recorder.worker.request('waiting')
    closer = threading.Thread(target=recorder.worker.close)
    closer.start()
    assert isinstance(waiting.exception(timeout=WAIT), WorkerClosed)
    recorder.open_gate.set()
    closer.join(WAIT)
    assert running.result(timeout=WAIT) == 'answer to gate'  # the one running finishes
    late = recorder.worker.request('late')
    assert late.done() and isinstance(late.exception(), WorkerClosed)
    assert 'shutting down' in str(late.exception())
    assert ('request', 'waiting') not in recorder.ran


def test_a_cancelled_request_is_skipped(recorder):
    recorder.hold('frame')
    cancelled = recorder.worker.request('never')
    assert cancelled.cancel()
    kept = recorder.worker.request('kept')
    recorder.settle([kept])
    with pytest.raises(CancelledError):
        cancelled.result()
    assert ('request', 'never') not in recorder.ran and ('request', 'kept') in recorder.ran
