# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of the RViz markers built for located detections."""

import numpy as np
import pytest
from std_msgs.msg import Header

from vlm_perception.conversion import PALETTE

visualization_msgs = pytest.importorskip('visualization_msgs.msg')
Marker = visualization_msgs.Marker


def test_delete_all_first_then_a_cube_and_a_label_per_located_detection():
    from vlm_perception.markers import detection_markers, MIN_SIZE

    header = Header(frame_id='camera_color_optical_frame')
    positions = np.array([[0.1, 0.05, 0.8], [np.nan] * 3, [-0.2, 0.0, 1.1]])
    sizes = np.array([[0.06, 0.04, 0.0], [np.nan] * 3, [0.1, 0.1, 0.05]])
    array = detection_markers(header, ['red cup', 'blue ball', 'red cup'], [0, 1, 0],
                              [0.91, 0.5, 0.42], positions, sizes).markers
    assert array[0].action == Marker.DELETEALL
    assert [m.type for m in array[1:]] == [Marker.CUBE, Marker.TEXT_VIEW_FACING] * 2
    assert len({(m.ns, m.id) for m in array[1:]}) == 4
    assert all(m.header.frame_id == 'camera_color_optical_frame' for m in array)
    first, label = array[1], array[2]
    assert (first.pose.position.x, first.pose.position.y, first.pose.position.z) == \
        pytest.approx((0.1, 0.05, 0.8))
    # A flat surface still shows: the thinnest side is MIN_SIZE.
    assert (first.scale.x, first.scale.y, first.scale.z) == pytest.approx((0.06, 0.04, MIN_SIZE))
    assert (first.color.r, first.color.g, first.color.b) == pytest.approx(
        tuple(PALETTE[0] / 255.0))
    assert label.text == 'red cup 0.91 0.81 m'
    assert label.pose.position.y < first.pose.position.y - 0.02   # above it: -y is up
    assert array[4].text == 'red cup 0.42 1.12 m'


def test_no_located_detection_leaves_only_the_delete_all():
    from vlm_perception.markers import detection_markers

    array = detection_markers(Header(), ['a'], [0], [0.5], [[np.nan] * 3], [[np.nan] * 3])
    assert [m.action for m in array.markers] == [Marker.DELETEALL]
