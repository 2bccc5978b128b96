# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The ~/detect service on a real ROS 2 graph: the installed node runs as its own process.

This process (or ``vlm-perception ask`` in processes of its own) calls the service,
feeds the node's topics and compares what comes back with what the topic carries.
Requests are held waiting, where a test needs them to overlap, by the node's own
depth pairing (use_depth with no depth frame yet), not by timing.
"""

from itertools import count
import json
import subprocess
import sys
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import pytest
from ros_graph import graph_client, make_image, malformed_images, NodeProcess, save_tiny_model
from ros_graph import write_params
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String

msg_module = pytest.importorskip('vlm_perception.msg')
Detect = pytest.importorskip('vlm_perception.srv').Detect
MultimodalFeatures = msg_module.MultimodalFeatures

pytestmark = pytest.mark.ros

STARTED = 'sync_policy'  # the last words of the node's startup line
_stamps = count(5000)
FIELDS = ('command', 'queries', 'model_id', 'model_backend', 'image_width', 'image_height',
          'vision_dim', 'text_dim', 'fused_dim', 'detected_objects')
ARRAYS = ('vision_features', 'text_features', 'fused_features', 'object_positions',
          'object_scores', 'object_positions_3d', 'object_sizes_3d')


@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp('tiny_model'))


@pytest.fixture(scope='module')
def client():
    with graph_client('vlm_detect_test_client') as graph:
        yield graph


def ros_arguments(name, tmp_path_factory, model, **parameters):
    """Name the node ``name`` and put its topics under /``name``; return --ros-args."""
    params = write_params(tmp_path_factory.mktemp('params') / 'params.yaml', model=model,
                          score_threshold=0.0, max_detections=5, diagnostics_period=0.2,
                          no_image_warning_period=0.0, **parameters)
    remapped = ['-r', f'__node:={name}', '--params-file', params]
    for topic in ('camera/image_raw', 'command_text', 'multimodal_features',
                  'camera/depth/image_raw', 'camera/camera_info'):
        remapped += ['-r', f'{topic}:=/{name}/{topic}']
    return remapped


def start_node(name, tmp_path_factory, model, **parameters):
    """Start the installed node as ``name``; wait for its startup line."""
    node = NodeProcess('vlm_perception_node',
                       ros_arguments(name, tmp_path_factory, model, **parameters))
    assert node.wait_for_output(STARTED, timeout=120), node.output()
    return node


class Graph:
    """This process's side of one node: its topics, its diagnostics and a ~/detect client."""

    def __init__(self, client, name):
        self.client = client
        self.name = name
        self.images = client.publisher(Image, f'/{name}/camera/image_raw')
        self.commands = client.publisher(String, f'/{name}/command_text')
        self.features = client.collect(MultimodalFeatures, f'/{name}/multimodal_features')
        self.diagnostics = client.collect(DiagnosticArray, '/diagnostics', depth=100)
        self.detect = client.node.create_client(Detect, f'/{name}/detect')
        assert client.wait_for_subscribers(self.images)
        assert client.wait_for_subscribers(self.commands)
        assert client.spin_until(self.detect.service_is_ready, timeout=30)

    def call(self, command, image=None, timeout=60.0):
        """Call ~/detect and return the response."""
        request = Detect.Request(command=command)
        if image is not None:
            request.image = image
        future = self.detect.call_async(request)
        assert self.client.spin_until(future.done, timeout=timeout), 'no answer from ~/detect'
        return future.result()

    def topic_answer(self, image, command=None, timeout=60.0):
        """Publish ``image`` (its stamp kept) until the topic's result for it arrives."""
        def answer():
            return next((m for m in self.features if m.header.stamp == image.header.stamp
                         and command in (None, m.command)), None)
        return self.client.spin_until(answer, timeout=timeout,
                                      every=lambda: self.images.publish(image), period=0.25)

    def hold_command(self, text):
        """Put ``text`` in force on the topic; return once a result answers it."""
        self.commands.publish(String(data=text))
        image = make_image(48, 32, stamp_sec=next(_stamps))
        for _ in range(240):
            if self.topic_answer(image, text, timeout=0.25) is not None:
                return
            image.header.stamp.sec = next(_stamps)
        raise AssertionError(f'the node never answered command {text!r} on the topic')

    def fresh_diagnostic(self, key):
        """Return the value for ``key`` in the node's next /diagnostics message."""
        del self.diagnostics[:]
        assert self.client.spin_until(lambda: self.diagnostic(key) is not None, timeout=30)
        return self.diagnostic(key)

    def diagnostic(self, key):
        """Return the node's newest /diagnostics value for ``key``, or None."""
        for array in reversed(self.diagnostics):
            for status in array.status:
                if status.name.startswith(f'/{self.name}: '):
                    values = {kv.key: kv.value for kv in status.values}
                    return values.get(key)
        return None


def stamped(image):
    """Give ``image`` a stamp no other frame of this run has; return it."""
    image.header.stamp.sec = next(_stamps)
    return image


def assert_same_features(ours, theirs):
    """Assert two MultimodalFeatures carry the same header, fields and arrays."""
    assert ours.header == theirs.header
    for field in FIELDS:
        assert getattr(ours, field) == getattr(theirs, field), field
    for field in ARRAYS:
        np.testing.assert_array_equal(np.asarray(getattr(ours, field)),
                                      np.asarray(getattr(theirs, field)), err_msg=field)


@pytest.fixture(scope='module')
def plain_node(tmp_path_factory, tiny_model):
    node = start_node('detect_plain', tmp_path_factory, tiny_model)
    yield node
    node.close()


@pytest.fixture(scope='module')
def plain(client, plain_node):
    return Graph(client, 'detect_plain')


def test_a_request_with_an_image_returns_what_the_topic_carries_and_publishes_nothing(plain):
    command = 'red circle; the blue square'
    plain.hold_command(command)
    image = stamped(make_image(80, 60, 'rgb8', frame_id='request_camera', seed=5))
    response = plain.call(command, image)
    assert response.success and response.message == '', response.message
    answer = response.result
    assert answer.header.frame_id == 'request_camera'
    assert list(answer.queries) == ['red circle', 'the blue square']
    assert (answer.image_width, answer.image_height) == (80, 60)
    assert 1 <= len(answer.detected_objects) <= 5
    plain.client.spin_for(1.0)
    assert not [m for m in plain.features if m.header.stamp == image.header.stamp], \
        'the answer to a request was published on the topic'
    # The same frame and command through the topic: the same message.
    on_topic = plain.topic_answer(image, command)
    assert on_topic is not None
    assert_same_features(answer, on_topic)


def test_an_empty_image_means_the_newest_topic_frame_and_the_command_stays(plain):
    plain.hold_command('red circle')
    newest = stamped(make_image(72, 40, 'bgr8', frame_id='newest_frame', seed=7))
    assert plain.topic_answer(newest, 'red circle') is not None  # the node has it
    response = plain.call('blue square, green star')
    assert response.success, response.message
    answer = response.result
    assert answer.header == newest.header
    assert (answer.image_width, answer.image_height) == (72, 40)
    assert answer.command == 'blue square, green star'
    assert list(answer.queries) == ['blue square', 'green star']
    # The request did not touch the topic's standing command.
    later = plain.topic_answer(stamped(make_image(48, 32)))
    assert later is not None and later.command == 'red circle'
    assert plain.client.spin_until(lambda: plain.diagnostic('command') == 'red circle')


@pytest.mark.parametrize('blank', ['', '   ', ' ; , '])
def test_an_empty_command_is_refused(plain, blank):
    response = plain.call(blank, make_image(32, 24))
    assert not response.success
    assert response.message.startswith('empty command'), response.message


def test_a_malformed_image_is_refused_with_the_conversion_reason(plain, plain_node):
    from vlm_perception.conversion import image_to_array, ImageConversionError

    refused = int(plain.fresh_diagnostic('detect_requests_refused'))
    malformed = [(reason, image) for reason, image in malformed_images()
                 if len(image.data)]  # empty data asks for the newest topic frame instead
    for reason, image in malformed:
        with pytest.raises(ImageConversionError) as expected:
            image_to_array(image)
        response = plain.call('red circle', image)
        assert not response.success, reason
        assert response.message == f'malformed image: {expected.value}', reason
        assert plain.call('red circle', make_image(32, 24)).success, f'no answer after {reason}'
    assert plain_node.process.poll() is None
    assert int(plain.fresh_diagnostic('detect_requests_refused')) == refused + len(malformed)


def test_query_limits_apply_and_say_what_they_cut(plain):
    command = ', '.join(f'object {index}' for index in range(20))
    response = plain.call(command, make_image(32, 24))
    assert response.success
    assert len(response.result.queries) == 16  # max_queries
    assert response.message == 'kept the first 16 queries, dropped 4 more'


def test_topic_results_keep_flowing_while_requests_are_served(plain):
    """Another client asks back to back while frames stream; both paths are answered."""
    plain.hold_command('red circle')
    answers = []
    stop = threading.Event()
    asker = threading.Thread(target=ask_until_stopped, args=('detect_plain', stop, answers))
    asker.start()
    try:
        assert plain.client.spin_until(lambda: len(answers) >= 3, timeout=60)
        sent = []

        def publish():
            sent.append(stamped(make_image(48, 32)))
            plain.images.publish(sent[-1])

        served_before = len(answers)
        plain.client.spin_for(3.0, every=publish, period=0.05)
        served_during = len(answers) - served_before
    finally:
        stop.set()
        asker.join(60)
    stamps = {image.header.stamp.sec for image in sent}
    on_topic = [m for m in plain.features if m.header.stamp.sec in stamps]
    assert served_during >= 5, 'requests stopped while frames streamed'
    assert len(on_topic) >= 5, 'topic results stopped while requests were served'
    assert all(response.success for response in answers), [r.message for r in answers]
    assert all(m.command == 'red circle' for m in on_topic)


def ask_until_stopped(name, stop, answers):
    """Call /``name``/detect back to back from a node of its own until ``stop``."""
    with graph_client('vlm_detect_load') as graph:
        detect = graph.node.create_client(Detect, f'/{name}/detect')
        assert graph.spin_until(detect.service_is_ready, timeout=30)
        image = make_image(40, 30, seed=3)
        while not stop.is_set():
            future = detect.call_async(Detect.Request(command='blue square', image=image))
            if graph.spin_until(future.done, timeout=30):
                answers.append(future.result())


def vlm_perception(*arguments, timeout=120):
    """Run ``vlm-perception ARGUMENTS`` in a process of its own; return it done."""
    return subprocess.run([sys.executable, '-m', 'vlm_perception.cli', *arguments],
                          capture_output=True, text=True, timeout=timeout)


def start_ask(*arguments):
    """Start ``vlm-perception ask ARGUMENTS`` in a process of its own; return the Popen."""
    return subprocess.Popen([sys.executable, '-m', 'vlm_perception.cli', 'ask', *arguments],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def write_png(path, width, height, seed):
    """Write a random colour PNG; return its path as a string."""
    import cv2

    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)
    assert cv2.imwrite(str(path), pixels)
    return str(path)


def test_ask_prints_the_answer_the_way_detect_does(plain, tmp_path):
    picture = write_png(tmp_path / 'scene.png', 100, 60, seed=1)
    done = vlm_perception('ask', 'red cup, tennis ball', '--image', picture,
                          '--node', 'detect_plain')
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f'{picture}: 100x60, model ') and lines[0].endswith('(native)')
    assert lines[1] == 'queries: red cup, tennis ball'
    assert lines[2] == 'features: vision 32, text 2x32, fused 2x32'
    assert 'detection(s):' in lines[3] and lines[-1].startswith('timings: round_trip ')

    done = vlm_perception('ask', 'red cup', '--image', picture, '--json',
                          '--service', '/detect_plain/detect')
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary['image'] == picture and summary['queries'] == ['red cup']
    assert (summary['image_width'], summary['image_height']) == (100, 60)
    assert summary['backend'] == 'native' and 'device' not in summary
    assert summary['text_features'] == {'rows': 1, 'length': 32}
    assert len(summary['boxes']) == len(summary['scores']) == len(summary['labels']) > 0
    assert summary['timings']['round_trip'] > 0 and 'positions_3d' not in summary


def test_ask_on_the_newest_camera_frame(plain):
    plain.hold_command('red circle')
    newest = stamped(make_image(64, 48, frame_id='ask_camera'))
    assert plain.topic_answer(newest) is not None
    ask = start_ask('green star', '--node', 'detect_plain', '--json')
    # The camera streams on (the same frame) while ask starts up.
    plain.client.spin_until(lambda: ask.poll() is not None, timeout=120,
                            every=lambda: plain.images.publish(newest), period=0.1)
    out, err = ask.communicate(timeout=60)
    assert ask.returncode == 0, err
    summary = json.loads(out)
    assert summary['image'].startswith(f'newest camera frame (stamp {newest.header.stamp.sec}.')
    assert 'ask_camera' in summary['image'] and summary['queries'] == ['green star']


def test_ask_says_in_one_line_when_refused_or_when_there_is_no_service(plain, tmp_path):
    picture = write_png(tmp_path / 'scene.png', 32, 24, seed=2)
    done = vlm_perception('ask', ' ; ', '--image', picture, '--node', 'detect_plain')
    assert done.returncode == 1 and done.stdout == ''
    assert done.stderr.strip().splitlines() == [
        'vlm-perception ask: error: /detect_plain/detect refused: empty command: name what '
        'to look for (phrases separated by commas or semicolons)']
    done = vlm_perception('ask', 'red cup', '--node', 'nobody_here', '--timeout', '2')
    assert done.returncode == 1 and done.stdout == ''
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and 'no service /nobody_here/detect within 2 s' in lines[0]
    done = vlm_perception('ask', 'red cup', '--image', str(tmp_path / 'missing.png'))
    assert done.returncode == 1 and 'cannot read image' in done.stderr


def test_no_frame_yet_and_a_stale_frame_are_refused(client, tmp_path_factory, tiny_model):
    node = start_node('detect_fresh', tmp_path_factory, tiny_model, detect_max_frame_age=2.0)
    try:
        fresh = Graph(client, 'detect_fresh')
        response = fresh.call('red circle')
        assert not response.success
        assert response.message == ('no image in the request, and none received on '
                                    '/detect_fresh/camera/image_raw yet')
        frame = stamped(make_image(48, 32))
        client.spin_for(1.0, every=lambda: fresh.images.publish(frame), period=0.1)
        response = fresh.call('red circle')
        assert response.success, response.message
        assert response.result.header == frame.header
        client.spin_for(3.0)  # no frame for longer than detect_max_frame_age
        response = fresh.call('red circle')
        assert not response.success
        assert 'the newest on /detect_fresh/camera/image_raw arrived' in response.message
        assert response.message.endswith('s ago (detect_max_frame_age 2 s)')
        assert fresh.call('red circle', make_image(32, 24)).success  # still serving
    finally:
        node.close()


def depth_frame(stamp, width=64, height=48, millimetres=1000, frame_id='test_camera'):
    """Return a constant 16UC1 depth image stamped ``stamp`` (a builtin_interfaces/Time)."""
    from vlm_perception.conversion import array_to_image

    depth = array_to_image(np.full((height, width), millimetres, np.uint16), '16UC1')
    depth.header.stamp, depth.header.frame_id = stamp, frame_id
    return depth


def camera_info(width=64, height=48, frame_id='test_camera'):
    """Return a pinhole camera_info for ``width`` x ``height``."""
    fx = fy = float(width)
    cx, cy = width / 2.0, height / 2.0
    info = CameraInfo(width=width, height=height, distortion_model='plumb_bob')
    info.header.frame_id = frame_id
    info.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    info.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def test_two_clients_at_once_both_get_their_answers_with_3d(client, tmp_path_factory,
                                                            tiny_model, tmp_path):
    # Without a depth frame stamped at or after theirs, requests wait (up to depth_slop).
    node = start_node('detect_depth', tmp_path_factory, tiny_model, use_depth=True,
                      depth_slop=10.0)
    asks = []
    try:
        graph = Graph(client, 'detect_depth')
        depth = client.publisher(Image, '/detect_depth/camera/depth/image_raw')
        info = client.publisher(CameraInfo, '/detect_depth/camera/camera_info')
        assert client.wait_for_subscribers(depth) and client.wait_for_subscribers(info)
        client.spin_for(0.5, every=lambda: info.publish(camera_info()), period=0.1)
        pictures = [write_png(tmp_path / 'small.png', 64, 48, seed=4),
                    write_png(tmp_path / 'large.png', 128, 96, seed=5)]
        asks = [start_ask('red circle', '--image', pictures[0], '--node', 'detect_depth',
                          '--json', '--timeout', '120'),
                start_ask('blue square; green star', '--image', pictures[1], '--node',
                          'detect_depth', '--json', '--timeout', '120')]
        # Both wait at once, and the executor goes on: diagnostics, and a new command.
        # camera_info goes on as a camera sends it, with every frame: one message sent
        # just after discovery can be missed by a node still starting.
        assert client.spin_until(lambda: graph.diagnostic('detect_requests_waiting') == '2',
                                 timeout=120, every=lambda: info.publish(camera_info()),
                                 period=0.1), [a.poll() for a in asks]
        graph.commands.publish(String(data='a new standing command'))
        assert client.spin_until(
            lambda: graph.diagnostic('command') == 'a new standing command', timeout=30)
        assert graph.diagnostic('detect_requests_waiting') == '2'
        # A depth frame stamped after both requests lets them go on, with 3D.
        later = client.node.get_clock().now().to_msg()
        later.sec += 1
        client.spin_until(lambda: all(a.poll() is not None for a in asks), timeout=60,
                          every=lambda: (info.publish(camera_info()),
                                         depth.publish(depth_frame(later, frame_id=''))),
                          period=0.25)
        outputs = [a.communicate(timeout=60) for a in asks]
        for ask, (out, err) in zip(asks, outputs):
            assert ask.returncode == 0, err
        small, large = (json.loads(out) for out, _ in outputs)
        assert small['queries'] == ['red circle'] and small['image_width'] == 64
        assert large['queries'] == ['blue square', 'green star'] and large['image_width'] == 128
        for summary in (small, large):
            assert len(summary['positions_3d']) == len(summary['labels']) > 0
            # Constant depth 1 m: every object's visible surface is 1 m away.
            assert all(position[2] == pytest.approx(1.0, abs=0.01)
                       for position in summary['positions_3d']), (summary, node.output())
        assert client.spin_until(lambda: graph.diagnostic('detect_requests_served') == '2')
    finally:
        for ask in asks:
            if ask.poll() is None:
                ask.kill()
                ask.communicate()
        node.close()


def test_ctrl_c_while_a_request_waits_ends_the_node_and_ask_says_so(client, tmp_path_factory,
                                                                    tiny_model, tmp_path):
    node = start_node('detect_sigint', tmp_path_factory, tiny_model, use_depth=True,
                      depth_slop=10.0)
    ask = None
    try:
        graph = Graph(client, 'detect_sigint')
        ask = start_ask('red circle', '--image', write_png(tmp_path / 'a.png', 64, 48, seed=6),
                        '--node', 'detect_sigint', '--timeout', '120')
        assert client.spin_until(lambda: graph.diagnostic('detect_requests_waiting') == '1',
                                 timeout=120)
        assert node.interrupt(timeout=30) == 0
        assert 'Traceback' not in node.output()
        _, err = ask.communicate(timeout=60)
        assert ask.returncode == 1
        assert err.strip().splitlines() == [
            'vlm-perception ask: error: /detect_sigint/detect went away before answering '
            '(the node shut down?)']
    finally:
        if ask is not None and ask.poll() is None:
            ask.kill()
            ask.communicate()
        node.close()


def test_closing_refuses_the_waiting_request_and_every_later_one(tmp_path, tiny_model):
    """The refusal itself: the node in this process, spinning, its client another process."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from vlm_perception.node import VlmPerceptionNode

    context = Context()
    rclpy.init(context=context)
    node = VlmPerceptionNode(
        context=context, cli_args=['--ros-args', '-r', '__node:=detect_closing'],
        parameter_overrides=[Parameter('model', value=tiny_model),
                             Parameter('use_depth', value=True),
                             Parameter('depth_slop', value=10.0),
                             Parameter('no_image_warning_period', value=0.0)])
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    picture = write_png(tmp_path / 'a.png', 64, 48, seed=8)
    ask = start_ask('red circle', '--image', picture, '--node', 'detect_closing',
                    '--timeout', '120')
    try:
        deadline = time.monotonic() + 120
        while node.detect.waiting < 1 and time.monotonic() < deadline and ask.poll() is None:
            time.sleep(0.05)
        assert node.detect.waiting == 1, ask.communicate()
        executor.create_task(node.detect.close)  # what destroy_node does first
        _, err = ask.communicate(timeout=60)
        assert ask.returncode == 1
        assert err.strip() == ('vlm-perception ask: error: /detect_closing/detect refused: '
                               'the node is shutting down')
        done = vlm_perception('ask', 'red circle', '--image', picture, '--node',
                              'detect_closing')
        assert done.returncode == 1 and 'refused: the node is shutting down' in done.stderr
        assert node.detect.refused == 2 and node.detect.served == 0
    finally:
        if ask.poll() is None:
            ask.kill()
            ask.communicate()
        executor.shutdown()
        spinner.join(10)
        node.destroy_node()
        rclpy.shutdown(context=context)
