# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The demo (``make demo``): a synthetic camera, the perception node, and a driver that asks.

Starts ``synthetic_camera`` and ``vlm_perception_node`` as their own processes (as
``ros2 launch vlm_perception demo.launch.py`` does on a robot), then this process
sends a command for each new scene on ``command_text``, reads the answers on
``multimodal_features`` and the scene's truth on ``camera/ground_truth``, and prints
what was asked, what was found, whether it matches and, since the node runs with the
camera's registered depth, where each object is in 3D and how far that is from the
truth. Ends with a one-line summary.

    python -m vlm_perception.demo [--duration 20] [--model M] [--rate 5]
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from typing import Any, NamedTuple

import numpy as np
import rclpy
from rclpy.node import Node
from std_msgs.msg import String

from vlm_perception.conversion import msg_to_arrays
from vlm_perception.local_graph import installed_executable, large_frame_transport
from vlm_perception.msg import MultimodalFeatures
from vlm_perception.training.metrics import match_ground_truth
from vlm_perception.world import COLOURS, make_phrase, parse_phrase, SHAPES

IOU_MATCH = 0.5
SETTLE_SECONDS = 1.0


def compose_command(rng, names, turn):
    """
    Say a command about a scene holding objects ``names`` ('red circle', ...).

    Turns cycle through: one object; two objects at once; a colour; a shape; an
    object present with one that is absent (which must find nothing).
    """
    pairs = sorted({tuple(name.split(' ', 1)) for name in names})
    picked = [pairs[i] for i in rng.permutation(len(pairs))]
    kind = turn % 5
    if kind == 1 and len(picked) >= 2:
        return ', '.join(make_phrase(rng, *pair) for pair in picked[:2])
    if kind == 2:
        return make_phrase(rng, colour=picked[0][0])
    if kind == 3:
        return make_phrase(rng, shape=picked[0][1])
    if kind == 4:
        absent = [(c, s) for c in COLOURS for s in SHAPES
                  if not any(parse_phrase(f'{c} {s}').matches(*pair) for pair in pairs)]
        missing = absent[int(rng.integers(len(absent)))]
        return f'{make_phrase(rng, *picked[0])}; {make_phrase(rng, *missing)}'
    return make_phrase(rng, *picked[0])


class Detection(NamedTuple):
    """One detection of an answer, judged against the truth."""

    box: np.ndarray        # (4,) pixels
    score: float
    correct: bool          # matches a true object it refers to (IoU >= 0.5)
    position: Any          # (3,) metres in the camera frame, or None without depth
    error: Any             # metres from the matched object's true 3D centroid, or None


def check_answer(answer, truth):
    """
    Compare one result with the scene's truth, query by query.

    ``answer`` and ``truth`` are msg_to_arrays() dicts. Returns a list of
    (query, found, wanted, false_positives, detections), detections a list of
    Detection (the 3D error where both the answer and the truth have 3D).
    """
    true_names = [name.split(' ', 1) for name in truth['labels']]
    labels = np.array(answer['labels'], dtype=object)
    rows = []
    for query in answer['queries']:
        target = parse_phrase(query)
        referred = np.flatnonzero([target.matches(c, s) for c, s in true_names])
        mine = np.flatnonzero(labels == query)
        boxes, scores = answer['boxes'][mine], answer['scores'][mine]
        matched = match_ground_truth(boxes, scores, truth['boxes'][referred], IOU_MATCH)
        detections = []
        for index, box, score, match in zip(mine, boxes, scores, matched):
            position = error = None
            if answer.get('positions_3d') is not None:
                position = answer['positions_3d'][index]
                if match >= 0 and truth.get('positions_3d') is not None:
                    error = float(np.linalg.norm(
                        position - truth['positions_3d'][referred[match]]))
            detections.append(Detection(box, float(score), bool(match >= 0), position, error))
        correct = int((matched >= 0).sum())
        rows.append((query, correct, len(referred), len(mine) - correct, detections))
    return rows


def describe(detection):
    """Return one line about a detection: box, score, verdict, and where it is in 3D."""
    box_text = ', '.join(f'{v:.0f}' for v in detection.box)
    mark = 'matches the truth' if detection.correct else 'no true object there'
    line = f'box [{box_text}] score {detection.score:.2f}: {mark}'
    if detection.position is not None:
        if np.all(np.isfinite(detection.position)):
            x, y, z = detection.position
            line += f'; at ({x:+.3f}, {y:+.3f}, {z:.3f}) m'
            if detection.error is not None:
                line += f', {detection.error * 100:.1f} cm from the true centre'
        else:
            line += '; no depth in its box'
    return line


class DemoDriver(Node):
    """Send a command per scene, check each first answer against the truth, print it."""

    def __init__(self, seed=0, depth=True):
        super().__init__('vlm_perception_demo')
        self.depth = depth
        self.rng = np.random.default_rng(seed)
        self.commands = self.create_publisher(String, 'command_text', 10)
        self.create_subscription(MultimodalFeatures, 'camera/ground_truth', self.on_truth, 10)
        self.answers = self.create_subscription(MultimodalFeatures, 'multimodal_features',
                                                self.on_answer, 10)
        self.truth_by_stamp = {}
        self.scene = None
        self.latest_truth = None
        self.command = None
        self.answered = True
        self.turn = 0
        self.asked_at = None
        self.results = 0
        self.totals = {'commands': 0, 'answered': 0, 'found': 0, 'wanted': 0, 'false': 0}
        self.latencies = []
        self.errors_3d = []   # metres, one per correct detection (NaN: no depth in its box)

    def ready(self):
        """
        Return True once the graph is connected: truth arriving, and the node matched both ways.

        Discovery matches each direction on its own; asking before the node's answers can
        reach us loses them (seen: three seconds of unanswered commands). With depth, the
        node's depth and camera_info subscriptions too (seen: the first answer without
        3D, no camera_info having arrived yet).
        """
        inputs = ['camera/image_raw'] + (
            ['camera/depth/image_raw', 'camera/camera_info'] if self.depth else [])
        return (self.scene is not None and self.commands.get_subscription_count() > 0
                and self.answers.get_publisher_count() > 0
                and all(self.count_subscribers(topic) > 0 for topic in inputs))

    def on_truth(self, msg):
        """Keep the truth by stamp; a new scene gets a new command."""
        truth = msg_to_arrays(msg)
        self.truth_by_stamp[truth['stamp']] = truth
        while len(self.truth_by_stamp) > 200:
            self.truth_by_stamp.pop(next(iter(self.truth_by_stamp)))
        self.latest_truth = truth
        scene = tuple(truth['labels']), truth['boxes'].tobytes()
        if scene != self.scene:
            self.scene = scene
            if self.asked_at is not None:  # the first command is sent by start()
                self.ask(truth)

    def start(self):
        """Ask about the scene in view now; later scenes are asked about as they appear."""
        self.ask(self.latest_truth)

    def ask(self, truth):
        """Publish the next command about the scene in ``truth``."""
        if not self.answered:
            print(f'  (no answer to {self.command!r} before the scene changed)', flush=True)
        self.command = compose_command(self.rng, truth['labels'], self.turn)
        self.turn += 1
        self.answered = False
        self.asked_at = time.monotonic()
        self.totals['commands'] += 1
        in_view = ', '.join(truth['labels'])
        print(f'\nscene: {in_view}\nasked: {self.command!r}', flush=True)
        self.commands.publish(String(data=self.command))

    def on_answer(self, msg):
        """Print and score the first answer to the current command."""
        self.results += 1
        answer = msg_to_arrays(msg)
        truth = self.truth_by_stamp.get(answer['stamp'])
        if self.answered or msg.command != self.command or truth is None:
            return
        self.answered = True
        self.latencies.append(time.monotonic() - self.asked_at)
        self.totals['answered'] += 1
        for query, found, wanted, false, detections in check_answer(answer, truth):
            self.totals['found'] += found
            self.totals['wanted'] += wanted
            self.totals['false'] += false
            verdict = 'ok' if found == wanted and not false else 'MISS'
            what = f'found {found}/{wanted}' if wanted else 'not in the scene'
            what += f', {false} false positive(s)' if false else ''
            print(f'  {query!r}: {what} [{verdict}]', flush=True)
            for found_one in detections:
                print(f'      {describe(found_one)}', flush=True)
                if found_one.correct and found_one.error is not None:
                    self.errors_3d.append(found_one.error)

    def summary(self, seconds):
        """Return the one-line summary."""
        t = self.totals
        latency = f'{np.median(self.latencies):.2f} s' if self.latencies else 'n/a'
        located = ''
        if self.errors_3d:
            errors = np.nan_to_num(np.array(self.errors_3d), nan=np.inf)
            located = (f', median 3D error {np.median(errors) * 100:.1f} cm '
                       f'({np.isfinite(errors).sum()}/{len(errors)} found objects located)')
        return (f'summary: {t["answered"]}/{t["commands"]} commands answered, '
                f'{t["found"]}/{t["wanted"]} objects found, {t["false"]} false positive(s), '
                f'{self.results / seconds:.1f} results/s, first answer after {latency} '
                f'(median){located}')


def start_processes(args):
    """Start the synthetic camera and the perception node; return both Popen objects."""
    camera = subprocess.Popen([
        installed_executable('synthetic_camera'), '--ros-args', '-p', f'rate:={args.rate}',
        '-p', f'scene_period:={args.scene_period}', '-p', f'seed:={args.seed}',
        '--log-level', 'warn'])
    # Empty values are left out: the node's defaults apply (the shipped model), and
    # `-p model:=` with nothing after it is not a valid ROS argument.
    overrides = [('model', args.model), ('device', args.device),
                 ('use_depth', 'false' if args.no_depth else 'true')]
    node = subprocess.Popen([installed_executable('vlm_perception_node'), '--ros-args'] + [
        item for name, value in overrides if value for item in ('-p', f'{name}:={value}')])
    return camera, node


def add_arguments(parser):
    """Add the demo's options to ``parser``."""
    parser.add_argument('--duration', type=float, default=20.0,
                        help='seconds to run once the node answers (default 20)')
    parser.add_argument('--model', default='', help='model for the node (default: shipped)')
    parser.add_argument('--device', default='auto', help='device for the node')
    parser.add_argument('--rate', type=float, default=5.0, help='camera frames per second')
    parser.add_argument('--scene-period', type=float, default=4.0,
                        help='seconds each scene stays in view')
    parser.add_argument('--seed', type=int, default=0, help='scene and command seed')
    parser.add_argument('--no-depth', action='store_true',
                        help='run the node without depth (2D only)')
    parser.add_argument('--startup-timeout', type=float, default=120.0,
                        help='seconds to wait for the node to start')


def main(argv=None):
    """Run the demo; exit code 0 when commands were answered."""
    parser = argparse.ArgumentParser(prog='vlm_perception.demo', description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    # Before any participant exists: this process and both children use it.
    transport_env, transport = large_frame_transport()
    os.environ.update(transport_env)
    print(f'transport: {transport}', flush=True)
    rclpy.init()
    driver = DemoDriver(args.seed, depth=not args.no_depth)
    camera, node = start_processes(args)
    try:
        print('waiting for the camera and the perception node...', flush=True)
        deadline = time.monotonic() + args.startup_timeout
        while not driver.ready() and time.monotonic() < deadline:
            if node.poll() is not None or camera.poll() is not None:
                print('demo: a process ended at startup (see its message above)',
                      file=sys.stderr)
                return 1
            rclpy.spin_once(driver, timeout_sec=0.1)
        if not driver.ready():
            print('demo: the perception node did not start in time', file=sys.stderr)
            return 1
        # Matched in the graph is not yet delivered: give the node a few camera frames
        # (and their camera_info) before the first question.
        settle = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < settle:
            rclpy.spin_once(driver, timeout_sec=0.1)
        started = time.monotonic()
        driver.start()
        while time.monotonic() - started < args.duration and node.poll() is None:
            rclpy.spin_once(driver, timeout_sec=0.1)
        print('\n' + driver.summary(time.monotonic() - started), flush=True)
        return 0 if driver.totals['answered'] else 1
    except KeyboardInterrupt:
        return 130
    finally:
        for process in (node, camera):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in (node, camera):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        driver.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    sys.exit(main())
