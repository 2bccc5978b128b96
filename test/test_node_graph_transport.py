# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
How images reach the node, on a real ROS 2 graph: compressed input, and frames lost.

The installed node runs as its own process with remapped topics. This process sends
it compressed colour and compressedDepth messages made by the image_transport
plugins' rules (vlm_perception.compressed); a camera process of its own sends
640x480 frames over Fast DDS's default settings, which lose most of them.
"""

import os
import subprocess
import sys

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import pytest
from ros_graph import GraphClient, NodeProcess, save_tiny_model, write_params
from sensor_msgs.msg import CameraInfo, CompressedImage
from std_msgs.msg import String
from vlm_perception.compressed import encode_depth, encode_image
from vlm_perception.conversion import encode_rgb
from vlm_perception.local_graph import PROFILE_VARIABLES

msg_module = pytest.importorskip('vlm_perception.msg')
MultimodalFeatures = msg_module.MultimodalFeatures

pytestmark = pytest.mark.ros

STARTED = 'sync_policy'  # the last words of the node's startup line


@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp('tiny_model'))


@pytest.fixture(scope='module')
def client():
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    graph = GraphClient(context, name='vlm_transport_test_client')
    yield graph
    graph.close()
    rclpy.shutdown(context=context)


def start_node(tmp_path_factory, model, prefix, remaps=(), environ=None, **parameters):
    """Start the node with its image, command and features topics under ``prefix``."""
    params = write_params(tmp_path_factory.mktemp('params') / 'params.yaml', model=model,
                          score_threshold=0.0, max_detections=5, diagnostics_period=0.2,
                          no_image_warning_period=1.0, **parameters)
    arguments = ['--params-file', params, '-r', f'__node:=vlm_{prefix[1:]}',
                 '-r', f'camera/image_raw:={prefix}/image',
                 '-r', f'command_text:={prefix}/command',
                 '-r', f'multimodal_features:={prefix}/features', *remaps]
    node = NodeProcess('vlm_perception_node', arguments, environ=environ)
    assert node.wait_for_output(STARTED, timeout=120), node.output()
    return node


class Feed:
    """A compressed image publisher, the command, and the node's results and diagnostics."""

    def __init__(self, client, prefix, node_name):
        self.client = client
        self.node_name = node_name
        self.images = client.publisher(CompressedImage, f'{prefix}/image/compressed')
        self.commands = client.publisher(String, f'{prefix}/command')
        self.features = client.collect(MultimodalFeatures, f'{prefix}/features')
        self.diagnostics = client.collect(DiagnosticArray, '/diagnostics')
        assert client.wait_for_subscribers(self.images)
        assert client.wait_for_subscribers(self.commands)
        assert client.spin_until(lambda: client.node.count_publishers(f'{prefix}/features'))
        self.stamp = 1000

    def answer_to(self, image, command='red circle', timeout=60.0, also=None,
                  accept=lambda msg: True):
        """
        Publish ``image`` with fresh stamps until an answer to it is ``accept``-ed.

        ``also(header)``, when given, is called with each frame's header first (to send
        its depth). Returns the answer, or None.
        """
        sent = set()
        self.commands.publish(String(data=command))

        def publish():
            self.stamp += 1
            image.header.stamp.sec = self.stamp
            sent.add(self.stamp)
            if also is not None:
                also(image.header)
            self.images.publish(image)

        return self.client.spin_until(
            lambda: next((m for m in self.features if m.header.stamp.sec in sent
                          and accept(m)), None),
            timeout=timeout, every=publish, period=0.25)

    def counter(self, key):
        """Return the node's newest value of ``key`` in /diagnostics, or None."""
        return counter(self.diagnostics, self.node_name, key)


def counter(diagnostics, node_name, key):
    """Return the newest integer ``key`` of node ``node_name`` in ``diagnostics``, or None."""
    for array in reversed(diagnostics):
        for status in array.status:
            if status.name.partition(':')[0].endswith(node_name):
                values = {kv.key: kv.value for kv in status.values}
                if values.get(key):
                    return int(values[key])
    return None


def scene(width=160, height=120):
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:] = (200, 180, 40)
    rgb[20:60, 30:90] = (220, 30, 30)
    return rgb


@pytest.fixture(scope='module')
def compressed_node(tmp_path_factory, tiny_model):
    node = start_node(tmp_path_factory, tiny_model, '/cmp', image_transport='compressed')
    yield node
    node.close()


@pytest.fixture(scope='module')
def feed(client, compressed_node):
    return Feed(client, '/cmp', 'vlm_cmp')


def test_compressed_input_is_taken_from_the_remapped_topic_plus_compressed(compressed_node):
    line = next(line for line in compressed_node.output().splitlines() if STARTED in line)
    assert 'images /cmp/image/compressed' in line


@pytest.mark.parametrize('encoding, codec', [('rgb8', 'jpeg'), ('bgr8', 'png'),
                                             ('mono16', 'png'), ('mono8', 'jpeg')])
def test_compressed_frames_are_answered_with_their_header_and_decoded_size(
        feed, encoding, codec):
    image = encode_image(encode_rgb(scene(), encoding), encoding, codec)
    image.header.frame_id = 'left_camera'
    image.header.stamp.nanosec = 4321
    msg = feed.answer_to(image)
    assert msg is not None, f'no answer to a {codec} {encoding} frame'
    assert msg.header.frame_id == 'left_camera' and msg.header.stamp.nanosec == 4321
    assert (msg.image_width, msg.image_height) == (160, 120)
    assert len(msg.detected_objects) >= 1


def test_detect_takes_the_newest_compressed_frame_and_raw_requests(feed, client):
    from ros_graph import make_image

    Detect = pytest.importorskip('vlm_perception.srv').Detect
    detect = client.node.create_client(Detect, '/vlm_cmp/detect')
    assert client.spin_until(detect.service_is_ready, timeout=30)
    image = encode_image(encode_rgb(scene(), 'rgb8'), 'rgb8')
    image.header.frame_id = 'newest'
    assert feed.answer_to(image) is not None  # the node has it as its newest frame
    for request, frame_id in ((Detect.Request(command='red circle'), 'newest'),
                              (Detect.Request(command='red circle',
                                              image=make_image(64, 48, frame_id='asked')),
                               'asked')):
        future = detect.call_async(request)
        assert client.spin_until(future.done, timeout=60)
        response = future.result()
        assert response.success, response.message
        assert response.result.header.frame_id == frame_id


def bad_compressed_images():
    """Return (reason, message) pairs the node must drop and count as bad frames."""
    good = encode_image(scene(), 'bgr8')
    noise = CompressedImage(format='bgr8; jpeg compressed bgr8')
    noise.data = np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    cut = CompressedImage(format=good.format)
    cut.data = good.data[:len(good.data) // 3]
    unknown = CompressedImage(format='bgr8; h264 compressed bgr8', data=good.data)
    empty = CompressedImage(format=good.format)
    return [('corrupt JPEG', noise), ('cut JPEG', cut), ('unknown format', unknown),
            ('no data', empty)]


def test_bad_compressed_images_are_dropped_counted_and_the_node_keeps_answering(
        feed, client, compressed_node):
    assert feed.answer_to(encode_image(scene(), 'bgr8')) is not None
    assert client.spin_until(lambda: feed.counter('frames_bad') is not None)
    for reason, image in bad_compressed_images():
        before = feed.counter('frames_bad')
        feed.stamp += 1
        image.header.stamp.sec = feed.stamp
        feed.images.publish(image)
        assert client.spin_until(lambda: feed.counter('frames_bad') > before, timeout=30), \
            f'{reason}: not counted as a bad frame'
        assert feed.answer_to(encode_image(scene(), 'bgr8')) is not None, \
            f'no answer after {reason}'
    assert compressed_node.process.poll() is None
    # Throttled: the first one's reason is logged (each reason: test_compressed.py).
    assert 'dropped an image (1 so far): jpeg image' in compressed_node.output()
    assert 'no JPEG end-of-image marker' in compressed_node.output()


def camera_info(width=160, height=120, focal=150.0):
    return CameraInfo(width=width, height=height,
                      k=[focal, 0.0, width / 2, 0.0, focal, height / 2, 0.0, 0.0, 1.0],
                      p=[focal, 0.0, width / 2, 0.0, 0.0, focal, height / 2, 0.0,
                         0.0, 0.0, 1.0, 0.0])


@pytest.mark.parametrize('encoding', ['16UC1', '32FC1'])
def test_compressed_depth_on_remapped_topics_gives_3d_positions(
        tmp_path_factory, tiny_model, client, encoding):
    prefix = f'/depth_{encoding.lower()}'
    node = start_node(tmp_path_factory, tiny_model, prefix,
                      remaps=['-r', f'camera/depth/image_raw:={prefix}/aligned_depth',
                              '-r', f'camera/camera_info:={prefix}/info'],
                      image_transport='compressed', use_depth=True,
                      depth_transport='compressedDepth', depth_slop=0.5)
    try:
        line = next(line for line in node.output().splitlines() if STARTED in line)
        assert f'depth {prefix}/aligned_depth/compressedDepth' in line, line
        feed = Feed(client, prefix, f'vlm_{prefix[1:]}')
        depth_publisher = client.publisher(CompressedImage,
                                           f'{prefix}/aligned_depth/compressedDepth')
        info_publisher = client.publisher(CameraInfo, f'{prefix}/info')
        assert client.wait_for_subscribers(depth_publisher)
        assert client.wait_for_subscribers(info_publisher)
        # A wall 1.5 m away: every detection box's patch of it is at z = 1.5 m.
        wall = np.full((120, 160), 1500, np.uint16)
        values = wall if encoding == '16UC1' else wall.astype(np.float32) / 1000.0
        depth = encode_depth(values, encoding)
        info = camera_info()

        def publish_depth(header):
            depth.header = info.header = header
            info_publisher.publish(info)
            depth_publisher.publish(depth)

        # The first frames may come before the node has its first camera_info.
        msg = feed.answer_to(encode_image(scene(), 'bgr8'), also=publish_depth,
                             accept=lambda m: np.isfinite(m.object_positions_3d).any())
        assert msg is not None, node.output()[-3000:]
        positions = np.asarray(msg.object_positions_3d).reshape(-1, 3)
        assert len(positions) == len(msg.detected_objects) >= 1
        assert np.isfinite(positions).all(), positions
        np.testing.assert_allclose(positions[:, 2], 1.5, atol=0.01)
    finally:
        node.close()


def test_a_corrupt_compressed_depth_leaves_3d_empty_with_the_reason(
        tmp_path_factory, tiny_model, client):
    prefix = '/depth_bad'
    node = start_node(tmp_path_factory, tiny_model, prefix,
                      remaps=['-r', f'camera/depth/image_raw:={prefix}/depth',
                              '-r', f'camera/camera_info:={prefix}/info'],
                      image_transport='compressed', use_depth=True,
                      depth_transport='compressedDepth', depth_slop=0.5)
    try:
        feed = Feed(client, prefix, f'vlm_{prefix[1:]}')
        depth_publisher = client.publisher(CompressedImage, f'{prefix}/depth/compressedDepth')
        info_publisher = client.publisher(CameraInfo, f'{prefix}/info')
        assert client.wait_for_subscribers(depth_publisher)
        good = encode_depth(np.full((120, 160), 1500, np.uint16), '16UC1')
        bad = CompressedImage(format=good.format, data=good.data[:12])  # the header alone
        info = camera_info()

        def publish_depth(header):
            bad.header = info.header = header
            info_publisher.publish(info)
            depth_publisher.publish(bad)

        # Answered, with NaN 3D and the reason, once the node has a camera_info.
        msg = feed.answer_to(encode_image(scene(), 'bgr8'), also=publish_depth,
                             accept=lambda m: 'configuration header' in node.output())
        assert msg is not None, node.output()[-3000:]
        assert len(msg.object_positions_3d) and np.isnan(msg.object_positions_3d).all()
        assert 'no more than its 12-byte configuration header' in node.output()
        assert node.process.poll() is None
    finally:
        node.close()


def test_frames_lost_on_the_default_fast_dds_profile_are_counted_and_explained(
        tmp_path_factory, tiny_model, client):
    """A 640x480 camera in its own process, both sides on Fast DDS's default settings."""
    if os.environ.get('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp') != 'rmw_fastrtps_cpp':
        pytest.skip('about Fast DDS')
    environ = {name: value for name, value in os.environ.items()
               if name not in PROFILE_VARIABLES}
    node = start_node(tmp_path_factory, tiny_model, '/lost', environ=environ)
    camera = subprocess.Popen(
        [sys.executable, '-m', 'vlm_perception.bench.camera', '--topic', '/lost/image',
         '--width', '640', '--height', '480'], env=environ, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        diagnostics = client.collect(DiagnosticArray, '/diagnostics')
        assert camera.stdout.readline().strip() == 'ready'
        camera.stdin.write('stream 30 4\n')
        camera.stdin.flush()
        assert camera.stdout.readline().startswith('streamed ')
        assert client.spin_until(
            lambda: (counter(diagnostics, 'vlm_lost', 'frames_lost_in_transport') or 0) > 0,
            timeout=10), node.output()[-3000:]
        assert node.wait_for_output('lost in transport', timeout=10), node.output()[-3000:]
        warning = next(line for line in node.output().splitlines()
                       if 'lost in transport' in line)
        for cause in ('UDP fragments', 'fastdds_large_frames.xml',
                      'FASTRTPS_DEFAULT_PROFILES_FILE', 'image_transport to compressed'):
            assert cause in warning, (cause, warning)
        assert 'none sending' not in node.output()
    finally:
        camera.stdin.close()
        camera.wait(timeout=30)
        node.close()
