# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
What 3D from depth costs: the node's depth stage alone, and the node with depth on and off.

:func:`depth_stage` times, in this process, the call the node's inference thread makes
per frame (``depth_input.locate_detections``: message to array, camera model, robust
location of every box) on the benchmark scene's registered depth with
``DETECTIONS`` boxes. :func:`depth_on_off` interleaves round trips through two graphs,
one node with ``use_depth`` and one without, on the same frame.
"""

import numpy as np

from .stats import interleave, ratio, summarise

# The case: a 640x480 frame with 20 detections.
DETECTIONS = 20


def bench_boxes(scene, count=DETECTIONS, seed=0):
    """Return (count, 4) boxes: the scene's objects, then random boxes of their sizes."""
    height, width = scene.image.shape[:2]
    boxes = [obj.box for obj in scene.objects][:count]
    rng = np.random.default_rng(seed)
    while len(boxes) < count:
        size = rng.uniform(0.1, 0.38) * min(width, height)
        x0, y0 = rng.uniform(0, width - size), rng.uniform(0, height - size)
        boxes.append((x0, y0, x0 + size, y0 + size))
    return np.array(boxes, np.float64)


def depth_stage(scene, repetitions, warmup):
    """Time the node's per-frame 3D call on ``scene`` with DETECTIONS boxes; a summary."""
    import time

    from vlm_perception.conversion import array_to_image, camera_info_from_intrinsics
    from vlm_perception.depth_input import DepthFrame, locate_detections
    from vlm_perception.params import defaults

    height, width = scene.image.shape[:2]
    colour = array_to_image(scene.image, 'rgb8')
    colour.header.frame_id = 'bench_camera'
    frame = DepthFrame(array_to_image(scene.depth, '16UC1', colour.header),
                       camera_info_from_intrinsics(scene.intrinsics, width, height), '')
    boxes = bench_boxes(scene)
    config = defaults()

    def side():
        start = time.perf_counter()
        positions, _ = locate_detections(frame, colour.header, (width, height), boxes, config)
        return {'depth': time.perf_counter() - start, 'located': float(np.isfinite(
            positions).all(axis=1).sum())}

    samples = interleave({'depth': side}, repetitions, warmup)['depth']
    return {'detections': len(boxes), 'frame': f'{width}x{height}',
            'median_located': float(np.median(samples['located'])),
            **summarise(samples['depth'])}


def depth_on_off(graph_off, graph_on, repetitions, warmup, timeout, progress=None):
    """End-to-end round trips through a node without and with depth, interleaved."""
    samples = interleave({'depth_off': lambda: graph_off.round_trip(timeout),
                          'depth_on': lambda: graph_on.round_trip(timeout)},
                         repetitions, warmup, progress)
    off = summarise(samples['depth_off']['end_to_end'])
    on = summarise(samples['depth_on']['end_to_end'])
    stages, values = graph_on.stage_medians_ms()
    return {
        'end_to_end_off': off,
        'end_to_end_on': on,
        'on_over_off': ratio(on['median_ms'], off['median_ms']),
        'node_depth_median_ms': stages.get('depth'),
        'node_stage_medians_ms': stages,
        'frames_without_depth': int(values.get('frames_without_depth') or 0),
    }
