# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""The synthetic camera's compressed transport: its messages, and the installed camera."""

import numpy as np
import pytest
from rclpy.qos import qos_profile_sensor_data
from ros_graph import GraphClient, NodeProcess
from sensor_msgs.msg import CompressedImage, Image
from vlm_perception.compressed import compressed_depth_to_array, compressed_image_to_array
from vlm_perception.conversion import encode_rgb, image_to_array, ImageConversionError

synthetic_camera = pytest.importorskip('vlm_perception.synthetic_camera')
MultimodalFeatures = pytest.importorskip('vlm_perception.msg').MultimodalFeatures


def test_transport_messages_are_the_plugins():
    rgb = np.zeros((24, 32, 3), np.uint8)
    rgb[:, 16:] = (250, 20, 20)
    raw = synthetic_camera.transport_message(encode_rgb(rgb, 'bgr8'), 'bgr8', 'raw')
    assert isinstance(raw, Image) and np.array_equal(image_to_array(raw)[0], rgb[:, :, ::-1])
    jpeg = synthetic_camera.transport_message(encode_rgb(rgb, 'bgr8'), 'bgr8', 'compressed', 80)
    assert isinstance(jpeg, CompressedImage) and jpeg.format == 'bgr8; jpeg compressed bgr8'
    decoded, order = compressed_image_to_array(jpeg)
    assert order == 'bgr' and np.abs(decoded[:, :, ::-1].astype(int) - rgb).mean() < 8
    depth = np.full((24, 32), 1234, np.uint16)
    packed = synthetic_camera.transport_message(depth, '16UC1', 'compressedDepth')
    assert packed.format == '16UC1; compressedDepth png'
    assert np.array_equal(compressed_depth_to_array(packed), depth)
    with pytest.raises(ImageConversionError):
        synthetic_camera.transport_message(depth, '16UC1', 'theora')


@pytest.mark.parametrize('parameters, expected', [
    (['-p', 'transport:=h264'], 'transport must be one of raw, compressed'),
    (['-p', 'transport:=compressed', '-p', 'jpeg_quality:=0'], 'jpeg_quality must be in 1..100'),
    (['-p', 'transport:=compressed', '-p', 'encoding:=bayer_rggb8'],
     'bayer_rggb8 frames cannot go out compressed'),
    (['-p', 'depth_transport:=compressed'], 'depth_transport must be one of raw, '
     'compressedDepth'),
])
@pytest.mark.ros
def test_unusable_transport_settings_end_the_camera_with_one_line(parameters, expected):
    camera = NodeProcess('synthetic_camera', parameters)
    try:
        assert camera.wait(timeout=60) != 0
        lines = [line for line in camera.output().splitlines() if line.strip()]
        assert len(lines) == 1 and expected in lines[0], lines
    finally:
        camera.close()


@pytest.mark.ros
def test_the_camera_publishes_compressed_frames_on_the_remapped_topics(ros_context):
    camera = NodeProcess('synthetic_camera', [
        '-p', 'transport:=compressed', '-p', 'jpeg_quality:=90', '-p', 'rate:=10.0',
        '-p', 'depth_transport:=compressedDepth', '-p', 'width:=160', '-p', 'height:=120',
        '-r', 'camera/image_raw:=/syn/image', '-r', 'camera/depth/image_raw:=/syn/depth',
        '-r', 'camera/ground_truth:=/syn/truth'])
    client = GraphClient(ros_context, name='synthetic_transport_test')
    try:
        frames, depths = [], []
        client.node.create_subscription(CompressedImage, '/syn/image/compressed',
                                        frames.append, qos_profile_sensor_data)
        client.node.create_subscription(CompressedImage, '/syn/depth/compressedDepth',
                                        depths.append, qos_profile_sensor_data)
        truths = client.collect(MultimodalFeatures, '/syn/truth')
        assert client.spin_until(lambda: len(frames) >= 3 and truths and depths, timeout=60), \
            camera.output()
        assert 'on /syn/image/compressed' in camera.output()
        assert 'on /syn/depth/compressedDepth' in camera.output()
        frame = frames[-1]
        assert frame.format == 'bgr8; jpeg compressed bgr8'
        assert frame.header.frame_id == 'camera_optical_frame'
        stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for m in frames}
        assert stamps & {(m.header.stamp.sec, m.header.stamp.nanosec) for m in truths}
        decoded, order = compressed_image_to_array(frame)
        assert decoded.shape == (120, 160, 3) and order == 'bgr'
        assert len(frame.data) < 160 * 120 * 3 / 4
        depth = depths[-1]
        assert depth.format == '16UC1; compressedDepth png'
        values = compressed_depth_to_array(depth)
        assert values.shape == (120, 160) and values.dtype == np.uint16
        assert 300 < np.median(values[values > 0]) < 3000  # the table, in millimetres
    finally:
        client.close()
        camera.close()
