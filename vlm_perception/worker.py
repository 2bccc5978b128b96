# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The inference thread: the one thread that loads the model and runs every inference.

One thread does all the model's work: on the CPU, torch ran the shipped model's
forward pass 1.8 times slower (22.7 against 12.7 ms) in a thread other than the one
that had built it (OpenMP thread pools). Callbacks hand it work through a one-item
mailbox (:class:`~vlm_perception.pairing.LatestSlot`), so a slow model drops frames
instead of queueing them and the executor never waits for the model.
"""

import threading

from vlm_perception.conversion import ImageConversionError
from vlm_perception.pairing import LatestSlot


class InferenceWorker:
    """
    Load the model in a thread of its own, then run ``process(item)`` on each item.

    ``load_detector()`` builds the model; ``process(detector, item)`` does one
    item's work; ``warn(text)`` and ``error(text)`` log (throttled by the caller).
    An ImageConversionError from ``process`` counts as a bad frame, any other
    exception as a failed inference: neither ends the thread.
    """

    def __init__(self, load_detector, process, warn, error, name='vlm_inference'):
        self.slot = LatestSlot()
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
        return self.slot.put(item)

    @property
    def dropped(self):
        """Return how many items were replaced before the thread took them."""
        return self.slot.dropped

    def close(self, timeout=5.0):
        """Refuse further items and wait up to ``timeout`` seconds for the thread to end."""
        self.slot.close()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)

    def _run(self):
        try:
            self.detector = self._load_detector()
        except Exception as error:  # handed to start(), which raises it
            self._load_error = error
            return
        finally:
            self._loaded.set()
        while (item := self.slot.take()) is not None:
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
