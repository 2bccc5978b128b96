# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
A camera without hardware: publishes synthetic tabletop scenes at a steady rate.

    ros2 run vlm_perception synthetic_camera --ros-args -p rate:=10.0

Publishes ``camera/image_raw`` (sensor_msgs/Image) and, with the same stamp,
``camera/ground_truth``: a MultimodalFeatures holding only the scene's true objects
(names in ``detected_objects``, boxes in ``object_positions``, scores 1). Each scene
stays in view for ``scene_period`` seconds, as a real table would, then the next
one of the seeded sequence appears.
"""

import sys

import numpy as np
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data, QoSProfile
from sensor_msgs.msg import Image

from vlm_perception.conversion import array_to_image, encode_rgb
from vlm_perception.msg import MultimodalFeatures
from vlm_perception.runner import run_node, StartupError
from vlm_perception.world import SceneGenerator


class SyntheticCamera(Node):
    """Publish generated scenes and their ground truth."""

    def __init__(self, **kwargs):
        super().__init__('synthetic_camera', **kwargs)
        self.rate = self.declare_parameter('rate', 5.0).value
        width = self.declare_parameter('width', 640).value
        height = self.declare_parameter('height', 480).value
        self.encoding = self.declare_parameter('encoding', 'bgr8').value
        seed = self.declare_parameter('seed', 0).value
        split = self.declare_parameter('split', 'eval').value
        self.scene_period = self.declare_parameter('scene_period', 4.0).value
        self.frame_id = self.declare_parameter('frame_id', 'camera_optical_frame').value
        if not (self.rate > 0 and self.scene_period > 0 and width >= 32 and height >= 32):
            raise StartupError(f'synthetic_camera needs rate > 0, scene_period > 0 and a frame '
                               f'of at least 32x32, got rate {self.rate}, scene_period '
                               f'{self.scene_period}, {width}x{height}')
        self.generator = SceneGenerator(seed=seed, sizes=((width, height),), split=split)
        self.image_publisher = self.create_publisher(
            Image, 'camera/image_raw', qos_profile_sensor_data)
        self.truth_publisher = self.create_publisher(
            MultimodalFeatures, 'camera/ground_truth', QoSProfile(depth=10))
        self.scene_started = None
        self.image_msg = None
        self.truth_msg = None
        self.create_timer(1.0 / self.rate, self.publish_frame)
        self.get_logger().info(
            f'publishing {width}x{height} {self.encoding} scenes at {self.rate:g} Hz on '
            f'{self.image_publisher.topic_name}, truth on {self.truth_publisher.topic_name}')

    def next_scene(self):
        """Render the next scene once; every frame of it reuses the same messages."""
        scene = self.generator.generate()
        self.image_msg = array_to_image(encode_rgb(scene.image, self.encoding), self.encoding)
        self.image_msg.header.frame_id = self.frame_id
        truth = MultimodalFeatures()
        truth.header.frame_id = self.frame_id
        truth.command = 'ground truth'
        truth.model_backend = 'ground_truth'
        truth.image_height, truth.image_width = scene.image.shape[:2]
        truth.detected_objects = [obj.name for obj in scene.objects]
        truth.object_positions = np.array([obj.box for obj in scene.objects],
                                          np.float32).reshape(-1)
        truth.object_scores = np.ones(len(scene.objects), np.float32)
        self.truth_msg = truth

    def publish_frame(self):
        """Stamp and publish the current scene, moving on when its time is up."""
        now = self.get_clock().now()
        if self.scene_started is None or (now - self.scene_started).nanoseconds \
                >= self.scene_period * 1e9:
            self.next_scene()
            self.scene_started = now
        stamp = now.to_msg()
        self.image_msg.header.stamp = stamp
        self.truth_msg.header.stamp = stamp
        self.truth_publisher.publish(self.truth_msg)
        self.image_publisher.publish(self.image_msg)


def main(args=None):
    """Run the synthetic camera until Ctrl-C."""
    return run_node(SyntheticCamera, 'synthetic_camera', args)


if __name__ == '__main__':
    sys.exit(main())
