# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The camera input of vlm_perception_node: its subscription, QoS events and watchdog.

The subscription callback only counts and hands the message on; decoding happens
in the inference thread (:meth:`ImageInput.decode`). When no image arrives for
``no_image_warning_period`` seconds, the watchdog says what it sees on the topic.
"""

import time

from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from vlm_perception.conversion import image_to_array
from vlm_perception.pairing import RateMeter

TOPIC = 'camera/image_raw'
RELIABILITY = {'best_effort': ReliabilityPolicy.BEST_EFFORT,
               'reliable': ReliabilityPolicy.RELIABLE}


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
        self.started = time.monotonic()
        self._on_image = on_image
        self.subscription = node.create_subscription(
            Image, TOPIC, self._on_message, camera_qos(config),
            event_callbacks=SubscriptionEventCallbacks(incompatible_qos=self._on_incompatible_qos))

    @property
    def topic_name(self):
        """Return the resolved topic name (after namespace and remapping)."""
        return self.subscription.topic_name

    @staticmethod
    def decode(msg):
        """Return (array, channel_order) for the model; raises ImageConversionError."""
        return image_to_array(msg)

    def _on_message(self, msg):
        self.last_arrival = time.monotonic()
        self.rate.tick(self.last_arrival)
        self._on_image(msg)

    def silent_for(self, now):
        """Return seconds since the last frame (since startup before the first)."""
        return now - (self.last_arrival or self.started)

    def check(self, now):
        """Warn (throttled) while no frame has arrived for no_image_warning_period seconds."""
        period = self.config['no_image_warning_period']
        if not (period > 0 and self.silent_for(now) > period):
            return
        topic = self.topic_name
        publishers = self.node.get_publishers_info_by_topic(topic)
        best_effort = [info for info in publishers
                       if info.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT]
        if not publishers:
            hint = 'no publisher on it; check the remapping (image_topic:=...)'
        elif best_effort and self.config['image_reliability'] == 'reliable':
            hint = (f'{len(best_effort)} publisher(s) offer best_effort, which cannot reach '
                    'this reliable subscription: set image_reliability to best_effort')
        else:
            hint = f'{len(publishers)} publisher(s) on it, none sending'
        self.node.get_logger().warn(f'no image on {topic} for {period:g} s: {hint}',
                                    throttle_duration_sec=max(period, self.throttle))

    def _on_incompatible_qos(self, event):
        self.node.get_logger().warn(
            f'incompatible QoS on {self.topic_name}: a publisher does not '
            f'match policy {event.last_policy_kind.name} (this node asks for '
            f'{self.config["image_reliability"]}, depth {self.config["image_queue_depth"]})',
            throttle_duration_sec=self.throttle)
