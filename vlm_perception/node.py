# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
vlm_perception_node: camera frames and a text command in, MultimodalFeatures out.

A thin layer that wires plain parts together: parameters (params.py), the camera
input (image_input.py), registered depth (depth_input.py, with ``use_depth``),
frame/command pairing (pairing.py), the inference thread (worker.py), the ~/detect
service (detect_service.py), message conversion (conversion.py), 3D geometry
(geometry.py), RViz markers (markers.py) and the model (model/). The executor only
stamps, pairs and hands frames over; one worker thread runs the model on the newest
frame, so a slow model drops frames instead of queueing them. Topic frames and
service requests share one code path, :meth:`VlmPerceptionNode.perceive`.
"""

import sys
import time
from typing import Any, NamedTuple

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
import numpy as np
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.logging import LoggingSeverity
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header, String

from vlm_perception.conversion import array_to_image, draw_detections, result_to_msg
from vlm_perception.conversion import stamp_seconds
from vlm_perception.depth_input import DepthInput, DepthUnusable, locate_detections
from vlm_perception.detect_service import DetectService, PendingRequest
from vlm_perception.image_input import ImageInput
from vlm_perception.model import load_model, ModelLoadError
from vlm_perception.msg import MultimodalFeatures
from vlm_perception.pairing import FramePairing, LatencyWindow, parse_command, RateMeter, Work
from vlm_perception.params import check_together, check_update, declare_parameters
from vlm_perception.params import ParameterError
from vlm_perception.runner import run_node
from vlm_perception.worker import InferenceWorker

NODE_NAME = 'vlm_perception'
# Stages timed for every processed frame, in order; shown in /diagnostics. 'depth'
# (3D from the depth image) only with use_depth.
STAGES = ('conversion', 'preprocess', 'text', 'forward', 'postprocess', 'depth', 'message',
          'publish')
# Seconds between repeats of the same warning.
THROTTLE = 5.0
# How often colour frames waiting for their depth are checked (seconds).
DEPTH_POLL_PERIOD = 0.005


def shorten(text, limit=80):
    """Return ``text`` cut to ``limit`` characters for a log line."""
    return text if len(text) <= limit else text[:limit] + f'... ({len(text)} characters)'


class Perception(NamedTuple):
    """What :meth:`VlmPerceptionNode.perceive` made of one frame, for publishing or returning."""

    msg: Any          # the MultimodalFeatures
    image: Any        # the decoded frame, (H, W, 3) or (H, W) uint8
    order: str        # its channel order: 'rgb', 'bgr' or 'mono'
    result: Any       # the model's DetectionResult
    positions: Any    # (N, 3) metres, or None without depth
    sizes: Any        # (N, 3) metres, or None without depth
    durations: dict   # seconds per stage (STAGES but 'publish')


class VlmPerceptionNode(Node):
    """Subscribe to images and commands, run the model off the executor, publish results."""

    def __init__(self, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        self.config = declare_parameters(self)
        self.worker = InferenceWorker(
            lambda: load_model(
                self.config['model'] or None, backend=self.config['backend'],
                device=self.config['device'], precision=self.config['precision'],
                text_cache_size=self.config['text_cache_size'], score_threshold=None,
                runtime=self.config['runtime'], nms_iou=self.config['nms_iou'],
                max_detections=self.config['max_detections']),
            self.process,
            warn=lambda text: self.get_logger().warn(text, throttle_duration_sec=THROTTLE),
            error=lambda text: self.get_logger().error(text, throttle_duration_sec=THROTTLE),
            answer=self.answer)
        self.detector = self.worker.start()
        # Loaded with its own recommended threshold; a negative parameter keeps that one.
        self.recommended_threshold = self.detector.score_threshold
        self.set_score_threshold(self.config['score_threshold'])
        self.pairing = FramePairing(self.config['sync_policy'], self.config['sync_slop'],
                                    self.config['frame_buffer_size'])
        self.output_rate = RateMeter()
        self.latency = LatencyWindow()
        stages = STAGES if self.config['use_depth'] else tuple(
            stage for stage in STAGES if stage != 'depth')
        self.stage_times = {stage: LatencyWindow() for stage in stages}
        self.frames_without_depth = 0
        self.depth_warned = {}   # DepthUnusable kind: when it was last logged

        self.features_publisher = self.create_publisher(
            MultimodalFeatures, 'multimodal_features', 10)
        self.debug_publisher = self.create_publisher(Image, '~/debug_image', 1)
        self.diagnostics_publisher = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.images = ImageInput(self, self.config, self.on_image, THROTTLE)
        self.depth = None
        if self.config['use_depth']:
            from visualization_msgs.msg import MarkerArray

            self.markers_publisher = self.create_publisher(MarkerArray, '~/markers', 1)
            self.depth = DepthInput(self, self.config, self.on_depth_paired,
                                    self.config['frame_buffer_size'])
        self.detect = DetectService(self, self.config, self.worker, self.images, self.depth,
                                    THROTTLE)
        self.command_subscription = self.create_subscription(
            String, 'command_text', self.on_command,
            QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        self.add_on_set_parameters_callback(self.on_set_parameters)
        # On the steady clock: with use_sim_time and no /clock yet, these matter most.
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(self.config['diagnostics_period'], self.publish_diagnostics,
                          clock=steady)
        self.create_timer(0.2, self.check_inputs, clock=steady)
        if self.depth is not None:
            self.create_timer(DEPTH_POLL_PERIOD, self.depth.poll, clock=steady)
        self.get_logger().info(self.startup_line())

    def startup_line(self):
        """Return the line that says what runs and where its topics are, after remapping."""
        detector = self.detector
        depth = ''
        if self.depth is not None:
            depth = (f'depth {self.depth.depth_subscription.topic_name} with camera_info '
                     f'{self.depth.camera_info_subscription.topic_name}, markers '
                     f'{self.markers_publisher.topic_name}; ')
        return (f'model {detector.model_id} (backend {detector.backend}) on {detector.device}, '
                f'{str(detector.dtype).replace("torch.", "")}, score threshold '
                f'{detector.score_threshold:g}; '
                f'images {self.images.topic_name} ({self.config["image_reliability"]}), '
                f'commands {self.command_subscription.topic_name}, '
                f'features {self.features_publisher.topic_name}, '
                f'debug image {self.debug_publisher.topic_name}, '
                f'service {self.detect.name}; {depth}'
                f'sync_policy {self.pairing.policy}')

    def now(self):
        """Return the node clock (sim time aware) in seconds."""
        return self.get_clock().now().nanoseconds * 1e-9

    # Executor side: cheap work only.

    def on_image(self, msg):
        """Pair an arriving frame with the command in force and offer it to the worker."""
        self.act_on(self.pairing.on_frame(msg, stamp_seconds(msg.header.stamp), self.now()))

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
        """Act on a pairing decision: hand a job on (via depth pairing) or say what happened."""
        if step.status == 'process':
            if self.depth is None:
                self.worker.submit(Work(step.job, None, time.monotonic()))
            else:
                self.depth.add_frame(step.job, step.job.stamp)
        elif step.status in ('waiting', 'expired'):
            self.get_logger().warn(step.note, throttle_duration_sec=THROTTLE)
        elif step.note:
            self.get_logger().info(step.note)

    def on_depth_paired(self, job, depth):
        """Hand a job whose depth is decided (found, or given up on) to the worker."""
        if isinstance(job, PendingRequest):  # a ~/detect request's frame
            job.go_on(depth)
            return
        self.worker.submit(Work(job, depth, time.monotonic()))

    def check_inputs(self):
        """Expire on_command waits, and warn (throttled) while no image arrives."""
        self.act_on(self.pairing.poll(self.now()))
        self.images.check(time.monotonic())

    def on_set_parameters(self, parameters):
        """Refuse bad run-time changes with a reason; apply the good ones."""
        for parameter in parameters:
            reason = check_update(parameter.name, parameter.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        updated = dict(self.config, **{parameter.name: parameter.value
                                       for parameter in parameters
                                       if parameter.name in self.config})
        reason = check_together(updated)
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
            elif parameter.name == 'depth_slop' and self.depth is not None:
                self.depth.pairing.slop = parameter.value
        return SetParametersResult(successful=True)

    def set_score_threshold(self, value):
        """Apply a score_threshold parameter value (negative: the model's recommended)."""
        self.detector.score_threshold = self.recommended_threshold if value < 0 else value

    # Worker side: the model.

    def process(self, detector, work):
        """Topic path: perceive one frame, then publish the result."""
        self.publish(self.perceive(detector, work), work)

    def perceive(self, detector, work):
        """Convert, infer, locate in 3D and build the result of one frame; returns Perception."""
        job = work.job
        start = time.monotonic()
        image, order = self.images.decode(job.frame)
        converted = time.monotonic()
        result = detector.infer(image, list(job.queries),
                                channel_order='bgr' if order == 'bgr' else 'rgb')
        inferred = time.monotonic()
        positions = sizes = None
        if work.depth is not None:
            positions, sizes = self.locate(work.depth, job.frame.header, image, result.boxes)
        located = time.monotonic()
        msg = result_to_msg(result, job.frame.header, job.command, job.queries,
                            detector.model_id, detector.backend, image.shape[1],
                            image.shape[0], positions, sizes)
        durations = dict(result.timings, conversion=converted - start,
                         depth=located - inferred, message=time.monotonic() - located)
        return Perception(msg, image, order, result, positions, sizes, durations)

    def answer(self, detector, work):
        """~/detect path: perceive one frame and record its stage times; returns Perception."""
        perceived = self.perceive(detector, work)
        self.record_stages(perceived.durations)
        return perceived

    def publish(self, perceived, work):
        """Publish a topic frame's result and its views; record its timings."""
        start = time.monotonic()
        self.features_publisher.publish(perceived.msg)
        published = time.monotonic()
        self.publish_views(perceived.image, perceived.order, perceived.result,
                           perceived.msg.header, perceived.positions, perceived.sizes)
        self.record_stages(dict(perceived.durations, publish=published - start))
        self.latency.add(published - work.received)
        self.output_rate.tick(published)
        if self.get_logger().is_enabled_for(LoggingSeverity.DEBUG):
            result = perceived.result
            found = ', '.join(f'{label} {score:.2f}'
                              for label, score in zip(result.labels, result.scores))
            self.get_logger().debug(
                f'frame {stamp_seconds(perceived.msg.header.stamp):.3f}: [{found}], '
                f'{(published - work.received) * 1e3:.1f} ms from arrival to publish')

    def record_stages(self, durations):
        """Add one frame's stage times (seconds) to the /diagnostics medians."""
        for stage, window in self.stage_times.items():
            if stage in durations:
                window.add(durations[stage])

    def locate(self, depth, header, image, boxes):
        """Return (positions, sizes) (N, 3) for the boxes; NaN rows, and a warning, when none."""
        try:
            return locate_detections(depth, header, (image.shape[1], image.shape[0]), boxes,
                                     self.config)
        except DepthUnusable as error:
            self.frames_without_depth += 1
            # Throttled per reason: a new kind of trouble is told at once.
            now = time.monotonic()
            if now - self.depth_warned.get(error.kind, -THROTTLE) >= THROTTLE:
                self.depth_warned[error.kind] = now
                self.get_logger().warn(
                    f'3D positions left NaN ({self.frames_without_depth} frame(s) so far): '
                    f'{self.depth.topic_of(error.source)}: {error}')
            nan = np.full((len(boxes), 3), np.nan, np.float32)
            return nan, nan.copy()

    def publish_views(self, image, order, result, header, positions, sizes):
        """Publish the debug image and the markers, each only while someone subscribes."""
        if self.debug_publisher.get_subscription_count():
            drawn = draw_detections(image, result, channel_order=order, positions=positions)
            self.debug_publisher.publish(array_to_image(
                drawn, 'mono8' if drawn.ndim == 2 else f'{order}8', header))
        if positions is not None and self.markers_publisher.get_subscription_count():
            from vlm_perception.markers import detection_markers

            self.markers_publisher.publish(detection_markers(
                header, result.labels, result.query_indices, result.scores, positions, sizes))

    # Monitoring.

    def publish_diagnostics(self):
        """Publish rates, latency, drops and the model's state on /diagnostics."""
        now = time.monotonic()
        median, p95 = self.latency.percentiles()
        values = {
            'input_rate_hz': f'{self.images.rate.rate(now):.2f}',
            'output_rate_hz': f'{self.output_rate.rate(now):.2f}',
            'latency_median_ms': '' if median is None else f'{median * 1e3:.1f}',
            'latency_p95_ms': '' if p95 is None else f'{p95 * 1e3:.1f}',
            'frames_received': str(self.images.rate.total),
            'frames_processed': str(self.output_rate.total),
            'frames_dropped': str(self.worker.dropped),
            'frames_bad': str(self.worker.bad_frames),
            'frames_lost_in_transport': '' if self.images.lost is None  # RMW cannot tell
            else str(self.images.lost),
            'inference_errors': str(self.worker.failed),
            'model': self.detector.model_id,
            'backend': self.detector.backend,
            'device': str(self.detector.device),
            'precision': str(self.detector.dtype).replace('torch.', ''),
            'score_threshold': f'{self.detector.score_threshold:g}',
            'sync_policy': self.pairing.policy,
            'command': '' if self.pairing.command is None else self.pairing.command[0],
            'text_cache_hits': str(self.detector.text_cache.hits),
            'text_cache_misses': str(self.detector.text_cache.misses),
            'detect_requests_served': str(self.detect.served),
            'detect_requests_refused': str(self.detect.refused),
            'detect_requests_waiting': str(self.detect.waiting),
        }
        if self.depth is not None:
            values['frames_without_depth'] = str(self.frames_without_depth)
        for stage, window in self.stage_times.items():
            stage_median, _ = window.percentiles()
            values[f'{stage}_median_ms'] = '' if stage_median is None \
                else f'{stage_median * 1e3:.2f}'
        level, message = DiagnosticStatus.OK, 'running'
        last = self.images.last_arrival
        if last is None or now - last > 2.0:
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
        """Refuse what ~/detect still holds, stop the worker, then the node."""
        self.detect.close()
        self.worker.close()
        return super().destroy_node()


def main(args=None):
    """Run the node until Ctrl-C; a startup error ends it with one line and exit code 1."""
    # ValueError: load_model refusing a device or precision this machine lacks.
    return run_node(VlmPerceptionNode, NODE_NAME, args,
                    startup_errors=(ParameterError, ModelLoadError, ValueError))


if __name__ == '__main__':
    sys.exit(main())
