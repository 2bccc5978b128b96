# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Side-by-side timing: run competing variants interleaved, then summarise each.

Absolute times on shared machines drift by 2x from run to run, so a comparison
only means something when both sides run in the same process, alternately, many
times: :func:`interleave` does that (rotating the order every repetition, so no
side always runs first after the other), and :func:`summarise` gives median and
95th percentile in milliseconds.
"""

import numpy as np


def summarise(seconds):
    """
    Return {'median_ms', 'p95_ms', 'min_ms', 'max_ms', 'n'} of durations in seconds.

    Percentiles are numpy's linear ones; an empty list gives n 0 and None values.
    """
    values = np.asarray(list(seconds), dtype=np.float64) * 1e3
    if values.size == 0:
        return {'median_ms': None, 'p95_ms': None, 'min_ms': None, 'max_ms': None, 'n': 0}
    median, p95 = np.percentile(values, [50, 95])
    return {'median_ms': round(float(median), 3), 'p95_ms': round(float(p95), 3),
            'min_ms': round(float(values.min()), 3), 'max_ms': round(float(values.max()), 3),
            'n': int(values.size)}


def ratio(numerator, denominator, digits=3):
    """Return numerator / denominator rounded, or None when either is missing or zero."""
    if not numerator or not denominator:
        return None
    return round(float(numerator) / float(denominator), digits)


def interleave(sides, repetitions, warmup=1, progress=None):
    """
    Run every side ``warmup`` untimed times, then ``repetitions`` times interleaved.

    sides: {name: callable() -> {measure: seconds}}. Repetition r runs the sides in
    their order rotated by r. Returns {name: {measure: [seconds, ...]}} over the timed
    repetitions. ``progress(repetition)`` is called after each repetition when given.
    """
    names = list(sides)
    for _ in range(warmup):
        for name in names:
            sides[name]()
    samples = {name: {} for name in names}
    for repetition in range(repetitions):
        shift = repetition % len(names)
        for name in names[shift:] + names[:shift]:
            for measure, seconds in sides[name]().items():
                samples[name].setdefault(measure, []).append(seconds)
        if progress is not None:
            progress(repetition + 1)
    return samples


def summarise_all(samples):
    """Map {name: {measure: [seconds]}} to {name: {measure: summary}} (see summarise)."""
    return {name: {measure: summarise(values) for measure, values in measures.items()}
            for name, measures in samples.items()}
