# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
``vlm-perception ask "red cup" [--image FILE] [--json]``: ask a running node once.

Calls the ~/detect service of a running vlm_perception_node (``/vlm_perception/detect``
by default; ``--node`` or ``--service`` name another) and prints the answer as
``vlm-perception detect`` prints its own, or with ``--json`` one JSON object with the
same fields (the message carries no device or dtype; ``positions_3d`` is added when the
node runs with depth; ``timings`` holds the round trip). Without ``--image`` the node
answers on the newest frame from its camera. Exits 1 with one line on stderr when the
service is absent, refuses, or does not answer within ``--timeout`` seconds.
"""

import json
import os
import sys
import time
from types import SimpleNamespace

DEFAULT_NODE = 'vlm_perception'


def add_arguments(parser):
    """Add the ask options to ``parser``."""
    parser.add_argument('command',
                        help='what to look for: phrases separated by commas or semicolons')
    parser.add_argument('--image', metavar='FILE',
                        help='image file to ask about (anything OpenCV reads); default: the '
                             'newest frame from the camera of the node')
    parser.add_argument('--json', action='store_true', help='print one JSON object')
    target = parser.add_mutually_exclusive_group()
    target.add_argument('--node', default=DEFAULT_NODE,
                        help='the node to ask, with its namespace if any (default '
                             f'{DEFAULT_NODE}); its service is <node>/detect')
    target.add_argument('--service', help='the full service name instead, e.g. '
                                          '/arm/vlm_perception/detect')
    parser.add_argument('--timeout', type=float, default=10.0,
                        help='seconds to wait for the service to appear and answer '
                             '(default 10)')


def _fail(message):
    print(f'vlm-perception ask: error: {message}', file=sys.stderr)
    return 1


def service_name(args):
    """Return the service to call: --service, else <--node>/detect (relative to /)."""
    if args.service:
        return args.service
    return '/' + args.node.strip('/') + '/detect'


def message_to_dict(msg, image, round_trip):
    """Return the ``vlm-perception detect`` summary of a MultimodalFeatures answer."""
    from vlm_perception.conversion import msg_to_arrays
    from vlm_perception.model.detect_cli import result_to_dict

    arrays = msg_to_arrays(msg)
    found = SimpleNamespace(
        vision_features=arrays['vision'], text_features=arrays['text'],
        fused_features=arrays['fused'], labels=arrays['labels'],
        query_indices=arrays['query_indices'], boxes=arrays['boxes'], scores=arrays['scores'],
        timings={'round_trip': round_trip})
    positions = None
    if len(msg.object_positions_3d):
        positions = list(zip(*[iter(msg.object_positions_3d)] * 3))
    return result_to_dict(found, {'model': msg.model_id, 'backend': msg.model_backend},
                          image, (msg.image_height, msg.image_width), arrays['queries'],
                          positions)


def read_image(path):
    """Return ``path`` as a bgr8 sensor_msgs/Image, or None when it cannot be read."""
    import cv2

    from vlm_perception.conversion import array_to_image

    image = cv2.imread(path, cv2.IMREAD_COLOR)
    return None if image is None else array_to_image(image, 'bgr8')


def run(args):
    """Call the service once and print its answer; return the exit code."""
    request_image = None
    if args.image:
        request_image = read_image(args.image)
        if request_image is None:
            return _fail(f'cannot read image {args.image}')
    if not args.timeout > 0:
        return _fail('--timeout must be positive')

    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    context = Context()
    rclpy.init(args=[], context=context)
    node = None
    try:
        # A name of its own: several asks may run at once.
        node = rclpy.create_node(f'vlm_perception_ask_{os.getpid()}', context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        return _ask(node, executor, args, request_image)
    except KeyboardInterrupt:
        return 130
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown(context=context)


def _ask(node, executor, args, request_image):
    from vlm_perception.srv import Detect

    service = service_name(args)
    client = node.create_client(Detect, service)
    deadline = time.monotonic() + args.timeout
    while not client.service_is_ready():
        if time.monotonic() > deadline:
            return _fail(f'no service {service} within {args.timeout:g} s: is '
                         'vlm_perception_node running, in this ROS_DOMAIN_ID?')
        executor.spin_once(timeout_sec=0.05)
    request = Detect.Request(command=args.command)
    if request_image is not None:
        request_image.header.stamp = node.get_clock().now().to_msg()
        request.image = request_image
    started = time.monotonic()
    future = client.call_async(request)
    while not future.done():
        if time.monotonic() > deadline:
            return _fail(f'{service} did not answer within {args.timeout:g} s')
        if not client.service_is_ready():
            return _fail(f'{service} went away before answering (the node shut down?)')
        executor.spin_once(timeout_sec=0.05)
    round_trip = time.monotonic() - started
    response = future.result()
    if not response.success:
        return _fail(f'{service} refused: {response.message}')
    header = response.result.header
    image = args.image or (f'newest camera frame (stamp {header.stamp.sec}.'
                           f'{header.stamp.nanosec:09d}{", " if header.frame_id else ""}'
                           f'{header.frame_id})')
    summary = message_to_dict(response.result, image, round_trip)
    if response.message:  # what the query limits cut
        summary['note'] = response.message
    print(json.dumps(summary) if args.json else _text(summary))
    return 0


def _text(summary):
    from vlm_perception.model.detect_cli import format_text

    text = format_text(summary)
    return text + (f"\nnote: {summary['note']}" if 'note' in summary else '')
