# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Start vlm_perception_node with its parameters file and topic remappings.

    ros2 launch vlm_perception vlm_perception.launch.py \
        image_topic:=/camera/color/image_raw device:=cuda model:=google/owlvit-base-patch32

Include it from a larger launch file with IncludeLaunchDescription and the same
arguments. model, backend, device, precision, runtime, image_transport, use_depth,
depth_transport and use_sim_time override the parameters file only when given:
left empty, the file's value holds, so a params_file of your own keeps its model.
`ros2 launch ... --show-args` lists all.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from vlm_perception.params import SPECS

FROM_FILE = ' (empty: as in params_file)'
# Node parameters a launch argument of the same name overrides, and their types.
PARAMETER_ARGUMENTS = {'model': str, 'backend': str, 'device': str, 'precision': str,
                       'runtime': str, 'image_transport': str, 'use_depth': bool,
                       'depth_transport': str, 'use_sim_time': bool}
LOG_LEVELS = ('debug', 'info', 'warn', 'error', 'fatal')

# (name, default, description, choices or None)
ARGUMENTS = (
    ('namespace', '', 'Namespace of the node and its relative topics', None),
    ('params_file', os.path.join(get_package_share_directory('vlm_perception'), 'config',
                                 'vlm_perception.yaml'), 'Parameters file', None),
    ('model', '', SPECS['model'].description + FROM_FILE, None),
    ('backend', '', SPECS['backend'].description + FROM_FILE,
     ('',) + SPECS['backend'].choices),
    ('device', '', SPECS['device'].description + FROM_FILE, None),
    ('precision', '', SPECS['precision'].description + FROM_FILE,
     ('',) + SPECS['precision'].choices),
    ('runtime', '', SPECS['runtime'].description + FROM_FILE,
     ('',) + SPECS['runtime'].choices),
    ('image_topic', 'camera/image_raw', 'Input images (sensor_msgs/Image)', None),
    ('image_transport', '', SPECS['image_transport'].description + FROM_FILE,
     ('',) + SPECS['image_transport'].choices),
    ('command_topic', 'command_text', 'Input commands (std_msgs/String)', None),
    ('features_topic', 'multimodal_features', 'Output (vlm_perception/MultimodalFeatures)',
     None),
    ('debug_image_topic', '~/debug_image', 'Output image with the detections drawn', None),
    ('use_depth', '', SPECS['use_depth'].description + FROM_FILE,
     ('', 'true', 'false', 'True', 'False')),
    ('depth_topic', 'camera/depth/image_raw',
     'Input depth registered to the colour camera (sensor_msgs/Image, 16UC1 or 32FC1)', None),
    ('depth_transport', '', SPECS['depth_transport'].description + FROM_FILE,
     ('',) + SPECS['depth_transport'].choices),
    ('camera_info_topic', 'camera/camera_info',
     "Input colour camera's calibration (sensor_msgs/CameraInfo)", None),
    ('markers_topic', '~/markers', 'Output RViz markers of the located detections', None),
    ('log_level', 'info', 'Log level of the node process', LOG_LEVELS),
    ('use_sim_time', '', 'Use /clock instead of the wall clock' + FROM_FILE,
     ('', 'true', 'false', 'True', 'False')),
)


def launch_node(context):
    """Return the node action, overriding only the parameters whose argument is given."""
    overrides = {}
    for name, value_type in PARAMETER_ARGUMENTS.items():
        value = LaunchConfiguration(name).perform(context)
        if value:
            if value_type is bool:
                value = value.lower() == 'true'  # the argument's choices allow nothing else
            # Typed: untyped, launch_ros would read the text as YAML ('1' an int).
            overrides[name] = ParameterValue(value, value_type=value_type)
    config = {name: LaunchConfiguration(name) for name, _, _, _ in ARGUMENTS}
    return [Node(
        package='vlm_perception',
        executable='vlm_perception_node',
        name='vlm_perception',
        namespace=config['namespace'],
        output='screen',
        parameters=[config['params_file'], overrides],
        remappings=[
            ('camera/image_raw', config['image_topic']),
            ('command_text', config['command_topic']),
            ('multimodal_features', config['features_topic']),
            ('~/debug_image', config['debug_image_topic']),
            ('camera/depth/image_raw', config['depth_topic']),
            ('camera/camera_info', config['camera_info_topic']),
            ('~/markers', config['markers_topic']),
        ],
        arguments=['--ros-args', '--log-level', config['log_level']],
    )]


def generate_launch_description():
    """Declare every argument and start the node with them."""
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=description,
                               choices=None if choices is None else list(choices))
         for name, default, description, choices in ARGUMENTS]
        + [OpaqueFunction(function=launch_node)])
