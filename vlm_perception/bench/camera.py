# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The benchmark's camera: a process of its own that publishes one fixed frame on request.

    python -m vlm_perception.bench.camera --topic /vlm_bench/image --width 640 --height 480

With ``--transport compressed`` it publishes sensor_msgs/CompressedImage on
``<topic>/compressed`` as compressed_image_transport does, JPEG-encoding each frame
after stamping it (a camera driver's cost, so end-to-end latency includes it).

It reads one command per line on stdin and answers on stdout:

* ``one``: publish one frame now; answers ``sent STAMP_NS``;
* ``stream RATE SECONDS``: publish RATE frames a second for SECONDS; answers
  ``streamed COUNT ELAPSED_S STAMP_FIRST_NS``;
* ``quit``: end.

It prints ``ready`` once a subscriber has matched. Every frame is stamped with the
system clock just before it is published, so a receiver on this machine measures
end-to-end latency as its receive time minus the stamp. The frame is a synthetic
tabletop scene (:func:`bench_scene`), the same one the benchmark process uses for
the model-alone runs, packed once as ``bgr8``; only the stamp changes per frame.
With ``--depth-topic`` and ``--camera-info-topic`` the scene's registered depth
(16UC1 millimetres) and camera_info go out first with the same stamp, as an RGB-D
camera sends them.
"""

import argparse
import sys
import time

ENCODING = 'bgr8'


def bench_scene(width, height, seed=0):
    """Return the benchmark's tabletop Scene (image, depth, intrinsics), the same for a seed."""
    from vlm_perception.world import SceneGenerator

    return SceneGenerator(seed=seed, sizes=((width, height),), split='eval').generate()


def bench_frame(width, height, seed=0):
    """Return the benchmark's (height, width, 3) uint8 RGB scene, the same for a seed."""
    return bench_scene(width, height, seed).image


def _set_stamp(msg, stamp_ns):
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)


def _stream(publish, rate, seconds):
    """Publish at ``rate`` Hz for ``seconds``; a late tick is skipped, never bunched."""
    period = 1.0 / rate
    start = time.monotonic()
    tick, count, first_stamp = start, 0, None
    while tick < start + seconds:
        delay = tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        stamp_ns = time.time_ns()
        first_stamp = stamp_ns if first_stamp is None else first_stamp
        publish(stamp_ns)
        count += 1
        tick += period
        behind = time.monotonic() - tick
        if behind > period:  # this process was starved: drop the missed ticks
            tick += period * int(behind / period)
    return count, time.monotonic() - start, first_stamp


def _colour_publisher(node, args, frame):
    """Return (publisher, publish(stamp_ns)) of the colour frame in the chosen transport."""
    from rclpy.qos import qos_profile_sensor_data

    from vlm_perception.conversion import array_to_image

    if args.transport == 'compressed':
        from sensor_msgs.msg import CompressedImage

        from vlm_perception.compressed import encode_image

        publisher = node.create_publisher(CompressedImage, f'{args.topic}/compressed',
                                          qos_profile_sensor_data)

        def publish(stamp_ns):
            # Compressed per frame, as a camera driver's image_transport plugin does.
            msg = encode_image(frame, ENCODING, 'jpeg', jpeg_quality=args.jpeg_quality)
            msg.header.frame_id = 'bench_camera'
            _set_stamp(msg, stamp_ns)
            publisher.publish(msg)
        return publisher, publish
    from sensor_msgs.msg import Image

    publisher = node.create_publisher(Image, args.topic, qos_profile_sensor_data)
    msg = array_to_image(frame, ENCODING)
    msg.header.frame_id = 'bench_camera'

    def publish(stamp_ns):
        _set_stamp(msg, stamp_ns)
        publisher.publish(msg)
    return publisher, publish


def _publisher(node, args):
    """
    Return (colour publisher, publish(stamp_ns)) of one frame of the bench scene.

    With --depth-topic the scene's registered depth and camera_info go out first,
    with the same stamp, as an RGB-D camera sends them.
    """
    from vlm_perception.conversion import encode_rgb

    scene = bench_scene(args.width, args.height, args.seed)
    publisher, publish_colour = _colour_publisher(node, args, encode_rgb(scene.image, ENCODING))
    if not args.depth_topic:
        return publisher, publish_colour
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image

    from vlm_perception.conversion import array_to_image, camera_info_from_intrinsics

    depth = array_to_image(scene.depth, '16UC1')
    depth.header.frame_id = 'bench_camera'
    info = camera_info_from_intrinsics(scene.intrinsics, args.width, args.height,
                                       depth.header)
    extra = [(node.create_publisher(CameraInfo, args.camera_info_topic, 5), info),
             (node.create_publisher(Image, args.depth_topic, qos_profile_sensor_data), depth)]

    def publish(stamp_ns):
        for extra_publisher, msg in extra:
            _set_stamp(msg, stamp_ns)
            extra_publisher.publish(msg)
        publish_colour(stamp_ns)
    return publisher, publish


def main(argv=None):
    """Serve commands from stdin until ``quit`` or end of input; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--topic', required=True)
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--transport', default='raw', choices=('raw', 'compressed'))
    parser.add_argument('--jpeg-quality', type=int, default=95)
    parser.add_argument('--depth-topic', default=None,
                        help="also publish the scene's registered depth here")
    parser.add_argument('--camera-info-topic', default=None,
                        help='also publish the camera_info here (with --depth-topic)')
    args = parser.parse_args(argv)

    import rclpy

    rclpy.init()
    node = rclpy.create_node('vlm_bench_camera')
    try:
        publisher, publish = _publisher(node, args)
        while publisher.get_subscription_count() == 0:
            time.sleep(0.05)
        print('ready', flush=True)
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == 'one':
                stamp_ns = time.time_ns()
                publish(stamp_ns)
                print(f'sent {stamp_ns}', flush=True)
            elif words[0] == 'stream':
                count, elapsed, first = _stream(publish, float(words[1]), float(words[2]))
                print(f'streamed {count} {elapsed:.6f} {first}', flush=True)
            elif words[0] == 'quit':
                break
            else:
                print(f'error unknown command {words[0]!r}', flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
