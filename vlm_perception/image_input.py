# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The camera input of vlm_perception_node: its subscription, QoS events and watchdog.

The subscription callback only counts and hands the message on; decoding happens
in the inference thread (:meth:`ImageInput.decode`): sensor_msgs/Image with
``image_transport: raw``, sensor_msgs/CompressedImage on ``<topic>/compressed`` with
``compressed`` (compressed.py). Frames the middleware reports lost on the way
(message-lost events) are counted. Every ``no_image_warning_period`` seconds the
watchdog warns when frames were lost, or none arrived, and says why that is likely.
"""

import os
import time

from rclpy.event_handler import SubscriptionEventCallbacks, UnsupportedEventTypeError
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from vlm_perception.compressed import compressed_image_to_array
from vlm_perception.conversion import image_to_array
from vlm_perception.pairing import RateMeter

TOPIC = 'camera/image_raw'
RELIABILITY = {'best_effort': ReliabilityPolicy.BEST_EFFORT,
               'reliable': ReliabilityPolicy.RELIABLE}


def transport_topic(node, topic, transport):
    """
    Return the topic a subscription for ``transport`` takes, as image_transport names it.

    'raw' keeps ``topic`` (relative: remapping and the namespace apply as usual);
    another transport appends its name to the resolved topic, so
    ``camera/image_raw:=/cam/image`` gives ``/cam/image/compressed``.
    """
    return topic if transport == 'raw' else f'{node.resolve_topic_name(topic)}/{transport}'


def camera_qos(config):
    """Return the QoS of camera subscriptions: ``image_reliability``, ``image_queue_depth``."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=config['image_queue_depth'],
                      reliability=RELIABILITY[config['image_reliability']])


class ImageInput:
    """Subscribe to the camera; ``on_image(msg)`` is called for every frame that arrives."""

    def __init__(self, node, config, on_image, throttle):
        self.node = node
        self.config = config
        self.throttle = throttle
        self.rate = RateMeter()
        self.last_arrival = None          # time.monotonic() of the newest frame
        self.last_frame = None            # the newest frame's message (for ~/detect)
        self.lost = 0                     # frames lost in transport; None: RMW cannot tell
        self.started = time.monotonic()
        self._window = (self.started, 0, 0)   # (since, received, lost) for check()
        self._on_image = on_image
        msg_type = CompressedImage if config['image_transport'] == 'compressed' else Image
        events = SubscriptionEventCallbacks(incompatible_qos=self._on_incompatible_qos,
                                            message_lost=self._on_message_lost)
        try:
            self.subscription = node.create_subscription(
                msg_type, transport_topic(node, TOPIC, config['image_transport']),
                self._on_message, camera_qos(config), event_callbacks=events)
        except UnsupportedEventTypeError:  # an RMW without message-lost events
            self.lost = events.message_lost = None
            self.subscription = node.create_subscription(
                msg_type, transport_topic(node, TOPIC, config['image_transport']),
                self._on_message, camera_qos(config), event_callbacks=events)

    @property
    def topic_name(self):
        """Return the resolved topic name (after namespace and remapping)."""
        return self.subscription.topic_name

    @staticmethod
    def decode(msg):
        """
        Return (array, channel_order) for the model; raises ImageConversionError.

        ``msg``: a sensor_msgs/Image (the raw transport, and ~/detect's requests under
        either) or a sensor_msgs/CompressedImage (the compressed transport).
        """
        if isinstance(msg, Image):
            return image_to_array(msg)
        return compressed_image_to_array(msg)

    def _on_message(self, msg):
        self.last_frame, self.last_arrival = msg, time.monotonic()
        self.rate.tick(self.last_arrival)
        self._on_image(msg)

    def _on_message_lost(self, event):
        self.lost = event.total_count

    def silent_for(self, now):
        """Return seconds since the last frame (since startup before the first)."""
        return now - (self.last_arrival or self.started)

    def check(self, now):
        """
        Warn (throttled) when frames were lost in transport or none arrived.

        Every no_image_warning_period seconds: frames reported lost in that time, with
        the likely cause; and while no frame has arrived for that long, what is on
        the topic.
        """
        period = self.config['no_image_warning_period']
        if period <= 0:
            return
        since, received, lost = self._window
        lost_now = 0
        if now - since >= period:
            lost_now = (self.lost or 0) - lost
            self._window = (now, self.rate.total, self.lost or 0)
        topic = self.topic_name
        if lost_now > 0:
            text = (f'{lost_now} frame(s) on {topic} lost in transport in the last '
                    f'{now - since:.1f} s ({self.rate.total - received} arrived): '
                    f'{self._lost_hint()}')
        elif self.silent_for(now) > period:
            text = f'no image on {topic} for {period:g} s: {self._silent_hint(topic)}'
        else:
            return
        self.node.get_logger().warn(text, throttle_duration_sec=max(period, self.throttle))

    def _silent_hint(self, topic):
        publishers = self.node.get_publishers_info_by_topic(topic)
        best_effort = [info for info in publishers
                       if info.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT]
        if not publishers:
            return f'no publisher on it; {self._other_transport_hint()}'
        if best_effort and self.config['image_reliability'] == 'reliable':
            return (f'{len(best_effort)} publisher(s) offer best_effort, which cannot reach '
                    'this reliable subscription: set image_reliability to best_effort')
        if self.lost is None:  # this RMW does not report lost frames: the likely cause
            return (f'{len(publishers)} publisher(s) on it, but nothing arrives (this RMW '
                    f'does not report frames lost in transport); if they are sending, '
                    f'{self._lost_hint()}')
        return (f'{len(publishers)} publisher(s) on it, none sending (no frame arrived and '
                'none was lost in transport)')

    def _other_transport_hint(self):
        """Point at the camera's topic when it publishes with the other transport."""
        raw = self.node.resolve_topic_name(TOPIC)
        compressed = f'{raw}/compressed'
        if self.config['image_transport'] == 'raw':
            if self.node.count_publishers(compressed):
                return f'{compressed} has publishers: set image_transport to compressed'
        elif self.node.count_publishers(raw):
            return (f'{raw} has raw publishers: set image_transport to raw, or start the '
                    "camera's compressed transport")
        return 'check the remapping (image_topic:=...)'

    def _lost_hint(self):
        """Say why frames are lost on the way and what to do."""
        if self.config['image_transport'] == 'compressed':
            return ('the network drops compressed frames (congested or wireless): lower '
                    "the camera's rate, resolution or JPEG quality")
        size = '' if self.last_frame is None \
            else f'; these are {len(self.last_frame.data) // 1024} KB'
        from ament_index_python.packages import PackageNotFoundError

        from vlm_perception.local_graph import PROFILE_FILE, profile_path, PROFILE_VARIABLES

        own = next((os.environ[name] for name in PROFILE_VARIABLES if os.environ.get(name)),
                   None)
        try:
            path = profile_path()
        except PackageNotFoundError:  # run from a source tree
            path = f'<share>/vlm_perception/config/{PROFILE_FILE}'
        profile = (f'this node uses the Fast DDS profile {own}: start the camera with it too'
                   if own else "use the package's large-frame profile in the camera's "
                   f'process and this one alike (FASTRTPS_DEFAULT_PROFILES_FILE={path}; '
                   'FASTDDS_DEFAULT_PROFILES_FILE from Fast DDS 3)')
        return ('frames larger than the shared-memory segment (Fast DDS: 512 KB by default'
                f'{size}) travel as UDP fragments, and best effort loses them: {profile}, '
                'or set image_transport to compressed and publish compressed')

    def _on_incompatible_qos(self, event):
        self.node.get_logger().warn(
            f'incompatible QoS on {self.topic_name}: a publisher does not '
            f'match policy {event.last_policy_kind.name} (this node asks for '
            f'{self.config["image_reliability"]}, depth {self.config["image_queue_depth"]})',
            throttle_duration_sec=self.throttle)
