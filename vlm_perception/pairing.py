# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Which frame meets which command, and the hand-over to the inference thread.

Plain logic without ROS: every time is a float in seconds passed in by the
caller (the node passes its clock's now and the image's header stamp), so the
tests drive it with made-up clocks.

- :func:`parse_command` splits command text into bounded, de-duplicated queries.
- :class:`FramePairing` applies the sync policy ('latest' or 'on_command').
- :class:`DepthPairing` gives each colour frame the depth frame nearest its stamp.
- :class:`LatestSlot` is the one-item mailbox to the worker thread: a newer
  frame replaces an unprocessed one, which is counted as dropped.
- :class:`RateMeter` and :class:`LatencyWindow` feed the diagnostics.
"""

from collections import deque
import math
import re
import threading
from typing import Any, NamedTuple

import numpy as np

SYNC_POLICIES = ('latest', 'on_command')

# Commas and semicolons, ASCII and the full-width and ideographic forms CJK text uses.
_SEPARATORS = re.compile('[,;\uff0c\uff1b\u3001]')


class ParsedCommand(NamedTuple):
    """The queries of one command and, when limits cut something, a line saying what."""

    queries: list
    cut: str


def parse_command(text, max_queries, max_query_chars):
    """
    Split a command into queries.

    Phrases are separated by commas or semicolons; each is stripped and its
    inner runs of white space become one space; empty phrases are dropped and
    repeats keep their first place. A phrase longer than ``max_query_chars``
    characters is cut to that length, and only the first ``max_queries``
    distinct phrases are kept. Returns a ParsedCommand: ``queries`` (list of
    str, empty for an empty or blank command) and ``cut`` ('' when nothing was
    cut, else one line for the log). Work and output are linear in the text.
    """
    if max_queries < 1 or max_query_chars < 1:
        raise ValueError('max_queries and max_query_chars must be at least 1')
    queries, seen = [], set()
    shortened = extra = 0
    for phrase in _SEPARATORS.split(text):
        phrase = ' '.join(phrase.split())
        if len(phrase) > max_query_chars:
            phrase = phrase[:max_query_chars].rstrip()
            shortened += 1
        if not phrase or phrase in seen:
            continue
        if len(queries) == max_queries:
            extra += 1
            continue
        seen.add(phrase)
        queries.append(phrase)
    notes = []
    if extra:
        notes.append(f'kept the first {max_queries} queries, dropped {extra} more')
    if shortened:
        notes.append(f'cut {shortened} phrase(s) to {max_query_chars} characters')
    return ParsedCommand(queries, '; '.join(notes))


class Job(NamedTuple):
    """One inference to run: a frame and the command it answers."""

    frame: Any        # what the caller passed to on_frame (the Image message)
    stamp: float      # the frame's stamp, seconds
    command: str      # the command text as received
    queries: tuple    # its queries, at least one


class Work(NamedTuple):
    """One frame for the inference thread: the paired job, its depth, when it arrived."""

    job: Any          # Job: the Image message, its stamp, the command
    depth: Any        # depth_input.DepthFrame, or None without use_depth
    received: float   # time.monotonic() of the hand-over


class Step(NamedTuple):
    """
    What the pairing decided after one event.

    ``status`` is one of 'process' (``job`` is set), 'idle' (no command to
    answer), 'set' (a command is now in force), 'cleared' (an empty command
    removed it), 'waiting' (on_command: no frame close enough yet) or 'expired'
    (on_command: gave up on the command). ``note`` is a line for the log, ''
    when there is nothing to say.
    """

    status: str
    job: Any = None
    note: str = ''


class FramePairing:
    """
    Pair frames with commands under a sync policy; thread-safe.

    'latest': every frame is processed with the command in force; a command
    holds until replaced, and an empty one clears it.
    'on_command': each command is answered once, on the frame whose stamp is
    nearest its arrival time within ``sync_slop`` seconds, taken from the last
    ``buffer_size`` frames; failing that, the first later frame within the
    slop; it gives up once the clock is more than ``sync_slop`` from the
    arrival (checked on each frame and in :meth:`poll`). A frame with stamp 0
    (unstamped driver) counts as stamped at its arrival.
    ``policy`` and ``sync_slop`` can be set at any time.
    """

    def __init__(self, policy='latest', sync_slop=0.1, buffer_size=8):
        if buffer_size < 1:
            raise ValueError('buffer_size must be at least 1')
        self._lock = threading.Lock()
        self._frames = deque(maxlen=int(buffer_size))  # (stamp, frame), on_command only
        self._command = None   # (text, queries tuple) in force, or None
        self._pending = None   # (text, queries, arrival) awaiting a frame, on_command only
        self._policy = 'latest'
        self._slop = 0.0
        self.policy = policy
        self.sync_slop = sync_slop

    @property
    def policy(self):
        """Return the sync policy, 'latest' or 'on_command'."""
        return self._policy

    @policy.setter
    def policy(self, value):
        if value not in SYNC_POLICIES:
            raise ValueError(f'sync_policy must be one of {SYNC_POLICIES}, got {value!r}')
        with self._lock:
            if value != self._policy:
                # A pending answer and old frames belong to the policy being left.
                self._pending = None
                self._frames.clear()
            self._policy = value

    @property
    def sync_slop(self):
        """Largest distance in seconds between a command's arrival and its frame's stamp."""
        return self._slop

    @sync_slop.setter
    def sync_slop(self, value):
        value = float(value)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f'sync_slop must be a finite number >= 0, got {value}')
        with self._lock:
            self._slop = value

    @property
    def command(self):
        """Return the command in force as (text, queries), or None."""
        return self._command

    @property
    def buffered(self):
        """Return how many recent frames are held for on_command."""
        return len(self._frames)

    @property
    def pending(self):
        """Return True while an on_command command waits for its frame."""
        return self._pending is not None

    def on_command(self, text, queries, now):
        """Take a new command (``queries`` empty clears it) arriving at ``now``; returns Step."""
        queries = tuple(queries)
        with self._lock:
            if not queries:
                self._command = self._pending = None
                return Step('cleared', note='command cleared: no inference until the next one')
            self._command = (text, queries)
            if self._policy == 'latest':
                return Step('set')
            self._prune(now)
            self._pending = (text, queries, float(now))
            if self._frames:
                stamp, frame = min(self._frames, key=lambda item: abs(item[0] - now))
                if abs(stamp - now) <= self._slop:
                    self._pending = None
                    return Step('process', Job(frame, stamp, text, queries))
            return Step('waiting', note=self._waiting_note())

    def on_frame(self, frame, stamp, now):
        """Take a frame stamped ``stamp`` arriving at ``now``; returns Step."""
        stamp = float(stamp) if stamp > 0 else float(now)
        with self._lock:
            if self._policy == 'latest':
                if self._command is None:
                    return Step('idle')
                return Step('process', Job(frame, stamp, *self._command))
            self._frames.append((stamp, frame))
            self._prune(now)
            if self._pending is None:
                return Step('idle')
            text, queries, arrival = self._pending
            if abs(stamp - arrival) <= self._slop:
                self._pending = None
                return Step('process', Job(frame, stamp, text, queries))
            if stamp > arrival + self._slop or abs(now - arrival) > self._slop:
                return self._expire()
            return Step('waiting', note=self._waiting_note())

    def poll(self, now):
        """Give up on a pending command once the clock is past the slop; returns Step."""
        with self._lock:
            if self._pending is None:
                return Step('idle')
            if abs(now - self._pending[2]) > self._slop:
                return self._expire()
            return Step('waiting', note=self._waiting_note())

    def _prune(self, now):
        # A frame older than now - slop can never be near a command arriving now or later.
        oldest = now - self._slop
        if any(stamp < oldest for stamp, _ in self._frames):
            kept = [item for item in self._frames if item[0] >= oldest]
            self._frames.clear()
            self._frames.extend(kept)

    def _waiting_note(self):
        return (f'no frame stamped within {self._slop:.3f} s of the command yet; '
                'waiting for one')

    def _expire(self):
        text = self._pending[0]
        self._pending = None
        shown = text if len(text) <= 60 else text[:60] + '...'
        return Step('expired', note=f'gave up on command {shown!r}: no frame stamped within '
                                    f'{self._slop:.3f} s of its arrival')


class DepthPairing:
    """
    Give each colour frame the buffered depth frame nearest in stamp, within a slop; thread-safe.

    The last ``capacity`` depth frames are kept (with on_command pairing the
    colour frame chosen may be a buffered one, so its depth must be there too).
    A colour frame is decided as soon as no later depth frame could be nearer
    (a depth frame stamped at or after it has arrived) and otherwise waits, at
    most ``slop`` seconds after its own arrival, for its depth; then it goes on
    with the nearest depth within the slop, or with none. At most ``max_waiting``
    colour frames wait at once: one more and the oldest waiting goes on as it is.

    Every method returns a list of decisions, oldest first: ``(item, depth)``
    pairs where ``item`` is what was passed to :meth:`add_frame` and ``depth``
    what was passed to :meth:`add_depth`, or None when no depth frame fits.
    Times are seconds: stamps from the messages, ``now`` from the caller's clock.
    """

    def __init__(self, slop=0.05, capacity=30, max_waiting=4):
        if capacity < 1 or max_waiting < 1:
            raise ValueError('capacity and max_waiting must be at least 1')
        self._lock = threading.Lock()
        self._depths = deque(maxlen=int(capacity))   # (stamp, depth), stamps ascending
        self._waiting = deque()                       # (stamp, arrival, item)
        self._max_waiting = int(max_waiting)
        self._slop = 0.0
        self.slop = slop

    @property
    def slop(self):
        """Largest distance in seconds between a colour frame's stamp and its depth's."""
        return self._slop

    @slop.setter
    def slop(self, value):
        value = float(value)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f'depth_slop must be a finite number >= 0, got {value}')
        with self._lock:
            self._slop = value

    @property
    def waiting(self):
        """Return how many colour frames wait for their depth."""
        return len(self._waiting)

    def add_depth(self, depth, stamp, now):
        """Buffer a depth frame stamped ``stamp``; returns the colour frames it decides."""
        with self._lock:
            stamp = float(stamp)
            if self._depths and stamp < self._depths[-1][0]:
                # Out of order (a bag replayed, a driver restarted): start afresh.
                self._depths.clear()
            self._depths.append((stamp, depth))
            return self._decide(now)

    def add_frame(self, item, stamp, now):
        """Take a colour frame stamped ``stamp`` arriving at ``now``; returns decisions."""
        with self._lock:
            self._waiting.append((float(stamp), float(now), item))
            decided = []
            if len(self._waiting) > self._max_waiting:
                decided.append(self._settle(self._waiting.popleft()))
            return decided + self._decide(now)

    def poll(self, now):
        """Let colour frames that waited ``slop`` seconds go on; returns decisions."""
        with self._lock:
            return self._decide(now)

    def _decide(self, now):
        decided = []
        newest = self._depths[-1][0] if self._depths else -math.inf
        while self._waiting:
            stamp, arrival, _ = self._waiting[0]
            # Decided once a depth at or after the stamp is here (none later can be
            # nearer), or once the wait is over. Frames wait in arrival order.
            if newest < stamp and now - arrival < self._slop:
                break
            decided.append(self._settle(self._waiting.popleft()))
        return decided

    def _settle(self, waiting):
        stamp, _, item = waiting
        best = min(self._depths, key=lambda entry: abs(entry[0] - stamp), default=None)
        if best is None or abs(best[0] - stamp) > self._slop:
            return item, None
        return item, best[1]


class LatestSlot:
    """
    A one-item mailbox between callbacks and one worker thread.

    put() replaces an item the worker has not taken yet (counted in
    ``dropped``), so the worker always gets the newest and no queue builds up.
    """

    def __init__(self):
        self._condition = threading.Condition()
        self._item = None
        self._full = False
        self._closed = False
        self.put_count = 0
        self.dropped = 0

    def put(self, item):
        """Offer ``item``; returns True when it replaced an untaken one (dropped)."""
        with self._condition:
            if self._closed:
                return False
            replaced = self._full
            self.dropped += replaced
            self.put_count += 1
            self._item, self._full = item, True
            self._condition.notify()
            return replaced

    def take(self, timeout=None):
        """
        Wait up to ``timeout`` seconds (None: forever) for an item and take it.

        Returns the item, or None on timeout or once the slot is closed.
        """
        with self._condition:
            self._condition.wait_for(lambda: self._full or self._closed, timeout)
            if self._closed or not self._full:
                return None
            item, self._item, self._full = self._item, None, False
            return item

    def close(self):
        """Refuse further items and wake a waiting take() so the worker can end."""
        with self._condition:
            self._closed = True
            self._item, self._full = None, False
            self._condition.notify_all()

    @property
    def closed(self):
        """Return True after close()."""
        return self._closed


class RateMeter:
    """Events per second over the last ``window`` seconds; thread-safe."""

    def __init__(self, window=5.0):
        if not window > 0:
            raise ValueError('window must be positive')
        self.window = float(window)
        self.total = 0
        self._times = deque()
        self._start = None
        self._lock = threading.Lock()

    def tick(self, now):
        """Count one event at ``now``."""
        with self._lock:
            if self._start is None:
                self._start = now
            self._times.append(now)
            self.total += 1
            self._forget(now)

    def rate(self, now):
        """Events per second in (now - window, now]; shorter span while younger than window."""
        with self._lock:
            self._forget(now)
            if self._start is None:
                return 0.0
            span = min(self.window, now - self._start)
            if span <= 0:
                return 0.0
            return len(self._times) / span

    def _forget(self, now):
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()


class LatencyWindow:
    """The last ``size`` latencies (seconds) with their median and 95th percentile."""

    def __init__(self, size=200):
        self._values = deque(maxlen=int(size))
        self._lock = threading.Lock()

    def add(self, seconds):
        """Record one latency."""
        with self._lock:
            self._values.append(float(seconds))

    def __len__(self):
        return len(self._values)

    def percentiles(self):
        """Return (median, p95) in seconds, or (None, None) before any sample."""
        with self._lock:
            values = np.fromiter(self._values, np.float64, len(self._values))
        if values.size == 0:
            return None, None
        median, p95 = np.percentile(values, [50, 95])
        return float(median), float(p95)
