# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The camera and depth inputs' wiring: topic names per transport, and the watchdog's words.

Topic names are checked on real rclpy nodes with remapping and a namespace; the
watchdog (ImageInput.check) on a stand-in node that reports a chosen graph, since
its decisions are what is tested here (the real lost-frame case runs in
test_node_graph_transport.py).
"""

from types import SimpleNamespace

import pytest
from rclpy.event_handler import UnsupportedEventTypeError
from rclpy.qos import ReliabilityPolicy
from vlm_perception.depth_input import DepthInput
from vlm_perception.image_input import ImageInput
from vlm_perception.local_graph import PROFILE_VARIABLES
from vlm_perception.params import defaults


def config(**changes):
    return dict(defaults(), no_image_warning_period=1.0, **changes)


@pytest.fixture
def make_node(ros_context):
    import rclpy

    nodes = []

    def make(*arguments, namespace=None):
        node = rclpy.create_node('input_test', context=ros_context, namespace=namespace,
                                 cli_args=['--ros-args', *arguments])
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        node.destroy_node()


@pytest.mark.parametrize('transport, expected', [('raw', '/cam/image'),
                                                 ('compressed', '/cam/image/compressed')])
def test_the_image_topic_is_the_remapped_one_plus_the_transport(make_node, transport, expected):
    node = make_node('-r', 'camera/image_raw:=/cam/image')
    images = ImageInput(node, config(image_transport=transport), print, 5.0)
    assert images.topic_name == expected


def test_transport_topics_follow_the_namespace_and_depth_its_own_remapping(make_node):
    node = make_node('-r', 'camera/depth/image_raw:=aligned_depth', namespace='/robot')
    images = ImageInput(node, config(image_transport='compressed'), print, 5.0)
    depth = DepthInput(node, config(depth_transport='compressedDepth'), print, 4)
    assert images.topic_name == '/robot/camera/image_raw/compressed'
    assert depth.depth_subscription.topic_name == '/robot/aligned_depth/compressedDepth'
    raw_depth = DepthInput(node, config(), print, 4)
    assert raw_depth.depth_subscription.topic_name == '/robot/aligned_depth'


class GraphStandIn:
    """A node whose graph (publishers per topic) the test sets; it keeps the warnings."""

    def __init__(self, publishers=None, message_lost=True):
        self.publishers = publishers or {}    # topic -> [reliability, ...]
        self.message_lost = message_lost
        self.warnings = []
        self.subscriptions = []

    def resolve_topic_name(self, topic):
        return '/' + topic

    def create_subscription(self, msg_type, topic, callback, qos, event_callbacks):
        if event_callbacks.message_lost and not self.message_lost:
            raise UnsupportedEventTypeError('message lost')
        subscription = SimpleNamespace(topic_name=topic if topic.startswith('/')
                                       else '/' + topic, callback=callback,
                                       events=event_callbacks)
        self.subscriptions.append(subscription)
        return subscription

    def get_publishers_info_by_topic(self, topic):
        return [SimpleNamespace(qos_profile=SimpleNamespace(reliability=reliability))
                for reliability in self.publishers.get(topic, [])]

    def count_publishers(self, topic):
        return len(self.publishers.get(topic, []))

    def get_logger(self):
        return SimpleNamespace(warn=lambda text, **_: self.warnings.append(text))


BEST_EFFORT = ReliabilityPolicy.BEST_EFFORT
RELIABLE = ReliabilityPolicy.RELIABLE


def checked(images, seconds=1.5):
    """Run the watchdog ``seconds`` after startup; return its warnings."""
    images.check(images.started + seconds)
    return images.node.warnings


def test_frames_lost_in_transport_are_counted_and_named_with_the_cure(monkeypatch):
    for name in PROFILE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    node = GraphStandIn({'/camera/image_raw': [BEST_EFFORT]})
    images = ImageInput(node, config(), lambda msg: None, 5.0)
    subscription = node.subscriptions[0]
    subscription.callback(SimpleNamespace(data=bytes(921600)))
    subscription.events.message_lost(SimpleNamespace(total_count=7, total_count_change=7))
    assert images.lost == 7
    warning, = checked(images)
    assert warning.startswith('7 frame(s) on /camera/image_raw lost in transport in the '
                              'last 1.5 s (1 arrived)')
    for cause in ('these are 900 KB', 'UDP fragments', 'fastdds_large_frames.xml',
                  'image_transport to compressed'):
        assert cause in warning
    # The next period counts afresh: nothing more lost, a frame arrived just now.
    subscription.callback(SimpleNamespace(data=bytes(10)))
    images.last_arrival = images.started + 2.9
    images.check(images.started + 3.0)
    assert len(node.warnings) == 1


def test_a_node_on_the_large_frame_profile_asks_for_it_on_the_camera_side(monkeypatch):
    monkeypatch.setenv('FASTRTPS_DEFAULT_PROFILES_FILE', '/etc/big_frames.xml')
    node = GraphStandIn({'/camera/image_raw': [BEST_EFFORT]})
    images = ImageInput(node, config(), lambda msg: None, 5.0)
    node.subscriptions[0].events.message_lost(SimpleNamespace(total_count=2))
    warning, = checked(images)
    assert 'this node uses the Fast DDS profile /etc/big_frames.xml: start the camera with ' \
        'it too' in warning


def test_lost_compressed_frames_point_at_the_network():
    node = GraphStandIn({'/camera/image_raw/compressed': [BEST_EFFORT]})
    images = ImageInput(node, config(image_transport='compressed'), lambda msg: None, 5.0)
    node.subscriptions[0].events.message_lost(SimpleNamespace(total_count=3))
    warning, = checked(images)
    assert 'lost in transport' in warning and 'network' in warning
    assert 'UDP fragments' not in warning


@pytest.mark.parametrize('transport, publishers, message_lost, expected', [
    ('raw', {}, True, 'no publisher on it; check the remapping'),
    ('raw', {'/camera/image_raw/compressed': [BEST_EFFORT]}, True,
     '/camera/image_raw/compressed has publishers: set image_transport to compressed'),
    ('compressed', {'/camera/image_raw': [BEST_EFFORT]}, True,
     '/camera/image_raw has raw publishers: set image_transport to raw'),
    ('raw', {'/camera/image_raw': [RELIABLE]}, True, 'none sending (no frame arrived and '
     'none was lost in transport)'),
    ('raw', {'/camera/image_raw': [RELIABLE]}, False, 'this RMW does not report frames '
     'lost in transport); if they are sending, frames larger than the shared-memory'),
])
def test_silence_is_explained_by_what_is_on_the_graph(transport, publishers, message_lost,
                                                      expected):
    node = GraphStandIn(publishers, message_lost)
    images = ImageInput(node, config(image_transport=transport), lambda msg: None, 5.0)
    assert images.lost == (0 if message_lost else None)
    warning, = checked(images)
    assert 'no image on' in warning and expected in warning, warning


def test_the_reliable_mismatch_is_still_named():
    node = GraphStandIn({'/camera/image_raw': [BEST_EFFORT]})
    images = ImageInput(node, config(image_reliability='reliable'), lambda msg: None, 5.0)
    warning, = checked(images)
    assert 'set image_reliability to best_effort' in warning


def test_no_warning_while_frames_arrive_and_none_are_lost():
    node = GraphStandIn({'/camera/image_raw': [BEST_EFFORT]})
    images = ImageInput(node, config(), lambda msg: None, 5.0)
    node.subscriptions[0].callback(SimpleNamespace(data=bytes(10)))
    images.last_arrival = images.started + 1.4
    assert checked(images) == []
    assert checked(images, seconds=1.6) == []
