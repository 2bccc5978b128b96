# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
How the installed executables start and stop (vlm_perception/runner.py), as real processes.

Bad ROS arguments end them with one FATAL line and exit code 2. SIGINT ends them with
exit code 0 and no traceback however many arrive and however close together: the
tests send two 0 to 50 ms apart, and bursts (one every 0.1 ms until the process is
gone, which reached the old runner's unguarded moment in about one run in seven),
after startup, while the node is being built and while Python still imports.
"""

from concurrent.futures import ThreadPoolExecutor
from itertools import repeat
import os
import signal
import subprocess
import sys
import time

import pytest
from ros_graph import NodeProcess, save_tiny_model, write_params
from vlm_perception.local_graph import installed_executable

pytestmark = pytest.mark.ros

EXECUTABLES = ('synthetic_camera', 'vlm_perception_node')
# The startup lines' last words.
STARTED = {'synthetic_camera': 'truth on', 'vlm_perception_node': 'sync_policy'}
# A small, quiet camera of its own namespace: cheap to start many times.
CAMERA_ARGUMENTS = ['-p', 'width:=64', '-p', 'height:=48', '-p', 'rate:=20.0',
                    '-r', '__ns:=/runner_test']


@pytest.mark.parametrize('executable', EXECUTABLES)
@pytest.mark.parametrize('arguments, expected', [
    (['--log_level', 'debug'], 'unknown ROS arguments: --log_level debug (did you mean '
                               '--log-level?)'),
    (['-p'], 'malformed ROS arguments: '),
], ids=['unknown', 'malformed'])
def test_bad_ros_arguments_end_with_one_fatal_line_and_code_2(executable, arguments,
                                                              expected):
    process = NodeProcess(executable, arguments)
    try:
        assert process.wait(timeout=60) == 2, process.output()
        lines = [line for line in process.output().splitlines() if line.strip()]
        assert len(lines) == 1, lines
        assert lines[0].startswith('[FATAL] [') and expected in lines[0], lines[0]
    finally:
        process.close()


def interrupt(executable, arguments, gaps):
    """
    Start ``executable``, wait for its startup line, then send SIGINT once per ``gaps``.

    ``gaps`` are the seconds to wait before each further signal; None means a burst,
    one every 0.1 ms for as long as the process lives. Returns (exit code, output).
    """
    process = NodeProcess(executable, arguments)
    try:
        assert process.wait_for_output(STARTED[executable], timeout=120), process.output()
        process.process.send_signal(signal.SIGINT)
        for gap in gaps if gaps is not None else repeat(1e-4):
            time.sleep(gap)
            if process.process.poll() is not None:
                break
            process.process.send_signal(signal.SIGINT)
        return process.process.wait(timeout=30), process.output()
    finally:
        process.close()


def assert_all_quiet(runs):
    """Check that every (gaps, (exit code, output)) run ended with 0 and no traceback."""
    for gaps, (code, output) in runs:
        assert code == 0 and 'Traceback' not in output and 'Exception' not in output, \
            f'signals after the first {gaps}: exit code {code}\n{output}'


def test_repeated_sigints_end_the_camera_with_code_0_and_no_traceback():
    # Two signals 0 to 50 ms apart, evenly spread, then bursts; three processes at a time.
    patterns = [[delay / 1000] for delay in range(0, 51, 2)] + [None] * 12
    with ThreadPoolExecutor(3) as pool:
        runs = zip(patterns, pool.map(
            lambda gaps: interrupt('synthetic_camera', CAMERA_ARGUMENTS, gaps), patterns))
        assert_all_quiet(runs)


def test_repeated_sigints_end_the_node_with_code_0_and_no_traceback(tmp_path):
    params = write_params(tmp_path / 'params.yaml', model=save_tiny_model(tmp_path / 'model'),
                          no_image_warning_period=0.0)
    arguments = ['--params-file', params, '-r', '__ns:=/runner_test']
    patterns = [[0.0], [0.03], None]
    with ThreadPoolExecutor(2) as pool:
        runs = zip(patterns, pool.map(
            lambda gaps: interrupt('vlm_perception_node', arguments, gaps), patterns))
        assert_all_quiet(runs)


# A node whose construction never ends: a thread of its own runs torch, as a model load does.
SLOW_NODE = """
import sys, threading
import torch
from rclpy.node import Node
from vlm_perception.runner import run_node

class SlowNode(Node):
    def __init__(self):
        super().__init__('slow_node')
        def load():
            weights = torch.randn(300, 300)
            while True:
                weights = (weights @ weights).tanh()
        threading.Thread(target=load, daemon=True).start()
        print('building', flush=True)
        threading.Event().wait()

sys.exit(run_node(SlowNode, 'slow_node'))
"""


def test_sigints_while_the_node_is_built_end_it_with_code_0():
    # Before, Python finalising under the torch thread aborted the process (exit code -6).
    for gap in (0.0, 0.02):
        process = subprocess.Popen([sys.executable, '-c', SLOW_NODE], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        try:
            assert process.stdout.readline() == 'building\n'
            process.send_signal(signal.SIGINT)
            time.sleep(gap)
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=30) == 0
            assert process.stdout.read() == ''
        finally:
            process.kill()
            process.wait()
            process.stdout.close()


def test_sigint_while_python_imports_ends_the_node_with_code_0():
    # The node imports torch for seconds before main() runs; 1 s in, it is still importing.
    process = subprocess.Popen([installed_executable('vlm_perception_node')],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=dict(os.environ, PYTHONUNBUFFERED='1'))
    try:
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        assert process.stdout.read() == ''
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
