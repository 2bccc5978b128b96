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

With ``transport: compressed`` the colour frames go out as sensor_msgs/CompressedImage
JPEG (``jpeg_quality``) on ``camera/image_raw/compressed``, and with
``depth_transport: compressedDepth`` the depth as PNG on
``camera/depth/image_raw/compressedDepth``, as the image_transport plugins send them.
"""

import sys

import numpy as np
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data, QoSProfile
from sensor_msgs.msg import CameraInfo, Image

from vlm_perception.compressed import encode_depth, encode_image, JPEG_QUALITY
from vlm_perception.conversion import array_to_image, camera_info_from_intrinsics, encode_rgb
from vlm_perception.conversion import ImageConversionError
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
        self.transport = self.declare_parameter('transport', 'raw').value
        self.jpeg_quality = self.declare_parameter('jpeg_quality', JPEG_QUALITY).value
        self.depth_transport = self.declare_parameter('depth_transport', 'raw').value
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
        check_transport('transport', self.transport, ('raw', 'compressed'), self.encoding,
                        self.jpeg_quality)
        check_transport('depth_transport', self.depth_transport, ('raw', 'compressedDepth'),
                        '16UC1')
        try:
            self.generator = SceneGenerator(seed=seed, sizes=((width, height),), split=split,
                                            distance_range=distance, tilt_range=tilt)
        except ValueError as error:
            raise StartupError(f'synthetic_camera: {error} (parameters distance_min/max, '
                               'tilt_min/max)') from None
        self.image_publisher = transport_publisher(self, 'camera/image_raw', self.transport)
        self.depth_publisher = transport_publisher(self, 'camera/depth/image_raw',
                                                   self.depth_transport)
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
        image = transport_message(encode_rgb(scene.image, self.encoding), self.encoding,
                                  self.transport, self.jpeg_quality)
        depth = transport_message(scene.depth, '16UC1', self.depth_transport)
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


def check_transport(name, transport, choices, encoding, jpeg_quality=JPEG_QUALITY):
    """Raise StartupError unless frames of ``encoding`` can go out on ``transport``."""
    if transport not in choices:
        raise StartupError(f'synthetic_camera: {name} must be one of {", ".join(choices)}, '
                           f'got {transport!r}')
    if not 1 <= jpeg_quality <= 100:
        raise StartupError(f'synthetic_camera: jpeg_quality must be in 1..100, got {jpeg_quality}')
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
