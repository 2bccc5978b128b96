# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
vlm_perception_node on a real ROS 2 graph: the installed node runs as its own process.

It loads a tiny model the tests save (the same loading code users run), reads a
parameters file, and has its topics remapped; this process feeds it images and
commands and checks what comes back.
"""

from itertools import count

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import pytest
from ros_graph import graph_client, make_image, malformed_images, NodeProcess, save_tiny_model
from ros_graph import write_params
from sensor_msgs.msg import Image
from std_msgs.msg import String

msg_module = pytest.importorskip('vlm_perception.msg')
MultimodalFeatures = msg_module.MultimodalFeatures

pytestmark = pytest.mark.ros

IMAGE_TOPIC = '/vlm_test/image'
COMMAND_TOPIC = '/vlm_test/command'
FEATURES_TOPIC = '/vlm_test/features'
MAX_DETECTIONS = 5
STARTED = 'sync_policy'  # the last words of the node's startup line
_stamps = count(1000)


@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp('tiny_model'))


@pytest.fixture(scope='module')
def client():
    with graph_client() as graph:
        yield graph


def remaps(prefix=''):
    """Remap the node's three topics under /vlm_test (plus ``prefix``)."""
    return ['-r', f'camera/image_raw:={prefix}{IMAGE_TOPIC}',
            '-r', f'command_text:={prefix}{COMMAND_TOPIC}',
            '-r', f'multimodal_features:={prefix}{FEATURES_TOPIC}']


def start_node(tmp_path_factory, model, prefix='', **parameters):
    """Start the installed node with a parameters file; wait for its startup line."""
    params = write_params(tmp_path_factory.mktemp('params') / 'params.yaml', model=model,
                          score_threshold=0.0, max_detections=MAX_DETECTIONS,
                          diagnostics_period=0.2, no_image_warning_period=1.0, **parameters)
    node = NodeProcess('vlm_perception_node', ['--params-file', params, *remaps(prefix)])
    assert node.wait_for_output(STARTED, timeout=120), node.output()
    return node


@pytest.fixture(scope='module')
def latest_node(tmp_path_factory, tiny_model):
    node = start_node(tmp_path_factory, tiny_model)
    yield node
    node.close()


class Feed:
    """Publishers for the node's inputs and a subscription to its output."""

    def __init__(self, client, prefix=''):
        self.client = client
        self.images = client.publisher(Image, prefix + IMAGE_TOPIC)
        self.commands = client.publisher(String, prefix + COMMAND_TOPIC)
        self.features = client.collect(MultimodalFeatures, prefix + FEATURES_TOPIC)
        assert client.wait_for_subscribers(self.images)
        assert client.wait_for_subscribers(self.commands)
        assert client.spin_until(
            lambda: client.node.count_publishers(prefix + FEATURES_TOPIC) > 0, timeout=30)

    def command(self, text):
        self.commands.publish(String(data=text))

    def answer_to(self, image, command=None, timeout=60.0):
        """
        Publish ``image`` with fresh stamps until a result for one of them arrives.

        With ``command``, only a result answering that command counts (an earlier
        command may still be in force for the first frames). Returns it, or None.
        """
        sent = set()

        def publish():
            image.header.stamp.sec = next(_stamps)
            sent.add(image.header.stamp.sec)
            self.images.publish(image)

        def answer():
            return next((m for m in self.features if m.header.stamp.sec in sent
                         and command in (None, m.command)), None)

        return self.client.spin_until(answer, timeout=timeout, every=publish, period=0.25)

    def ask(self, command, image, timeout=60.0):
        """Send ``command``, then return the first result that answers it for ``image``."""
        self.command(command)
        return self.answer_to(image, command, timeout)


@pytest.fixture(scope='module')
def feed(client, latest_node):
    return Feed(client)


def test_startup_line_names_model_device_and_remapped_topics(latest_node, tiny_model):
    first_line = next(line for line in latest_node.output().splitlines() if STARTED in line)
    for text in (tiny_model, 'backend native', 'on cpu', IMAGE_TOPIC, COMMAND_TOPIC,
                 FEATURES_TOPIC, '/vlm_perception/debug_image'):
        assert text in first_line


def test_result_keeps_header_echoes_command_and_fits_the_layout(feed, tiny_model):
    from vlm_perception.conversion import msg_to_arrays

    image = make_image(320, 200, 'rgb8', frame_id='left_camera')
    msg = feed.ask('red circle; the blue square', image)
    assert msg is not None, 'no MultimodalFeatures for the image'
    assert msg.header.frame_id == 'left_camera'
    assert msg.header.stamp.nanosec == image.header.stamp.nanosec
    assert msg.command == 'red circle; the blue square'
    assert list(msg.queries) == ['red circle', 'the blue square']
    assert msg.model_id == tiny_model and msg.model_backend == 'native'
    assert (msg.image_width, msg.image_height) == (320, 200)
    arrays = msg_to_arrays(msg)  # checks every array length against its *_dim
    assert arrays['text'].shape == (2, msg.text_dim)
    assert arrays['fused'].shape == (2, msg.fused_dim)
    assert arrays['vision'].shape == (msg.vision_dim,)
    n = len(msg.detected_objects)
    assert 1 <= n <= MAX_DETECTIONS  # score_threshold 0: the tiny model always finds some
    assert set(msg.detected_objects) <= {'red circle', 'the blue square'}
    boxes = arrays['boxes']
    assert boxes.shape == (n, 4)
    assert np.all(boxes[:, 0] >= 0) and np.all(boxes[:, 2] <= 320)
    assert np.all(boxes[:, 1] >= 0) and np.all(boxes[:, 3] <= 200)
    assert np.all(boxes[:, :2] <= boxes[:, 2:])
    scores = arrays['scores']
    assert np.all((scores >= 0) & (scores <= 1)) and np.all(np.diff(scores) <= 0)


@pytest.mark.parametrize('encoding', ['bgr8', 'mono8', 'mono16', 'bgra8', 'bayer_rggb8',
                                      'yuv422_yuy2'])
def test_common_encodings_are_answered(feed, encoding):
    feed.command('red circle')
    msg = feed.answer_to(make_image(64, 48, encoding))
    assert msg is not None and (msg.image_width, msg.image_height) == (64, 48)


def bad_frames_counted(client, diagnostics):
    """Return the node's frames_bad counter from the newest diagnostics, or None."""
    for array in reversed(diagnostics):
        for status in array.status:
            values = {kv.key: kv.value for kv in status.values}
            if 'frames_bad' in values:
                return int(values['frames_bad'])
    return None


def test_malformed_images_are_logged_dropped_and_the_node_keeps_answering(
        feed, client, latest_node):
    diagnostics = client.collect(DiagnosticArray, '/diagnostics')
    feed.command('red circle')
    assert client.spin_until(lambda: bad_frames_counted(client, diagnostics) is not None)
    for reason, image in malformed_images():
        before = bad_frames_counted(client, diagnostics)
        image.header.stamp.sec = next(_stamps)
        feed.images.publish(image)
        assert client.spin_until(lambda: bad_frames_counted(client, diagnostics) > before,
                                 timeout=30), f'{reason}: not counted as a bad frame'
        assert feed.answer_to(make_image(48, 32)) is not None, f'no answer after {reason}'
    assert latest_node.process.poll() is None
    assert 'dropped an image' in latest_node.output()


def test_empty_and_blank_commands_stop_inference_until_the_next_command(feed, client):
    for blank in ('', '   ', ' ; , '):
        assert feed.ask('red circle', make_image(48, 32)) is not None
        feed.command(blank)
        client.spin_for(1.0)  # let the command arrive
        assert feed.answer_to(make_image(48, 32), timeout=2.0) is None, repr(blank)


def test_long_and_non_ascii_commands_are_answered(feed, latest_node):
    long_command = ', '.join(f'object number {i}' for i in range(600))[:10000]
    assert len(long_command) == 10000
    msg = feed.ask(long_command, make_image(48, 32))
    assert msg is not None
    assert len(msg.queries) == 16  # max_queries
    assert 'kept the first 16 queries' in latest_node.output()

    msg = feed.ask('tasse rouge ☕; 赤い丸', make_image(48, 32))
    assert msg is not None and list(msg.queries) == ['tasse rouge ☕', '赤い丸']


def test_diagnostics_report_rates_latency_and_model(feed, client):
    diagnostics = client.collect(DiagnosticArray, '/diagnostics')
    feed.command('red circle')
    for _ in range(2):  # the second frame finds 'red circle' in the text cache
        assert feed.answer_to(make_image(48, 32)) is not None

    def values_after_a_cache_hit():
        statuses = [s for array in diagnostics for s in array.status
                    if s.name.startswith('/vlm_perception: ')]
        values = {kv.key: kv.value for kv in statuses[-1].values} if statuses else {}
        return values if int(values.get('text_cache_hits', 0)) > 0 else None

    values = client.spin_until(values_after_a_cache_hit, timeout=10)
    assert values, 'no diagnostics from the node, or no text-cache hit in them'
    for key in ('input_rate_hz', 'output_rate_hz', 'latency_median_ms', 'latency_p95_ms',
                'frames_dropped', 'device', 'model', 'text_cache_misses', 'forward_median_ms'):
        assert key in values, key
    assert values['device'] == 'cpu'
    assert float(values['latency_median_ms']) > 0


def test_debug_image_is_published_to_a_subscriber(feed, client):
    debug = client.collect(Image, '/vlm_perception/debug_image')
    assert client.spin_until(
        lambda: client.node.count_subscribers('/vlm_perception/debug_image') > 0)
    feed.command('red circle')
    image = make_image(80, 60)
    assert client.spin_until(lambda: debug, timeout=60,
                             every=lambda: feed.images.publish(image), period=0.25)
    assert (debug[0].width, debug[0].height, debug[0].encoding) == (80, 60, 'bgr8')


def set_parameter(client, name, value):
    """Set one parameter of the node through its service; return the SetParametersResult."""
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient

    parameters = AsyncParameterClient(client.node, 'vlm_perception')
    assert parameters.wait_for_services(timeout_sec=30)
    future = parameters.set_parameters([Parameter(name, value=value)])
    assert client.spin_until(future.done, timeout=30)
    return future.result().results[0]


def test_run_time_parameters_are_validated_and_applied(feed, client):
    assert set_parameter(client, 'max_detections', 1).successful
    msg = feed.ask('red circle, blue square', make_image(48, 32))
    assert msg is not None and len(msg.detected_objects) == 1

    refused = set_parameter(client, 'score_threshold', 2.0)
    assert not refused.successful and refused.reason
    refused = set_parameter(client, 'sync_policy', 'sometimes')
    assert not refused.successful and 'latest' in refused.reason
    refused = set_parameter(client, 'model', '/elsewhere')
    assert not refused.successful and 'read-only' in refused.reason
    assert set_parameter(client, 'max_detections', MAX_DETECTIONS).successful


def test_on_command_answers_exactly_once_per_command(tmp_path_factory, tiny_model, client):
    node = start_node(tmp_path_factory, tiny_model, prefix='/on_command',
                      sync_policy='on_command', sync_slop=0.5)
    try:
        feed = Feed(client, prefix='/on_command')
        image = make_image(48, 32)

        def publish_now():
            image.header.stamp = client.node.get_clock().now().to_msg()
            feed.images.publish(image)

        client.spin_for(1.0, every=publish_now)
        for text in ('red circle', 'blue square', 'red circle'):
            before = len(feed.features)
            feed.command(text)
            client.spin_for(3.0, every=publish_now)
            answers = feed.features[before:]
            assert [m.command for m in answers] == [text], text

        # Frames stamped long before the command never qualify: nothing is answered.
        def publish_old():
            image.header.stamp.sec = 1000
            feed.images.publish(image)

        client.spin_for(1.0, every=publish_old)
        before = len(feed.features)
        feed.command('green star')
        client.spin_for(2.0, every=publish_old)
        assert feed.features[before:] == []
        assert 'no frame stamped within 0.500 s' in node.output()
    finally:
        node.close()


def test_sigint_ends_the_node_quickly_and_quietly(tmp_path_factory, tiny_model):
    node = start_node(tmp_path_factory, tiny_model, prefix='/sigint')
    try:
        assert node.interrupt(timeout=20) == 0
        assert 'Traceback' not in node.output()
    finally:
        node.close()


@pytest.mark.parametrize('parameters, expected', [
    ({'score_threshold': 2.0}, 'score_threshold'),
    ({'sync_policy': 'sometimes'}, 'sync_policy'),
    ({'model': '/nonexistent/vlm_model'}, '/nonexistent/vlm_model'),
    ({'device': 'tpu'}, 'tpu'),
])
def test_bad_startup_parameters_end_the_process_with_one_line(tmp_path_factory, tiny_model,
                                                              parameters, expected):
    params = write_params(tmp_path_factory.mktemp('bad') / 'params.yaml',
                          **{'model': tiny_model, **parameters})
    node = NodeProcess('vlm_perception_node', ['--params-file', params])
    try:
        assert node.wait(timeout=120) != 0
        lines = [line for line in node.output().splitlines() if line.strip()]
        assert len(lines) == 1, lines
        assert expected in lines[0] and 'Traceback' not in lines[0]
    finally:
        node.close()
