# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
RViz markers of the detections that have a 3D position (``~/markers``).

One visualization_msgs/MarkerArray per frame: a DELETEALL first, so markers of
the previous frame vanish, then per located detection a CUBE of its size at its
centroid, coloured per query as in the debug image, and a TEXT_VIEW_FACING label
(query, score, distance) just above it.
"""

import numpy as np

from vlm_perception.conversion import distance_label, PALETTE

NAMESPACE = 'vlm_perception'
MIN_SIZE = 0.01     # metres: a cube this thin still shows
TEXT_HEIGHT = 0.03  # metres


def detection_markers(header, labels, query_indices, scores, positions, sizes):
    """
    Return a MarkerArray for one frame's detections.

    ``header``: the frame's std_msgs/Header (markers are in its frame_id);
    ``labels`` N strings, ``query_indices`` (N,) colour index, ``scores`` (N,),
    ``positions`` and ``sizes`` (N, 3) metres, NaN rows for detections without a
    position (left out).
    """
    from visualization_msgs.msg import Marker, MarkerArray

    markers = [Marker(header=header, ns=NAMESPACE, action=Marker.DELETEALL)]
    positions = np.asarray(positions, np.float64).reshape(-1, 3)
    sizes = np.asarray(sizes, np.float64).reshape(-1, 3)
    for index, (label, query, score, position, size) in enumerate(
            zip(labels, query_indices, scores, positions, sizes)):
        if not np.all(np.isfinite(position)):
            continue
        red, green, blue = (PALETTE[int(query) % len(PALETTE)] / 255.0).tolist()
        size = np.maximum(np.nan_to_num(size), MIN_SIZE)
        cube = Marker(header=header, ns=NAMESPACE, id=2 * index, type=Marker.CUBE,
                      action=Marker.ADD)
        cube.pose.position.x, cube.pose.position.y, cube.pose.position.z = position.tolist()
        cube.pose.orientation.w = 1.0
        cube.scale.x, cube.scale.y, cube.scale.z = size.tolist()
        cube.color.r, cube.color.g, cube.color.b, cube.color.a = red, green, blue, 0.6
        text = Marker(header=header, ns=NAMESPACE, id=2 * index + 1,
                      type=Marker.TEXT_VIEW_FACING, action=Marker.ADD,
                      text=distance_label(label, score, position))
        # Above the cube: -y is up in an optical frame.
        text.pose.position.x = float(position[0])
        text.pose.position.y = float(position[1] - size[1] / 2 - TEXT_HEIGHT)
        text.pose.position.z = float(position[2])
        text.pose.orientation.w = 1.0
        text.scale.z = TEXT_HEIGHT
        text.color.r = text.color.g = text.color.b = text.color.a = 1.0
        markers += [cube, text]
    return MarkerArray(markers=markers)
