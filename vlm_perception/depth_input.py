# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The depth input of vlm_perception_node (``use_depth: true``).

Subscribes to a depth image registered to the colour camera
(``camera/depth/image_raw``, or its ``/compressedDepth`` with ``depth_transport:
compressedDepth``) and to the colour camera's ``camera/camera_info``,
gives each colour frame the depth frame nearest its stamp (:class:`DepthPairing`)
and, in the inference thread, turns a frame's detection boxes into 3D positions
(:func:`locate_detections`: message checks here, the geometry in geometry.py).
"""

import time
from typing import Any, NamedTuple

import numpy as np
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from vlm_perception.conversion import depth_to_array
from vlm_perception.geometry import GeometryError, intrinsics_from_camera_info, locate_objects
from vlm_perception.image_input import camera_qos, transport_topic
from vlm_perception.pairing import DepthPairing

DEPTH_TOPIC = 'camera/depth/image_raw'
CAMERA_INFO_TOPIC = 'camera/camera_info'


class DepthUnusable(Exception):
    """
    A frame's depth cannot give 3D positions; the message says why in one line.

    ``kind`` names the reason for throttling ('no_depth', 'frame_id', 'encoding',
    'aspect', 'camera_info', ...) and ``source`` the input it is about: 'depth' or
    'camera_info'.
    """

    def __init__(self, reason, kind, source='depth'):
        super().__init__(reason)
        self.kind = kind
        self.source = source


class DepthFrame(NamedTuple):
    """What a colour frame's 3D positions come from: its depth image and camera_info."""

    depth: Any          # the depth message, or None when none was within depth_slop
    camera_info: Any    # the newest sensor_msgs/CameraInfo, or None before the first
    reason: str = ''    # why depth is None (DepthUnusable's kind 'no_depth')
    decode: Any = depth_to_array   # depth message -> (H, W) values; raises ValueError


def locate_detections(frame, colour_header, colour_size, boxes, config):
    """
    Return (positions, sizes), each (N, 3) float32 metres, of ``boxes`` in the colour frame.

    ``frame``: a DepthFrame; ``colour_header`` and ``colour_size`` (width, height)
    of the colour image the boxes (N, 4) are in; ``config`` gives depth_scale,
    depth_min and depth_max. A depth image of another size but the same aspect
    ratio is used at its own resolution (boxes and intrinsics scaled to it).
    Raises DepthUnusable with the reason when the frame gives no 3D at all.
    """
    if frame.depth is None:
        raise DepthUnusable(frame.reason, 'no_depth')
    if frame.camera_info is None:
        raise DepthUnusable('no camera_info received yet', 'no_camera_info', 'camera_info')
    depth, info = frame.depth, frame.camera_info
    if depth.header.frame_id and colour_header.frame_id and \
            depth.header.frame_id != colour_header.frame_id:
        raise DepthUnusable(f'depth is in frame {depth.header.frame_id!r}, the colour image in '
                            f'{colour_header.frame_id!r}: it must be registered to the colour '
                            'camera (e.g. RealSense align_depth)', 'frame_id')
    try:
        values = frame.decode(depth)
    except ValueError as error:
        raise DepthUnusable(str(error), 'encoding') from None
    width, height = colour_size
    depth_height, depth_width = values.shape
    scale_x, scale_y = depth_width / width, depth_height / height
    if abs(scale_x / scale_y - 1.0) > 0.01:
        raise DepthUnusable(f'depth {depth_width}x{depth_height} has another aspect ratio than '
                            f'the colour image {width}x{height}', 'aspect')
    try:
        intrinsics = intrinsics_from_camera_info(
            info.k, info.p, info.width, info.height, depth_width, depth_height,
            (info.roi.x_offset, info.roi.y_offset, info.roi.width, info.roi.height))
    except GeometryError as error:
        raise DepthUnusable(str(error), 'camera_info', 'camera_info') from None
    scale = config['depth_scale'] if values.dtype == np.uint16 else 1.0
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4) * [scale_x, scale_y, scale_x, scale_y]
    located = locate_objects(values, intrinsics, boxes, depth_scale=scale,
                             depth_range=(config['depth_min'], config['depth_max']))
    return located.positions, located.sizes


class DepthInput:
    """
    Subscribe to depth and camera_info and pair colour frames with depth frames.

    ``on_paired(item, frame)`` is called with each colour item passed to
    :meth:`add_frame` and its DepthFrame, as soon as that is decided (at once, when a
    depth frame arrives, or in :meth:`poll` once the wait is over). Stamps are
    seconds of ROS time, as FramePairing gives them (an unstamped frame counts as
    stamped at its arrival on the node's clock); waits are measured on
    ``time.monotonic()``, so a paused sim clock does not hold frames back.
    """

    def __init__(self, node, config, on_paired, buffer_size):
        self.node = node
        self.config = config
        self.pairing = DepthPairing(config['depth_slop'], capacity=buffer_size)
        self.camera_info = None
        self.newest_depth_stamp = None
        self._on_paired = on_paired
        msg_type, self.decode = Image, depth_to_array
        if config['depth_transport'] == 'compressedDepth':
            from sensor_msgs.msg import CompressedImage

            from vlm_perception.compressed import compressed_depth_to_array

            msg_type, self.decode = CompressedImage, compressed_depth_to_array
        self.depth_subscription = node.create_subscription(
            msg_type, transport_topic(node, DEPTH_TOPIC, config['depth_transport']),
            self._on_depth, camera_qos(config))
        # Best effort reaches reliable and best-effort publishers alike.
        self.camera_info_subscription = node.create_subscription(
            CameraInfo, CAMERA_INFO_TOPIC, self._on_camera_info,
            QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                       reliability=ReliabilityPolicy.BEST_EFFORT))

    def add_frame(self, item, stamp):
        """Offer a colour frame stamped ``stamp`` (seconds) for pairing with depth."""
        self._deliver(self.pairing.add_frame(item, stamp, time.monotonic()))

    def poll(self):
        """Let colour frames whose wait for depth is over go on."""
        if self.pairing.waiting:
            self._deliver(self.pairing.poll(time.monotonic()))

    def _on_depth(self, msg):
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        if stamp <= 0:  # an unstamped driver: its arrival, as for colour frames
            stamp = self.node.get_clock().now().nanoseconds * 1e-9
        self.newest_depth_stamp = stamp
        self._deliver(self.pairing.add_depth(msg, stamp, time.monotonic()))

    def _on_camera_info(self, msg):
        self.camera_info = msg

    def _deliver(self, decisions):
        for item, depth in decisions:
            reason = ''
            if depth is None:
                reason = self._why_no_depth()
            self._on_paired(item, DepthFrame(depth, self.camera_info, reason, self.decode))

    def topic_of(self, source):
        """Return the resolved topic name of 'depth' or 'camera_info'."""
        subscription = self.camera_info_subscription if source == 'camera_info' \
            else self.depth_subscription
        return subscription.topic_name

    def _why_no_depth(self):
        if self.newest_depth_stamp is None:
            return 'no depth image received yet'
        return (f'no depth image stamped within depth_slop {self.pairing.slop:g} s of the '
                'colour frame')
