# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
A camera without hardware: publishes synthetic tabletop scenes at a steady rate.

    ros2 run vlm_perception synthetic_camera --ros-args -p rate:=10.0

Publishes ``camera/image_raw`` (sensor_msgs/Image; with ``transport: compressed``,
sensor_msgs/CompressedImage JPEG on ``camera/image_raw/compressed``, as
compressed_image_transport does) and, with the same stamp, ``camera/ground_truth``:
a MultimodalFeatures holding only the scene's true objects (names in
``detected_objects``, boxes in ``object_positions``, scores 1). Each scene
stays in view for ``scene_period`` seconds, as a real table would, then the next
one of the seeded sequence appears.
"""

import sys

import numpy as np
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data, QoSProfile
from sensor_msgs.msg import Image

from vlm_perception.compressed import encode_depth, encode_image, JPEG_QUALITY
from vlm_perception.conversion import array_to_image, encode_rgb, ImageConversionError
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
        self.transport = self.declare_parameter('transport', 'raw').value
        self.jpeg_quality = self.declare_parameter('jpeg_quality', JPEG_QUALITY).value
        if not (self.rate > 0 and self.scene_period > 0 and width >= 32 and height >= 32):
            raise StartupError(f'synthetic_camera needs rate > 0, scene_period > 0 and a frame '
                               f'of at least 32x32, got rate {self.rate}, scene_period '
                               f'{self.scene_period}, {width}x{height}')
        check_transport(self.transport, ('raw', 'compressed'), self.encoding, self.jpeg_quality)
        self.generator = SceneGenerator(seed=seed, sizes=((width, height),), split=split)
        self.image_publisher = transport_publisher(self, 'camera/image_raw', self.transport)
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
        self.image_msg = transport_message(encode_rgb(scene.image, self.encoding), self.encoding,
                                           self.transport, self.jpeg_quality)
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


def transport_publisher(node, topic, transport):
    """
    Return a sensor-data publisher of ``topic`` for ``transport``, named as image_transport does.

    'raw': sensor_msgs/Image on ``topic``; 'compressed' and 'compressedDepth':
    sensor_msgs/CompressedImage on ``topic`` + '/compressed' or '/compressedDepth'.
    """
    from vlm_perception.image_input import transport_topic

    if transport == 'raw':
        msg_type = Image
    else:
        from sensor_msgs.msg import CompressedImage as msg_type
    return node.create_publisher(msg_type, transport_topic(node, topic, transport),
                                 qos_profile_sensor_data)


def transport_message(values, encoding, transport, jpeg_quality=JPEG_QUALITY):
    """
    Return the message of an image laid out as ``encoding`` for ``transport``.

    'raw': sensor_msgs/Image; 'compressed': JPEG of ``jpeg_quality``, and
    'compressedDepth': PNG (16UC1 millimetres or 32FC1 metres), each as the
    image_transport plugin writes it. Raises ImageConversionError.
    """
    if transport == 'raw':
        return array_to_image(values, encoding)
    if transport == 'compressed':
        return encode_image(values, encoding, 'jpeg', jpeg_quality=jpeg_quality)
    if transport == 'compressedDepth':
        return encode_depth(values, encoding)
    raise ImageConversionError(f'unknown transport {transport!r}')


def check_transport(transport, choices, encoding, jpeg_quality):
    """Raise StartupError unless frames of ``encoding`` can go out on ``transport``."""
    if transport not in choices or not 1 <= jpeg_quality <= 100:
        raise StartupError(f'synthetic_camera: transport must be one of {", ".join(choices)} '
                           f'and jpeg_quality in 1..100, got {transport!r}, {jpeg_quality}')
    try:
        transport_message(encode_rgb(np.zeros((2, 2, 3), np.uint8), encoding), encoding,
                          transport, jpeg_quality)
    except ImageConversionError as error:
        raise StartupError(f'synthetic_camera: {encoding} frames cannot go out {transport}: '
                           f'{error}') from None


def main(args=None):
    """Run the synthetic camera until Ctrl-C."""
    return run_node(SyntheticCamera, 'synthetic_camera', args)


if __name__ == '__main__':
    sys.exit(main())
