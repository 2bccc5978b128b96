# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The ~/detect service of vlm_perception_node: ask once about one frame, get one answer.

A request (``vlm_perception/srv/Detect``) names what to look for and carries a frame,
or leaves the image empty to use the newest one received on the camera topic. It is
split into queries as a command on the topic is, goes to the node's one inference
thread ahead of the next topic frame (:meth:`InferenceWorker.request`), and comes back
with exactly the MultimodalFeatures the topic would carry for that frame and command,
to the caller only. With use_depth the frame first waits for its depth in the same
DepthPairing as topic frames: its 3D positions come from the depth frame nearest its
stamp within depth_slop. The standing command of the topic path is left as it is.

Why an async callback: it returns to the executor at its ``await``, so images,
commands and timers go on while the model runs; any number of requests wait at once
without a thread each, and the node keeps its single-threaded executor (no callback
runs beside another, so none of the node's state needs a lock). The callback sits in
a reentrant callback group of its own: rclpy holds a callback's group until its
coroutine returns, so in the node's default (mutually exclusive) group one waiting
request would stop every other callback, and in a mutually exclusive group of its own
a second request would wait for the first before it even reached the worker. The
inference thread never touches rclpy futures: it hands each answer over through a
deque and a guard condition, whose trigger is thread-safe and wakes the executor, and
the future is completed in the executor's thread.
"""

from collections import deque
import time

from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.exceptions import InvalidHandle
from rclpy.task import Future

from vlm_perception.conversion import ImageConversionError, stamp_seconds
from vlm_perception.pairing import Job, parse_command, Work
from vlm_perception.srv import Detect
from vlm_perception.worker import WorkerClosed

SERVICE = '~/detect'
# More requests than this waiting at once are refused: a stuck client loop must not
# queue up minutes of inference ahead of everyone else.
MAX_WAITING = 32
SHUTTING_DOWN = 'the node is shutting down'


class Refusal(Exception):
    """A request that will not be run; the message is the reason the caller gets."""


class PendingRequest:
    """A request's frame waiting for its depth (use_depth); the node calls go_on(depth)."""

    def __init__(self, service, work, answer):
        self._service = service
        self._work = work
        self._answer = answer

    def go_on(self, depth):
        """Run the request with ``depth`` (a DepthFrame) now that it is decided."""
        self._service.run(self._work._replace(depth=depth), self._answer)


class DetectService:
    """
    Serve ~/detect on ``node`` through ``worker`` (its ``answer`` builds the result).

    ``config`` is the node's live parameter dict (max_queries, max_query_chars,
    detect_max_frame_age); ``images`` the ImageInput (its newest frame); ``depth`` the
    DepthInput, or None without use_depth. ``served`` and ``refused`` count answered
    requests.
    """

    def __init__(self, node, config, worker, images, depth, throttle):
        self.node = node
        self.config = config
        self.worker = worker
        self.images = images
        self.depth = depth
        self.throttle = throttle
        self.served = 0
        self.refused = 0
        self._closing = False
        self._waiting = set()     # rclpy Futures of the requests not answered yet
        self._finished = deque()  # (rclpy Future, concurrent Future), filled by the worker
        self._wake = node.create_guard_condition(self._hand_over)
        self.service = node.create_service(Detect, SERVICE, self._on_request,
                                           callback_group=ReentrantCallbackGroup())
        self.name = node.resolve_service_name(SERVICE)  # after namespace and remapping

    @property
    def waiting(self):
        """Return how many requests wait for their answer (for depth, or for the worker)."""
        return len(self._waiting)

    async def _on_request(self, request, response):
        # The answer resolves to (MultimodalFeatures, '') or (None, reason); a result,
        # not an exception, so nothing is left unretrieved when the node stops first.
        answer = Future()
        self._waiting.add(answer)
        try:
            try:
                work, note = self._work_for(request)
            except Refusal as refusal:
                msg, note = None, str(refusal)
            else:
                if self.depth is None:
                    self.run(work, answer)
                else:
                    self.depth.add_frame(PendingRequest(self, work, answer), work.job.stamp)
                msg, reason = await answer
                note = note if msg is not None else reason
        finally:
            self._waiting.discard(answer)
        response.success = msg is not None
        response.message = note
        if msg is None:
            self.refused += 1
            self.node.get_logger().warn(f'{self.name}: refused a request: {note}',
                                        throttle_duration_sec=self.throttle)
        else:
            self.served += 1
            response.result = msg
        return response

    def _work_for(self, request):
        """Return (Work, note on what the limits cut) for ``request``; raise Refusal."""
        if self._closing:
            raise Refusal(SHUTTING_DOWN)
        if len(self._waiting) > MAX_WAITING:
            raise Refusal(f'busy: {MAX_WAITING} requests are waiting already; try again')
        parsed = parse_command(request.command, self.config['max_queries'],
                               self.config['max_query_chars'])
        if not parsed.queries:
            raise Refusal('empty command: name what to look for (phrases separated by commas '
                          'or semicolons)')
        frame = request.image
        if len(frame.data) == 0:
            frame = self._newest_frame()
        stamp = stamp_seconds(frame.header.stamp)
        if stamp <= 0:  # unstamped: its arrival, as the topic path counts it
            stamp = self.node.get_clock().now().nanoseconds * 1e-9
        job = Job(frame, stamp, request.command, tuple(parsed.queries))
        return Work(job, None, time.monotonic()), parsed.cut

    def _newest_frame(self):
        """Return the newest camera frame if it is recent enough; raise Refusal."""
        topic = self.images.topic_name
        if self.images.last_frame is None:
            raise Refusal(f'no image in the request, and none received on {topic} yet')
        age = time.monotonic() - self.images.last_arrival
        limit = self.config['detect_max_frame_age']
        if age > limit:
            raise Refusal(f'no image in the request, and the newest on {topic} arrived '
                          f'{age:.2f} s ago (detect_max_frame_age {limit:g} s)')
        return self.images.last_frame

    def run(self, work, answer):
        """Hand ``work`` to the inference thread; ``answer`` gets the outcome."""
        if answer.done():  # refused while it waited for its depth
            return
        self.worker.request(work).add_done_callback(
            lambda done: self._from_worker(answer, done))

    def _from_worker(self, answer, done):
        # In the inference thread (or here, when the worker refused at once).
        self._finished.append((answer, done))
        try:
            self._wake.trigger()
        except InvalidHandle:
            pass  # the node is gone: no one is left to answer

    def _hand_over(self):
        # In the executor's thread: complete the futures the worker has answered.
        while self._finished:
            answer, done = self._finished.popleft()
            if not answer.done():
                answer.set_result(_outcome(done))

    def close(self):
        """Refuse every request still waiting, and those that still arrive."""
        self._closing = True
        for answer in list(self._waiting):
            if not answer.done():
                answer.set_result((None, SHUTTING_DOWN))


def _outcome(done):
    """Return (msg, '') or (None, reason) from the worker's finished future."""
    try:
        return done.result().msg, ''
    except ImageConversionError as error:
        return None, f'malformed image: {error}'
    except WorkerClosed:
        return None, SHUTTING_DOWN
    except Exception as error:  # the model failed on this frame; the node goes on
        return None, f'inference failed: {type(error).__name__}: {error}'
