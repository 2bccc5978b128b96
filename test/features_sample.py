# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
A fully filled MultimodalFeatures message, and a process that publishes it.

Run as a script (``python features_sample.py TOPIC``) it publishes the sample,
reliably, ten times a second until it is stopped: the publisher side of the
cross-process round-trip test.
"""

import sys

import numpy as np


def sample_message():
    """Return a MultimodalFeatures with every field set to a distinctive value."""
    from vlm_perception.msg import MultimodalFeatures

    rng = np.random.default_rng(7)
    queries = ['red circle', 'the blue square', 'tasse rouge ☕']
    msg = MultimodalFeatures()
    msg.header.stamp.sec = 1764384000
    msg.header.stamp.nanosec = 123456789
    msg.header.frame_id = 'camera_color_optical_frame'
    msg.command = 'red circle; the blue square, tasse rouge ☕'
    msg.queries = queries
    msg.model_id = '/opt/models/tabletop'
    msg.model_backend = 'native'
    msg.image_width = 640
    msg.image_height = 480
    msg.vision_dim = 8
    msg.vision_features = rng.standard_normal(8).astype(np.float32)
    msg.text_dim = 6
    msg.text_features = rng.standard_normal(len(queries) * 6).astype(np.float32)
    msg.fused_dim = 5
    msg.fused_features = rng.standard_normal(len(queries) * 5).astype(np.float32)
    msg.detected_objects = ['red circle', 'tasse rouge ☕']
    msg.object_positions = np.array([10.5, 20.25, 110.0, 220.75, 300.0, 40.0, 639.5, 479.0],
                                    dtype=np.float32)
    msg.object_scores = np.array([0.875, 0.3125], dtype=np.float32)
    # The second object without usable depth: a NaN triple.
    msg.object_positions_3d = np.array([0.125, -0.0625, 0.75] + [np.nan] * 3, np.float32)
    msg.object_sizes_3d = np.array([0.08, 0.03125, 0.05] + [np.nan] * 3, np.float32)
    return msg


def main(topic):
    """Publish the sample on ``topic`` until interrupted."""
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from vlm_perception.msg import MultimodalFeatures

    rclpy.init()
    node = rclpy.create_node('features_sample_publisher')
    publisher = node.create_publisher(
        MultimodalFeatures, topic, QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    message = sample_message()
    node.create_timer(0.1, lambda: publisher.publish(message))
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main(sys.argv[1])
