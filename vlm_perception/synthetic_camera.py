# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
A camera without hardware: publishes synthetic tabletop scenes at a steady rate.

    ros2 run vlm_perception synthetic_camera --ros-args -p rate:=10.0

Publishes ``camera/image_raw`` (sensor_msgs/Image) and, with the same stamp and
frame_id, as an RGB-D camera does: ``camera/depth/image_raw`` (16UC1 millimetres
registered to the colour image, 0 = no reading) and ``camera/camera_info``; and
``camera/ground_truth``: a MultimodalFeatures holding only the scene's true objects
(names in ``detected_objects``, boxes in ``object_positions``, scores 1, the true
centroids and extents of their visible surfaces in ``object_positions_3d`` and
``object_sizes_3d``). Each scene stays in view for ``scene_period`` seconds, as a
real table would, then the next one of the seeded sequence appears.
"""

import sys

import numpy as np
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data, QoSProfile
from sensor_msgs.msg import CameraInfo, Image

from vlm_perception.conversion import array_to_image, camera_info_from_intrinsics, encode_rgb
from vlm_perception.msg import MultimodalFeatures
from vlm_perception.runner import run_node, StartupError
from vlm_perception.world import SceneGenerator
from vlm_perception.world.scene import TILT_RANGE
from vlm_perception.world.view import DISTANCE_RANGE


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
        # Metres from the camera along its optical axis to the table, drawn per scene.
        distance = (self.declare_parameter('distance_min', DISTANCE_RANGE[0]).value,
                    self.declare_parameter('distance_max', DISTANCE_RANGE[1]).value)
        # Degrees from looking straight down; each scene's follows its drawn squash.
        tilt = (self.declare_parameter('tilt_min', TILT_RANGE[0]).value,
                self.declare_parameter('tilt_max', TILT_RANGE[1]).value)
        if not (self.rate > 0 and self.scene_period > 0 and width >= 32 and height >= 32):
            raise StartupError(f'synthetic_camera needs rate > 0, scene_period > 0 and a frame '
                               f'of at least 32x32, got rate {self.rate}, scene_period '
                               f'{self.scene_period}, {width}x{height}')
        try:
            self.generator = SceneGenerator(seed=seed, sizes=((width, height),), split=split,
                                            distance_range=distance, tilt_range=tilt)
        except ValueError as error:
            raise StartupError(f'synthetic_camera: {error} (parameters distance_min/max, '
                               'tilt_min/max)') from None
        self.image_publisher = self.create_publisher(
            Image, 'camera/image_raw', qos_profile_sensor_data)
        self.depth_publisher = self.create_publisher(
            Image, 'camera/depth/image_raw', qos_profile_sensor_data)
        # Reliable, so that reliable and best-effort subscribers alike receive it.
        self.info_publisher = self.create_publisher(
            CameraInfo, 'camera/camera_info', QoSProfile(depth=5))
        self.truth_publisher = self.create_publisher(
            MultimodalFeatures, 'camera/ground_truth', QoSProfile(depth=10))
        self.scene_started = None
        self.messages = ()
        self.create_timer(1.0 / self.rate, self.publish_frame)
        self.get_logger().info(
            f'publishing {width}x{height} {self.encoding} scenes at {self.rate:g} Hz on '
            f'{self.image_publisher.topic_name}, depth (16UC1, mm) on '
            f'{self.depth_publisher.topic_name}, camera_info on {self.info_publisher.topic_name}, '
            f'truth on {self.truth_publisher.topic_name}')

    def next_scene(self):
        """Render the next scene once; every frame of it reuses the same messages."""
        scene = self.generator.generate()
        height, width = scene.image.shape[:2]
        image = array_to_image(encode_rgb(scene.image, self.encoding), self.encoding)
        depth = array_to_image(scene.depth, '16UC1')
        info = camera_info_from_intrinsics(scene.intrinsics, width, height)
        truth = MultimodalFeatures()
        truth.command = 'ground truth'
        truth.model_backend = 'ground_truth'
        truth.image_height, truth.image_width = height, width
        truth.detected_objects = [obj.name for obj in scene.objects]
        truth.object_positions = np.array([obj.box for obj in scene.objects],
                                          np.float32).reshape(-1)
        truth.object_scores = np.ones(len(scene.objects), np.float32)
        nowhere = (np.nan,) * 3   # an object nothing of which is seen
        truth.object_positions_3d = np.array(
            [obj.position_3d or nowhere for obj in scene.objects], np.float32).reshape(-1)
        truth.object_sizes_3d = np.array(
            [obj.size_3d or nowhere for obj in scene.objects], np.float32).reshape(-1)
        # Depth and camera_info go before the colour frame, as a driver sends them, so that
        # a subscriber pairing them has the depth when the colour frame arrives.
        self.messages = ((self.truth_publisher, truth), (self.info_publisher, info),
                         (self.depth_publisher, depth), (self.image_publisher, image))
        for _, msg in self.messages:
            msg.header.frame_id = self.frame_id

    def publish_frame(self):
        """Stamp and publish the current scene, moving on when its time is up."""
        now = self.get_clock().now()
        if self.scene_started is None or (now - self.scene_started).nanoseconds \
                >= self.scene_period * 1e9:
            self.next_scene()
            self.scene_started = now
        stamp = now.to_msg()
        for publisher, msg in self.messages:
            msg.header.stamp = stamp
            publisher.publish(msg)


def main(args=None):
    """Run the synthetic camera until Ctrl-C."""
    return run_node(SyntheticCamera, 'synthetic_camera', args)


if __name__ == '__main__':
    sys.exit(main())
