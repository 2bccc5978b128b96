# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
vlm_perception_node with use_depth on a real ROS 2 graph: 3D positions from registered depth.

The installed node runs as its own process with every topic remapped; this process
publishes colour frames, depth frames and camera_info, and checks the 3D fields, the
markers, and what happens with depth the node cannot use.
"""

from itertools import count

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import pytest
from ros_graph import graph_client, make_image, NodeProcess, save_tiny_model, write_params
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String

from vlm_perception.conversion import array_to_image, msg_to_arrays

msg_module = pytest.importorskip('vlm_perception.msg')
MultimodalFeatures = msg_module.MultimodalFeatures

pytestmark = pytest.mark.ros

PREFIX = '/depth_test'
TOPICS = {'camera/image_raw': 'color/image_raw', 'command_text': 'command',
          'multimodal_features': 'features', 'camera/depth/image_raw': 'aligned_depth/image_raw',
          'camera/camera_info': 'color/camera_info', '~/markers': 'markers'}
WIDTH, HEIGHT = 320, 240
# Calibrated at 640x480; the frames are half that, so the node must scale these.
K_FULL = [600.0, 0.0, 321.0, 0.0, 580.0, 237.0, 0.0, 0.0, 1.0]
FX, FY = 300.0, 290.0
CX, CY = (321.0 + 0.5) / 2 - 0.5, (237.0 + 0.5) / 2 - 0.5
FRAME_ID = 'camera_color_optical_frame'
_stamps = count(2000)


def topic(name):
    return f'{PREFIX}/{TOPICS[name]}'


@pytest.fixture(scope='module')
def client():
    with graph_client() as graph:
        yield graph


@pytest.fixture(scope='module')
def depth_node(tmp_path_factory):
    model = save_tiny_model(tmp_path_factory.mktemp('tiny_model'))
    params = write_params(tmp_path_factory.mktemp('params') / 'params.yaml', model=model,
                          score_threshold=0.0, max_detections=5, diagnostics_period=0.2,
                          use_depth=True, depth_slop=0.05)
    remaps = [argument for source, target in TOPICS.items()
              for argument in ('-r', f'{source}:={PREFIX}/{target}')]
    node = NodeProcess('vlm_perception_node', ['--params-file', params, *remaps])
    assert node.wait_for_output('sync_policy', timeout=120), node.output()
    yield node
    node.close()


def camera_info(k=K_FULL, width=640, height=480):
    info = CameraInfo(width=width, height=height, distortion_model='plumb_bob', k=k,
                      d=[0.0] * 5, r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0])
    info.header.frame_id = FRAME_ID
    return info


def wall_depth(metres=1.0, width=WIDTH, height=HEIGHT, encoding='16UC1'):
    """Return a flat wall facing the camera at ``metres`` (16UC1 millimetres or 32FC1 metres)."""
    if encoding == '32FC1':
        values = np.full((height, width), metres, np.float32)
    else:
        values = np.full((height, width), round(metres * 1000), np.uint16)
    msg = array_to_image(values, encoding)
    msg.header.frame_id = FRAME_ID
    return msg


class DepthFeed:
    """Publishers for colour, depth and camera_info, and the node's output."""

    def __init__(self, client):
        self.client = client
        self.images = client.publisher(Image, topic('camera/image_raw'))
        self.depths = client.publisher(Image, topic('camera/depth/image_raw'))
        self.infos = client.publisher(CameraInfo, topic('camera/camera_info'))
        self.commands = client.publisher(String, topic('command_text'))
        self.features = client.collect(MultimodalFeatures, topic('multimodal_features'))
        for publisher in (self.images, self.depths, self.infos, self.commands):
            assert client.wait_for_subscribers(publisher)
        self.commands.publish(String(data='red circle, blue square'))
        client.spin_for(0.5)

    def answer(self, depth=None, info=None, depth_stamp_offset=0.0, located=None,
               timeout=30.0):
        """
        Publish camera_info, depth and a colour frame with one stamp until a result comes.

        With ``located`` True, only a result whose 3D rows are all finite counts: the
        first best-effort depth frame after discovery may be lost on the way, and then
        its colour frame is rightly answered without depth. With False, only one whose
        rows are all NaN: a new camera_info may arrive after the frame it was sent with,
        which then still uses the one before.
        """
        image = make_image(WIDTH, HEIGHT, 'rgb8', frame_id=FRAME_ID)
        sent = set()

        def publish():
            stamp = next(_stamps)
            sent.add(stamp)
            image.header.stamp.sec = stamp
            if info is not None:
                self.infos.publish(info)
            if depth is not None:
                depth.header.stamp.sec = stamp
                depth.header.stamp.nanosec = int(depth_stamp_offset * 1e9)
                self.depths.publish(depth)
            self.images.publish(image)

        def wanted(msg):
            if msg.header.stamp.sec not in sent:
                return False
            finite = np.isfinite(msg.object_positions_3d)
            return {None: True, True: finite.all(), False: not finite.any()}[located]

        return self.client.spin_until(
            lambda: next((m for m in self.features if wanted(m)), None),
            timeout=timeout, every=publish, period=0.3)


@pytest.fixture(scope='module')
def feed(client, depth_node):
    return DepthFeed(client)


def wall_point(box, z):
    """Where the box's centre lies on a wall at depth z (continuous box -> pixel centres)."""
    u = (box[0] + box[2]) / 2 - 0.5
    v = (box[1] + box[3]) / 2 - 0.5
    return np.array([(u - CX) * z / FX, (v - CY) * z / FY, z])


@pytest.mark.parametrize('encoding', ['16UC1', '32FC1'])
def test_detections_get_their_place_on_the_wall_in_metres(feed, depth_node, encoding):
    msg = feed.answer(wall_depth(1.2, encoding=encoding), camera_info(), located=True)
    assert msg is not None, depth_node.output()[-2000:]
    arrays = msg_to_arrays(msg)
    positions = np.reshape(msg.object_positions_3d, (-1, 3))
    sizes = np.reshape(msg.object_sizes_3d, (-1, 3))
    assert len(positions) == len(sizes) == len(arrays['boxes']) >= 1
    for box, position, size in zip(arrays['boxes'], positions, sizes):
        # Sampled pixel centres: their mean sits within a sample step of the box centre.
        step = max(box[2] - box[0], box[3] - box[1]) / 32 * 1.2 / FX + 1e-3
        np.testing.assert_allclose(position, wall_point(box, 1.2), atol=step)
        assert abs(size[2]) < 0.003                       # a flat wall: no depth extent
        assert size[0] <= (box[2] - box[0]) * 1.2 / FX + 1e-3


def test_markers_show_each_located_detection(feed, client, depth_node):
    from visualization_msgs.msg import Marker, MarkerArray

    markers = client.collect(MarkerArray, topic('~/markers'))
    assert client.spin_until(lambda: client.node.count_subscribers(topic('~/markers')) > 0)
    msg = feed.answer(wall_depth(0.9), camera_info(), located=True)
    assert msg is not None
    assert client.spin_until(lambda: markers, timeout=10)
    array = markers[-1].markers
    assert array[0].action == Marker.DELETEALL
    cubes = [m for m in array if m.type == Marker.CUBE]
    texts = [m for m in array if m.type == Marker.TEXT_VIEW_FACING]
    assert len(cubes) == len(texts) >= 1
    assert all(m.header.frame_id == FRAME_ID for m in array)
    assert all(abs(cube.pose.position.z - 0.9) < 0.01 for cube in cubes)
    for cube, text in zip(cubes, texts):
        distance = np.linalg.norm([cube.pose.position.x, cube.pose.position.y,
                                   cube.pose.position.z])
        assert text.text.endswith(f' {distance:.2f} m'), text.text   # label score distance
        assert text.pose.position.y < cube.pose.position.y           # above it (-y is up)


def frames_without_depth(diagnostics):
    for array in reversed(diagnostics):
        for status in array.status:
            values = {kv.key: kv.value for kv in status.values}
            if 'frames_without_depth' in values:
                return int(values['frames_without_depth']), values
    return None, {}


def unusable_depth_cases():
    """Return (what the warning says, depth, camera_info, depth stamp offset) cases."""
    other_frame = wall_depth()
    other_frame.header.frame_id = 'camera_depth_optical_frame'
    other_aspect = wall_depth(width=WIDTH, height=WIDTH)
    wrong_encoding = wall_depth()
    wrong_encoding.encoding = 'rgb8'
    zero_focal = camera_info(k=[0.0] * 9)
    return [
        ('is in frame', other_frame, camera_info(), 0.0),
        ('another aspect ratio', other_aspect, camera_info(), 0.0),
        ('unsupported depth encoding', wrong_encoding, camera_info(), 0.0),
        ('no usable focal length', wall_depth(), zero_focal, 0.0),
        ('stamped within depth_slop', wall_depth(), camera_info(), 0.5),
    ]


def test_unusable_depth_gives_nan_rows_a_reason_and_a_count(feed, client, depth_node):
    diagnostics = client.collect(DiagnosticArray, '/diagnostics')
    assert client.spin_until(lambda: frames_without_depth(diagnostics)[0] is not None)
    for reason, depth, info, offset in unusable_depth_cases():
        before, _ = frames_without_depth(diagnostics)
        msg = feed.answer(depth, info, depth_stamp_offset=offset, located=False)
        assert msg is not None, f'{reason}: no result with NaN rows'
        count_boxes = len(msg.detected_objects)
        assert count_boxes >= 1 and len(msg.object_positions) == 4 * count_boxes
        assert len(msg.object_positions_3d) == 3 * count_boxes, reason
        assert np.isnan(msg.object_positions_3d).all(), reason
        assert np.isnan(msg.object_sizes_3d).all(), reason
        assert client.spin_until(lambda: frames_without_depth(diagnostics)[0] > before,
                                 timeout=10), reason
        assert reason in depth_node.output(), reason
        # The node still locates objects once depth is usable again.
        assert feed.answer(wall_depth(), camera_info(), located=True) is not None, reason
    assert depth_node.process.poll() is None
    _, values = frames_without_depth(diagnostics)
    assert float(values['depth_median_ms']) > 0


def test_with_use_depth_false_the_3d_fields_stay_empty(tmp_path_factory, client):
    model = save_tiny_model(tmp_path_factory.mktemp('tiny_model_2d'))
    params = write_params(tmp_path_factory.mktemp('params_2d') / 'params.yaml', model=model,
                          score_threshold=0.0)
    node = NodeProcess('vlm_perception_node', ['--params-file', params,
                                               '-r', f'__ns:={PREFIX}_off'])
    try:
        assert node.wait_for_output('sync_policy', timeout=120), node.output()
        assert 'depth ' not in node.output()
        prefix = f'{PREFIX}_off'
        images = client.publisher(Image, f'{prefix}/camera/image_raw')
        commands = client.publisher(String, f'{prefix}/command_text')
        features = client.collect(MultimodalFeatures, f'{prefix}/multimodal_features')
        assert client.wait_for_subscribers(images) and client.wait_for_subscribers(commands)
        assert client.node.count_subscribers(f'{prefix}/camera/depth/image_raw') == 0
        assert client.node.count_subscribers(f'{prefix}/camera/camera_info') == 0
        commands.publish(String(data='red circle'))
        client.spin_for(0.5)
        image = make_image(WIDTH, HEIGHT, 'rgb8')
        assert client.spin_until(lambda: features, timeout=30,
                                 every=lambda: images.publish(image), period=0.3)
        assert len(features[0].detected_objects) >= 1
        assert len(features[0].object_positions_3d) == len(features[0].object_sizes_3d) == 0
    finally:
        node.close()
