# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Helpers for tests on a real ROS 2 graph: installed executables run as their own processes.

``NodeProcess`` starts one of the package's installed executables with ROS
arguments and keeps its output; ``GraphClient`` is the test process's own node
(publishers, subscriptions, spinning until a condition holds).
"""

from contextlib import contextmanager
import os
from pathlib import Path
import signal
import subprocess
import tempfile
import time

import numpy as np
from vlm_perception import local_graph
from vlm_perception.local_graph import installed_executable


def save_tiny_model(directory):
    """Save a tiny random native model (with its tokenizer) into ``directory``; return it."""
    from vlm_perception.model import VLMConfig, VLMForDetection

    VLMForDetection(VLMConfig.tiny()).save_pretrained(directory)
    return str(directory)


def write_params(path, **parameters):
    """Write a ROS parameters file for vlm_perception_node; return its path."""
    return local_graph.write_params(path, parameters)


class NodeProcess:
    """
    An installed executable running as its own process, its output kept in a file.

    ``environ``: the process's environment (default: this one's).
    """

    def __init__(self, executable, ros_arguments=(), environ=None):
        self.log = tempfile.NamedTemporaryFile(
            mode='w+', prefix=f'{executable}-', suffix='.log', delete=False)
        env = dict(os.environ if environ is None else environ, PYTHONUNBUFFERED='1',
                   RCUTILS_COLORIZED_OUTPUT='0')
        self.process = subprocess.Popen(
            [installed_executable(executable), '--ros-args', *ros_arguments],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def output(self):
        """Return everything the process printed so far."""
        return Path(self.log.name).read_text(errors='replace')

    def wait_for_output(self, text, timeout=60.0):
        """Wait until ``text`` appears in the output; return whether it did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return True
            if self.process.poll() is not None:
                return text in self.output()
            time.sleep(0.1)
        return False

    def wait(self, timeout=60.0):
        """Wait for the process to end by itself; return its exit code."""
        return self.process.wait(timeout=timeout)

    def interrupt(self, timeout=20.0):
        """Send SIGINT (Ctrl-C) and return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def close(self):
        """Stop the process if it still runs and remove its log."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()
        os.unlink(self.log.name)


class GraphClient:
    """The test process's node: publish, subscribe and spin until something holds."""

    def __init__(self, context, name='vlm_test_client'):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.node = rclpy.create_node(name, context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)

    def publisher(self, msg_type, topic, depth=10):
        """Return a reliable publisher on ``topic``."""
        return self.node.create_publisher(msg_type, topic, depth)

    def collect(self, msg_type, topic, depth=50):
        """Subscribe to ``topic`` reliably; return the list the messages are appended to."""
        received = []
        self.node.create_subscription(msg_type, topic, received.append, depth)
        return received

    def spin_until(self, condition, timeout=30.0, every=None, period=0.1):
        """
        Spin until ``condition()`` is true or ``timeout`` seconds pass; return its value.

        ``every``, when given, is called every ``period`` seconds meanwhile (e.g. to keep
        publishing frames).
        """
        deadline = time.monotonic() + timeout
        next_call = 0.0
        while time.monotonic() < deadline:
            if every is not None and time.monotonic() >= next_call:
                every()
                next_call = time.monotonic() + period
            self.executor.spin_once(timeout_sec=0.02)
            value = condition()
            if value:
                return value
        return condition()

    def spin_for(self, seconds, every=None, period=0.1):
        """Spin for ``seconds``, calling ``every`` every ``period`` seconds when given."""
        self.spin_until(lambda: False, timeout=seconds, every=every, period=period)

    def wait_for_subscribers(self, publisher, timeout=30.0):
        """Wait until someone subscribes to ``publisher``'s topic; return whether they did."""
        return self.spin_until(lambda: publisher.get_subscription_count() > 0, timeout)

    def close(self):
        """Destroy the node and the executor."""
        self.executor.shutdown()
        self.node.destroy_node()


@contextmanager
def graph_client(name='vlm_test_client'):
    """Yield a GraphClient in an rclpy context of its own, shut down afterwards."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    client = GraphClient(context, name)
    try:
        yield client
    finally:
        client.close()
        rclpy.shutdown(context=context)


def make_image(width, height, encoding='bgr8', stamp_sec=0, frame_id='test_camera', seed=0):
    """Return a sensor_msgs/Image of random content laid out as ``encoding``."""
    from vlm_perception.conversion import array_to_image, encode_rgb

    rgb = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    msg = array_to_image(encode_rgb(rgb, encoding), encoding)
    msg.header.stamp.sec = int(stamp_sec)
    msg.header.frame_id = frame_id
    return msg


def malformed_images():
    """Return (reason, image) pairs the node must drop."""
    wrong_encoding = make_image(32, 24, 'bgr8')
    wrong_encoding.encoding = 'no_such_encoding'
    short = make_image(32, 24, 'bgr8')
    short.data = short.data[:len(short.data) // 2]
    empty = make_image(32, 24, 'bgr8')
    empty.width = empty.height = 0
    empty.data = []
    odd_step = make_image(32, 24, 'mono16')
    odd_step.step = 65
    odd_step.data = odd_step.data.tolist() + [0] * 24
    narrow_step = make_image(32, 24, 'rgb8')
    narrow_step.step = 32
    return [('wrong encoding', wrong_encoding), ('data shorter than step x height', short),
            ('zero size', empty), ('odd step for 16-bit', odd_step),
            ('step below width x channels', narrow_step)]
