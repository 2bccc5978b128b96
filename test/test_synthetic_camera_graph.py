# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The installed synthetic_camera on a real graph: colour, depth, camera_info and truth agree.

The camera runs as its own process; a second process (the receiver below) records one
frame of each topic with the same stamp; this test checks them against each other
and against the SceneGenerator that made them. Both processes carry 640x480 frames
over the large-frame Fast DDS profile.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from ros_graph import NodeProcess
from vlm_perception.geometry import intrinsics_from_camera_info, locate_objects, project
from vlm_perception.local_graph import large_frame_transport
from vlm_perception.world import SceneGenerator

pytestmark = pytest.mark.ros

SEED = 12   # five objects at 640x480: a triangle, a square, crosses and a star
CAMERA_PARAMETERS = {'rate': 5.0, 'width': 640, 'height': 480, 'seed': SEED,
                     'scene_period': 600.0, 'frame_id': 'test_optical_frame',
                     'distance_min': 0.6, 'distance_max': 0.8, 'tilt_min': 10.0,
                     'tilt_max': 35.0}

# Runs in the receiving process: record the first stamp seen on all four topics.
RECEIVER = """
import sys
import numpy as np
import rclpy
from rclpy.qos import qos_profile_sensor_data, QoSProfile
from sensor_msgs.msg import CameraInfo, Image
from vlm_perception.msg import MultimodalFeatures

rclpy.init()
node = rclpy.create_node('synthetic_camera_receiver')
seen = {}
def keep(name):
    def callback(msg):
        stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        seen.setdefault(stamp, {})[name] = msg
    return callback
node.create_subscription(Image, 'camera/image_raw', keep('image'), qos_profile_sensor_data)
node.create_subscription(Image, 'camera/depth/image_raw', keep('depth'),
                         qos_profile_sensor_data)
node.create_subscription(CameraInfo, 'camera/camera_info', keep('info'), QoSProfile(depth=5))
node.create_subscription(MultimodalFeatures, 'camera/ground_truth', keep('truth'),
                         QoSProfile(depth=10))
complete = None
while complete is None:
    rclpy.spin_once(node, timeout_sec=0.1)
    complete = next((m for m in seen.values() if len(m) == 4), None)
image, depth, info, truth = (complete[k] for k in ('image', 'depth', 'info', 'truth'))
np.savez(sys.argv[1],
         frame_ids=[m.header.frame_id for m in (image, depth, info, truth)],
         image=np.frombuffer(bytes(image.data), np.uint8).reshape(image.height, -1),
         image_encoding=image.encoding,
         depth=np.frombuffer(bytes(depth.data), '>u2' if depth.is_bigendian else '<u2')
         .reshape(depth.height, depth.step // 2)[:, :depth.width],
         depth_encoding=depth.encoding,
         info_size=[info.width, info.height], k=np.array(info.k), p=np.array(info.p),
         r=np.array(info.r), d=np.array(info.d), distortion_model=info.distortion_model,
         names=list(truth.detected_objects), boxes=np.array(truth.object_positions),
         positions_3d=np.array(truth.object_positions_3d),
         sizes_3d=np.array(truth.object_sizes_3d))
"""


@pytest.fixture(scope='module')
def received(tmp_path_factory):
    """Start the camera and the receiver with the large-frame profile; load what came."""
    transport, _ = large_frame_transport()
    saved = {name: os.environ.get(name) for name in transport}
    os.environ.update(transport)
    arguments = [item for name, value in CAMERA_PARAMETERS.items()
                 for item in ('-p', f'{name}:={value}')]
    camera = NodeProcess('synthetic_camera', arguments)
    path = tmp_path_factory.mktemp('received') / 'frame.npz'
    try:
        run = subprocess.run([sys.executable, '-c', RECEIVER, str(path)], capture_output=True,
                             text=True, timeout=60)
        assert run.returncode == 0, run.stderr + camera.output()
        assert 'depth (16UC1, mm) on /camera/depth/image_raw' in camera.output()
    finally:
        camera.close()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name)
            else:
                os.environ[name] = value
    return dict(np.load(path))


@pytest.fixture(scope='module')
def scene():
    """Make here, by the same generator, the scene the camera shows first."""
    return SceneGenerator(seed=SEED, sizes=((640, 480),), split='eval',
                          distance_range=(0.6, 0.8), tilt_range=(10.0, 35.0)).generate(0)


def test_depth_and_camera_info_come_with_the_colour_frame(received):
    assert set(received['frame_ids']) == {'test_optical_frame'}   # one stamp, one frame
    assert received['image_encoding'] == 'bgr8' and received['image'].shape == (480, 1920)
    assert received['depth_encoding'] == '16UC1' and received['depth'].shape == (480, 640)
    assert received['info_size'].tolist() == [640, 480]
    assert received['distortion_model'] == 'plumb_bob'
    np.testing.assert_array_equal(received['d'], np.zeros(5))
    np.testing.assert_array_equal(received['r'], np.eye(3).reshape(-1))
    k = received['k'].reshape(3, 3)
    np.testing.assert_array_equal(received['p'].reshape(3, 4), np.hstack([k, np.zeros((3, 1))]))
    assert k[0, 1] == k[1, 0] == 0.0 and k[2].tolist() == [0.0, 0.0, 1.0]


def test_what_came_is_the_generators_scene(received, scene):
    np.testing.assert_array_equal(received['image'].reshape(480, 640, 3)[:, :, ::-1],
                                  scene.image)
    np.testing.assert_array_equal(received['depth'], scene.depth)
    np.testing.assert_allclose(received['k'].reshape(3, 3), scene.intrinsics.matrix())
    assert received['names'].tolist() == [obj.name for obj in scene.objects]
    np.testing.assert_allclose(received['positions_3d'].reshape(-1, 3),
                               [obj.position_3d for obj in scene.objects], rtol=1e-6)
    np.testing.assert_allclose(received['sizes_3d'].reshape(-1, 3),
                               [obj.size_3d for obj in scene.objects], rtol=1e-6)
    assert 10.0 <= scene.view.tilt <= 35.0 and 0.6 <= scene.view.distance <= 0.8


def test_truth_depth_and_intrinsics_agree_in_space(received):
    intrinsics = intrinsics_from_camera_info(received['k'], received['p'], 640, 480, 640, 480)
    truth = received['positions_3d'].reshape(-1, 3)
    boxes = received['boxes'].reshape(-1, 4)
    depth = received['depth'] / 1000.0
    assert len(truth) == 5
    agree = 0
    for (x, y, z), box in zip(truth, boxes):
        # The true centroid projects into its box, where the sensor reads about its z.
        u, v = project(x, y, z, intrinsics)
        assert box[0] <= u + 0.5 <= box[2] and box[1] <= v + 0.5 <= box[3]
        window = depth[int(v) - 2:int(v) + 3, int(u) - 2:int(u) + 3]
        readings = window[window > 0]
        agree += len(readings) > 0 and abs(np.median(readings) - z) < 0.015
    assert agree >= len(truth) - 1   # a centroid may fall off a star's arms or into a hole
    # The node's 3D from the received depth, camera_info and true boxes finds the truth.
    located = locate_objects(received['depth'], intrinsics, boxes, 0.001, (0.1, 10.0))
    errors = np.linalg.norm(located.positions - truth, axis=1)
    assert np.median(errors) < 0.01 and (errors < 0.03).all(), errors


def test_impossible_camera_ranges_end_the_camera_at_startup():
    camera = NodeProcess('synthetic_camera', ['-p', 'tilt_max:=80.0'])
    try:
        assert camera.wait(timeout=60) == 1
        assert 'tilt_range' in camera.output() and 'FATAL' in camera.output()
    finally:
        camera.close()
