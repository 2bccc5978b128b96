# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
vlm_perception_node: camera frames and a text command in, MultimodalFeatures out.

A thin layer over plain parts: parameters (params.py), frame/command pairing
(pairing.py), message conversion (conversion.py) and the model (model/). The
executor only stamps, pairs and hands frames over; one worker thread runs the
model on the newest frame, so a slow model drops frames instead of queueing them.
"""

import sys
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.logging import LoggingSeverity
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header, String

from vlm_perception.conversion import (
    array_to_image, draw_detections, image_to_array, ImageConversionError, result_to_msg)
from vlm_perception.model import load_model, ModelLoadError
from vlm_perception.msg import MultimodalFeatures
from vlm_perception.pairing import (
    FramePairing, LatencyWindow, LatestSlot, parse_command, RateMeter)
from vlm_perception.params import check_update, declare_parameters, ParameterError
from vlm_perception.runner import run_node

NODE_NAME = 'vlm_perception'
# Stages timed for every processed frame, in order; shown in /diagnostics.
STAGES = ('conversion', 'preprocess', 'text', 'forward', 'postprocess', 'message', 'publish')
# Seconds between repeats of the same warning.
THROTTLE = 5.0


def stamp_seconds(stamp):
    """Return a builtin_interfaces/Time as float seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def shorten(text, limit=80):
    """Return ``text`` cut to ``limit`` characters for a log line."""
    return text if len(text) <= limit else text[:limit] + f'... ({len(text)} characters)'


class VlmPerceptionNode(Node):
    """Subscribe to images and commands, run the model off the executor, publish results."""

    def __init__(self, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        self.config = declare_parameters(self)
        self.slot = LatestSlot()
        self.detector = self.start_worker(lambda: load_model(
            self.config['model'] or None, backend=self.config['backend'],
            device=self.config['device'], precision=self.config['precision'],
            text_cache_size=self.config['text_cache_size'], score_threshold=None,
            runtime=self.config['runtime'],
            nms_iou=self.config['nms_iou'], max_detections=self.config['max_detections']))
        # Loaded with its own recommended threshold; a negative parameter keeps that one.
        self.recommended_threshold = self.detector.score_threshold
        self.set_score_threshold(self.config['score_threshold'])
        self.pairing = FramePairing(self.config['sync_policy'], self.config['sync_slop'],
                                    self.config['frame_buffer_size'])
        self.input_rate = RateMeter()
        self.output_rate = RateMeter()
        self.latency = LatencyWindow()
        self.stage_times = {stage: LatencyWindow() for stage in STAGES}
        self.bad_images = 0
        self.failed_inferences = 0
        self.last_image_time = None
        self.started = time.monotonic()

        self.features_publisher = self.create_publisher(
            MultimodalFeatures, 'multimodal_features', 10)
        self.debug_publisher = self.create_publisher(Image, '~/debug_image', 1)
        self.diagnostics_publisher = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        reliability = {'best_effort': ReliabilityPolicy.BEST_EFFORT,
                       'reliable': ReliabilityPolicy.RELIABLE}[self.config['image_reliability']]
        self.image_subscription = self.create_subscription(
            Image, 'camera/image_raw', self.on_image,
            QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=self.config['image_queue_depth'],
                       reliability=reliability),
            event_callbacks=SubscriptionEventCallbacks(incompatible_qos=self.on_incompatible_qos))
        self.command_subscription = self.create_subscription(
            String, 'command_text', self.on_command,
            QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        self.add_on_set_parameters_callback(self.on_set_parameters)
        # On the steady clock: with use_sim_time and no /clock yet, these matter most.
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(self.config['diagnostics_period'], self.publish_diagnostics,
                          clock=steady)
        self.create_timer(0.2, self.check_inputs, clock=steady)

        detector = self.detector
        self.get_logger().info(
            f'model {detector.model_id} (backend {detector.backend}) on {detector.device}, '
            f'{str(detector.dtype).replace("torch.", "")}, score threshold '
            f'{detector.score_threshold:g}; '
            f'images {self.image_subscription.topic_name} ({self.config["image_reliability"]}), '
            f'commands {self.command_subscription.topic_name}, '
            f'features {self.features_publisher.topic_name}, '
            f'debug image {self.debug_publisher.topic_name}; '
            f'sync_policy {self.pairing.policy}')

    def now(self):
        """Return the node clock (sim time aware) in seconds."""
        return self.get_clock().now().nanoseconds * 1e-9

    # Executor side: cheap work only.

    def on_image(self, msg):
        """Pair an arriving frame with the command in force and offer it to the worker."""
        now = self.now()
        self.last_image_time = time.monotonic()
        self.input_rate.tick(self.last_image_time)
        self.act_on(self.pairing.on_frame(msg, stamp_seconds(msg.header.stamp), now))

    def on_command(self, msg):
        """Take a new command: its queries replace the old ones; empty clears them."""
        parsed = parse_command(msg.data, self.config['max_queries'],
                               self.config['max_query_chars'])
        if parsed.cut:
            self.get_logger().warn(f'command {shorten(msg.data)!r}: {parsed.cut}',
                                   throttle_duration_sec=THROTTLE)
        if parsed.queries:
            self.get_logger().info(f'command {shorten(msg.data)!r}: queries {parsed.queries}')
        self.act_on(self.pairing.on_command(msg.data, parsed.queries, self.now()))

    def act_on(self, step):
        """Act on a pairing decision: hand a job to the worker or say what happened."""
        if step.status == 'process':
            self.slot.put((step.job, time.monotonic()))
        elif step.status in ('waiting', 'expired'):
            self.get_logger().warn(step.note, throttle_duration_sec=THROTTLE)
        elif step.note:
            self.get_logger().info(step.note)

    def check_inputs(self):
        """Expire on_command waits, and warn (throttled) while no image arrives."""
        self.act_on(self.pairing.poll(self.now()))
        period = self.config['no_image_warning_period']
        silent_since = self.last_image_time or self.started
        if period > 0 and time.monotonic() - silent_since > period:
            topic = self.image_subscription.topic_name
            publishers = self.get_publishers_info_by_topic(topic)
            best_effort = [info for info in publishers
                           if info.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT]
            if not publishers:
                hint = 'no publisher on it; check the remapping (image_topic:=...)'
            elif best_effort and self.config['image_reliability'] == 'reliable':
                hint = (f'{len(best_effort)} publisher(s) offer best_effort, which cannot reach '
                        'this reliable subscription: set image_reliability to best_effort')
            else:
                hint = f'{len(publishers)} publisher(s) on it, none sending'
            self.get_logger().warn(f'no image on {topic} for {period:g} s: {hint}',
                                   throttle_duration_sec=max(period, THROTTLE))

    def on_incompatible_qos(self, event):
        """Say at once when a publisher's QoS cannot reach this subscription."""
        self.get_logger().warn(
            f'incompatible QoS on {self.image_subscription.topic_name}: a publisher does not '
            f'match policy {event.last_policy_kind.name} (this node asks for '
            f'{self.config["image_reliability"]}, depth {self.config["image_queue_depth"]})',
            throttle_duration_sec=THROTTLE)

    def on_set_parameters(self, parameters):
        """Refuse bad run-time changes with a reason; apply the good ones."""
        for parameter in parameters:
            reason = check_update(parameter.name, parameter.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        for parameter in parameters:
            if parameter.name not in self.config:
                continue
            self.config[parameter.name] = parameter.value
            if parameter.name == 'score_threshold':
                self.set_score_threshold(parameter.value)
            elif parameter.name in ('nms_iou', 'max_detections'):
                setattr(self.detector, parameter.name, parameter.value)
            elif parameter.name == 'sync_policy':
                self.pairing.policy = parameter.value
            elif parameter.name == 'sync_slop':
                self.pairing.sync_slop = parameter.value
        return SetParametersResult(successful=True)

    def set_score_threshold(self, value):
        """Apply a score_threshold parameter value (negative: the model's recommended)."""
        self.detector.score_threshold = self.recommended_threshold if value < 0 else value

    # Worker side: the model.

    def start_worker(self, load_detector):
        """
        Start the inference thread, which loads the model and then runs it; return the model.

        One thread does all the model's work: on the CPU, torch ran the shipped model's
        forward pass 1.8 times slower (22.7 against 12.7 ms) in a thread other than the
        one that had built it (OpenMP thread pools). Raises what loading raised.
        """
        loaded = {}
        ready = threading.Event()
        self.worker = threading.Thread(target=self.run_worker, args=(load_detector, loaded, ready),
                                       name='vlm_inference', daemon=True)
        self.worker.start()
        ready.wait()
        if 'error' in loaded:
            raise loaded['error']
        return loaded['detector']

    def run_worker(self, load_detector, loaded, ready):
        """Load the model, then process the newest paired frame until the slot closes."""
        try:
            loaded['detector'] = load_detector()
        except Exception as error:  # handed to the constructor, which raises it
            loaded['error'] = error
            return
        finally:
            ready.set()
        while (item := self.slot.take()) is not None:
            job, received = item
            try:
                self.process(job, received)
            except ImageConversionError as error:
                self.bad_images += 1
                self.get_logger().warn(f'dropped an image ({self.bad_images} so far): {error}',
                                       throttle_duration_sec=THROTTLE)
            except Exception as error:  # one bad frame must not end the node
                if self.slot.closed:
                    return  # shutting down: the publishers may already be gone
                self.failed_inferences += 1
                self.get_logger().error(
                    f'inference failed ({self.failed_inferences} so far): '
                    f'{type(error).__name__}: {error}', throttle_duration_sec=THROTTLE)

    def process(self, job, received):
        """Convert, infer, build and publish the result of one frame."""
        start = time.monotonic()
        image, order = image_to_array(job.frame)
        converted = time.monotonic()
        result = self.detector.infer(image, list(job.queries),
                                     channel_order='bgr' if order == 'bgr' else 'rgb')
        inferred = time.monotonic()
        msg = result_to_msg(result, job.frame.header, job.command, job.queries,
                            self.detector.model_id, self.detector.backend,
                            image.shape[1], image.shape[0])
        built = time.monotonic()
        self.features_publisher.publish(msg)
        published = time.monotonic()
        if self.debug_publisher.get_subscription_count():
            drawn = draw_detections(image, result, channel_order=order)
            self.debug_publisher.publish(array_to_image(
                drawn, 'mono8' if drawn.ndim == 2 else f'{order}8', job.frame.header))
        durations = dict(result.timings, conversion=converted - start,
                         message=built - inferred, publish=published - built)
        for stage, window in self.stage_times.items():
            window.add(durations.get(stage, 0.0))
        self.latency.add(published - received)
        self.output_rate.tick(published)
        if self.get_logger().is_enabled_for(LoggingSeverity.DEBUG):
            found = ', '.join(f'{label} {score:.2f}'
                              for label, score in zip(result.labels, result.scores))
            self.get_logger().debug(
                f'frame {stamp_seconds(msg.header.stamp):.3f}: [{found}], '
                f'{(published - received) * 1e3:.1f} ms from arrival to publish')

    # Monitoring.

    def publish_diagnostics(self):
        """Publish rates, latency, drops and the model's state on /diagnostics."""
        now = time.monotonic()
        median, p95 = self.latency.percentiles()
        values = {
            'input_rate_hz': f'{self.input_rate.rate(now):.2f}',
            'output_rate_hz': f'{self.output_rate.rate(now):.2f}',
            'latency_median_ms': '' if median is None else f'{median * 1e3:.1f}',
            'latency_p95_ms': '' if p95 is None else f'{p95 * 1e3:.1f}',
            'frames_received': str(self.input_rate.total),
            'frames_processed': str(self.output_rate.total),
            'frames_dropped': str(self.slot.dropped),
            'frames_bad': str(self.bad_images),
            'inference_errors': str(self.failed_inferences),
            'model': self.detector.model_id,
            'backend': self.detector.backend,
            'device': str(self.detector.device),
            'precision': str(self.detector.dtype).replace('torch.', ''),
            'score_threshold': f'{self.detector.score_threshold:g}',
            'sync_policy': self.pairing.policy,
            'command': '' if self.pairing.command is None else self.pairing.command[0],
            'text_cache_hits': str(self.detector.text_cache.hits),
            'text_cache_misses': str(self.detector.text_cache.misses),
        }
        for stage, window in self.stage_times.items():
            stage_median, _ = window.percentiles()
            values[f'{stage}_median_ms'] = '' if stage_median is None \
                else f'{stage_median * 1e3:.2f}'
        level, message = DiagnosticStatus.OK, 'running'
        if self.last_image_time is None or now - self.last_image_time > 2.0:
            level, message = DiagnosticStatus.WARN, 'no images arriving'
        elif self.pairing.command is None:
            message = 'idle: no command'
        status = DiagnosticStatus(
            level=level,
            name=f'{self.get_fully_qualified_name()}: vision-language perception',
            message=message, hardware_id=str(self.detector.device),
            values=[KeyValue(key=key, value=value) for key, value in values.items()])
        self.diagnostics_publisher.publish(
            DiagnosticArray(header=self.make_header(), status=[status]))

    def make_header(self):
        """Return a std_msgs/Header stamped now."""
        return Header(stamp=self.get_clock().now().to_msg())

    def destroy_node(self):
        """Stop the worker, then the node."""
        self.slot.close()
        self.worker.join(timeout=5.0)
        return super().destroy_node()


def main(args=None):
    """Run the node until Ctrl-C; a startup error ends it with one line and exit code 1."""
    # ValueError: load_model refusing a device or precision this machine lacks.
    return run_node(VlmPerceptionNode, NODE_NAME, args,
                    startup_errors=(ParameterError, ModelLoadError, ValueError))


if __name__ == '__main__':
    sys.exit(main())
