# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Start vlm_perception_node with its parameters file and topic remappings.

    ros2 launch vlm_perception vlm_perception.launch.py \
        image_topic:=/camera/color/image_raw device:=cuda model:=google/owlvit-base-patch32

Include it from a larger launch file with IncludeLaunchDescription and the same
arguments. Arguments given here override the parameters file.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

ARGUMENTS = (
    ('namespace', '', 'Namespace of the node and its relative topics'),
    ('params_file', os.path.join(get_package_share_directory('vlm_perception'), 'config',
                                 'vlm_perception.yaml'), 'Parameters file'),
    ('model', '', 'Model folder or hub id; empty: the shipped tabletop model'),
    ('backend', 'auto', 'auto, native, owlvit or owlv2'),
    ('device', 'auto', 'auto, cpu, cuda or cuda:N'),
    ('precision', 'auto', 'auto, fp32, fp16, bf16 or int8'),
    ('image_topic', 'camera/image_raw', 'Input images (sensor_msgs/Image)'),
    ('command_topic', 'command_text', 'Input commands (std_msgs/String)'),
    ('features_topic', 'multimodal_features', 'Output (vlm_perception/MultimodalFeatures)'),
    ('debug_image_topic', '~/debug_image', 'Output image with the detections drawn'),
    ('log_level', 'info', 'debug, info, warn, error or fatal'),
    ('use_sim_time', 'false', 'Use /clock instead of the wall clock'),
)


def generate_launch_description():
    """Declare every argument and start the node with them."""
    config = {name: LaunchConfiguration(name) for name, _, _ in ARGUMENTS}
    node = Node(
        package='vlm_perception',
        executable='vlm_perception_node',
        name='vlm_perception',
        namespace=config['namespace'],
        output='screen',
        emulate_tty=True,
        # Typed explicitly: untyped, an empty model would be read as YAML null.
        parameters=[config['params_file'], {
            'model': ParameterValue(config['model'], value_type=str),
            'backend': ParameterValue(config['backend'], value_type=str),
            'device': ParameterValue(config['device'], value_type=str),
            'precision': ParameterValue(config['precision'], value_type=str),
            'use_sim_time': ParameterValue(config['use_sim_time'], value_type=bool),
        }],
        remappings=[
            ('camera/image_raw', config['image_topic']),
            ('command_text', config['command_topic']),
            ('multimodal_features', config['features_topic']),
            ('~/debug_image', config['debug_image_topic']),
        ],
        arguments=['--ros-args', '--log-level', config['log_level']],
    )
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=description)
         for name, default, description in ARGUMENTS] + [node])
