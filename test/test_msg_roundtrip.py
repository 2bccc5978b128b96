# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""The custom message crosses a real ROS 2 graph between two processes unchanged."""

from pathlib import Path
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

msg_module = pytest.importorskip('vlm_perception.msg')
features_sample = pytest.importorskip('features_sample')

EXPECTED_FIELDS = {
    'header': 'std_msgs/Header',
    'command': 'string',
    'queries': 'sequence<string>',
    'model_id': 'string',
    'model_backend': 'string',
    'image_width': 'uint32',
    'image_height': 'uint32',
    'vision_features': 'sequence<float>',
    'vision_dim': 'uint32',
    'text_features': 'sequence<float>',
    'text_dim': 'uint32',
    'fused_features': 'sequence<float>',
    'fused_dim': 'uint32',
    'detected_objects': 'sequence<string>',
    'object_positions': 'sequence<float>',
    'object_scores': 'sequence<float>',
    'object_positions_3d': 'sequence<float>',
    'object_sizes_3d': 'sequence<float>',
}


def test_message_has_the_documented_fields():
    assert msg_module.MultimodalFeatures.get_fields_and_field_types() == EXPECTED_FIELDS


@pytest.mark.ros
def test_every_field_round_trips_between_processes(ros_context):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    topic = 'roundtrip_features'
    publisher = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name('features_sample.py')), topic])
    node = rclpy.create_node('roundtrip_subscriber', context=ros_context)
    received = []
    node.create_subscription(
        msg_module.MultimodalFeatures, topic, received.append,
        QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    try:
        deadline = time.monotonic() + 60
        while not received and time.monotonic() < deadline and publisher.poll() is None:
            executor.spin_once(timeout_sec=0.1)
    finally:
        publisher.send_signal(signal.SIGINT)
        publisher.wait(timeout=20)
        executor.shutdown()
        node.destroy_node()
    assert received, 'no MultimodalFeatures arrived from the publisher process'

    got, sent = received[0], features_sample.sample_message()
    assert got.header.stamp.sec == sent.header.stamp.sec
    assert got.header.stamp.nanosec == sent.header.stamp.nanosec
    assert got.header.frame_id == sent.header.frame_id
    for field in ('command', 'model_id', 'model_backend', 'image_width', 'image_height',
                  'vision_dim', 'text_dim', 'fused_dim'):
        assert getattr(got, field) == getattr(sent, field), field
    for field in ('queries', 'detected_objects'):
        assert list(getattr(got, field)) == list(getattr(sent, field)), field
    for field in ('vision_features', 'text_features', 'fused_features', 'object_positions',
                  'object_scores', 'object_positions_3d', 'object_sizes_3d'):
        # assert_array_equal takes NaN for equal to NaN (a 3D row without depth).
        np.testing.assert_array_equal(np.asarray(getattr(got, field)),
                                      np.asarray(getattr(sent, field)), err_msg=field)
    assert publisher.returncode == 0, 'the publisher did not shut down cleanly on SIGINT'
