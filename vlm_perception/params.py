# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Every parameter of vlm_perception_node, declared in one place.

Each entry has its type (from the default), range or choices, a description and
whether it may change while the node runs. ``config/vlm_perception.yaml`` holds the
same defaults (a test keeps the two equal); ``ros2 param describe`` shows the rest.
"""

from dataclasses import dataclass


class ParameterError(ValueError):
    """A parameter value the node cannot run with."""


@dataclass(frozen=True)
class ParameterSpec:
    """One node parameter: its default fixes the type."""

    name: str
    default: object
    description: str
    read_only: bool = False
    choices: tuple = ()
    min_value: object = None
    max_value: object = None

    def check(self, value):
        """Return why ``value`` is not acceptable, or None when it is."""
        if type(value) is not type(self.default):
            return (f'{self.name} must be a {type(self.default).__name__}, '
                    f'got {type(value).__name__} {value!r}')
        if self.choices and value not in self.choices:
            return f'{self.name} must be one of {", ".join(self.choices)}, got {value!r}'
        if self.min_value is not None and not self.min_value <= value <= self.max_value:
            return f'{self.name} must be in [{self.min_value}, {self.max_value}], got {value!r}'
        return None


PARAMETERS = (
    # The model: fixed for the life of the node.
    ParameterSpec('model', '', 'Model folder or hub id; empty means the shipped tabletop '
                  'model', read_only=True),
    ParameterSpec('backend', 'auto', "Model backend; auto reads the model folder's config",
                  read_only=True, choices=('auto', 'native', 'owlvit', 'owlv2')),
    ParameterSpec('device', 'auto', 'Torch device: auto (CUDA when present, else CPU), cpu, '
                  'cuda or cuda:N', read_only=True),
    ParameterSpec('precision', 'auto', 'Numeric precision: auto (fp16 on CUDA, fp32 on CPU), '
                  'fp32, fp16, bf16 (GPU) or int8 (CPU)', read_only=True,
                  choices=('auto', 'fp32', 'fp16', 'bf16', 'int8')),
    ParameterSpec('runtime', 'auto', "Runtime of the image path: auto (an exported folder's own, "
                  'else torch), torch, openvino or onnxruntime (folders from vlm-perception '
                  'export)', read_only=True, choices=('auto', 'torch', 'openvino', 'onnxruntime')),
    ParameterSpec('text_cache_size', 256, 'Query embeddings kept in the text cache',
                  read_only=True, min_value=1, max_value=100000),
    # Detection post-processing: may change at run time.
    ParameterSpec('score_threshold', -1.0, 'Detections scoring below this are dropped; '
                  "negative: the model's recommended threshold (from its config; 0.1 for OWL)",
                  min_value=-1.0, max_value=1.0),
    ParameterSpec('nms_iou', 0.5, 'Per-label non-maximum suppression IoU threshold',
                  min_value=0.0, max_value=1.0),
    ParameterSpec('max_detections', 20, 'Most detections published per frame',
                  min_value=1, max_value=1000),
    # Commands.
    ParameterSpec('max_queries', 16, 'Most queries taken from one command; the rest are '
                  'dropped with a warning', min_value=1, max_value=256),
    ParameterSpec('max_query_chars', 200, 'Longest query in characters; longer ones are cut',
                  min_value=1, max_value=10000),
    # Pairing frames with commands.
    ParameterSpec('sync_policy', 'latest', 'latest: every new frame with the command in force; '
                  'on_command: one inference per command, on the frame nearest its arrival',
                  choices=('latest', 'on_command')),
    ParameterSpec('sync_slop', 0.5, 'on_command: how far, in seconds, a frame stamp may be '
                  "from the command's arrival", min_value=0.0, max_value=60.0),
    ParameterSpec('frame_buffer_size', 30, 'on_command: recent frames kept to choose from',
                  read_only=True, min_value=1, max_value=1000),
    # Image subscription QoS.
    ParameterSpec('image_reliability', 'best_effort', 'QoS reliability of the image '
                  'subscription (best_effort matches sensor-data publishers and reliable ones)',
                  read_only=True, choices=('best_effort', 'reliable')),
    ParameterSpec('image_queue_depth', 1, 'QoS depth of the image subscription',
                  read_only=True, min_value=1, max_value=100),
    ParameterSpec('image_transport', 'raw', 'raw: sensor_msgs/Image on the image topic; '
                  'compressed: sensor_msgs/CompressedImage (JPEG, PNG) on that topic + '
                  '/compressed',
                  read_only=True, choices=('raw', 'compressed')),
    # 3D from registered depth.
    ParameterSpec('use_depth', False, 'Subscribe to a depth image registered to the colour '
                  'camera and its camera_info, and publish 3D positions and sizes',
                  read_only=True),
    ParameterSpec('depth_transport', 'raw', 'raw: sensor_msgs/Image on the depth topic; '
                  'compressedDepth: sensor_msgs/CompressedImage (PNG, RVL) on that topic + '
                  '/compressedDepth', read_only=True,
                  choices=('raw', 'compressedDepth')),
    ParameterSpec('depth_scale', 0.001, 'Metres per unit of 16UC1/mono16 depth (0.001: '
                  'millimetres); 32FC1 depth is in metres', min_value=1e-6, max_value=1.0),
    ParameterSpec('depth_min', 0.1, 'Depth readings nearer than this (m) count as none',
                  min_value=0.0, max_value=1000.0),
    ParameterSpec('depth_max', 10.0, 'Depth readings farther than this (m) count as none',
                  min_value=0.0, max_value=1000.0),
    ParameterSpec('depth_slop', 0.05, 'Largest difference in seconds between a colour '
                  "frame's stamp and its depth's; a frame waits at most this long for depth",
                  min_value=0.0, max_value=10.0),
    # The ~/detect service.
    ParameterSpec('detect_max_frame_age', 1.0, '~/detect with an empty image answers on the '
                  'newest camera frame if it arrived at most this many seconds ago (0: '
                  'requests must carry their image)', min_value=0.0, max_value=3600.0),
    # Monitoring.
    ParameterSpec('no_image_warning_period', 5.0, 'Warn when no image has arrived for this '
                  'many seconds (0 disables)', min_value=0.0, max_value=3600.0),
    ParameterSpec('diagnostics_period', 1.0, 'Seconds between /diagnostics messages',
                  read_only=True, min_value=0.1, max_value=60.0),
)

SPECS = {spec.name: spec for spec in PARAMETERS}


def defaults():
    """Return {name: default} for every parameter."""
    return {spec.name: spec.default for spec in PARAMETERS}


def declare_parameters(node):
    """
    Declare every parameter on ``node`` and return {name: value}.

    Raises ParameterError with one line naming the parameter when a value given at
    startup (parameters file, launch argument, command line) is unusable.
    """
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
    from rclpy.exceptions import ParameterException

    values = {}
    for spec in PARAMETERS:
        descriptor = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
        if spec.choices:
            descriptor.additional_constraints = 'one of: ' + ', '.join(spec.choices)
        if isinstance(spec.default, float) and spec.min_value is not None:
            descriptor.floating_point_range = [FloatingPointRange(
                from_value=spec.min_value, to_value=spec.max_value, step=0.0)]
        elif isinstance(spec.default, int) and spec.min_value is not None:
            descriptor.integer_range = [IntegerRange(
                from_value=spec.min_value, to_value=spec.max_value, step=1)]
        try:
            value = node.declare_parameter(spec.name, spec.default, descriptor).value
        except ParameterException as error:
            raise ParameterError(f'parameter {spec.name}: {error}') from None
        reason = spec.check(value)
        if reason:
            raise ParameterError(f'parameter {reason}')
        values[spec.name] = value
    reason = check_together(values)
    if reason:
        raise ParameterError(f'parameters: {reason}')
    return values


def check_together(values):
    """Return why a set of parameter values cannot hold together, or None."""
    if values['depth_min'] >= values['depth_max']:
        return (f"depth_min ({values['depth_min']:g}) must be below depth_max "
                f"({values['depth_max']:g})")
    return None


def check_update(name, value):
    """Return why a run-time change of ``name`` to ``value`` is refused, or None."""
    spec = SPECS.get(name)
    if spec is None:
        return None  # not ours (e.g. use_sim_time)
    if spec.read_only:
        return f'{name} is read-only; restart the node to change it'
    return spec.check(value)
