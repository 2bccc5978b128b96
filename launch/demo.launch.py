# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The demo on a robot: the synthetic camera and the perception node, together.

    ros2 launch vlm_perception demo.launch.py rate:=5.0
    ros2 topic pub --once /command_text std_msgs/msg/String "{data: 'red circle'}"
    ros2 topic echo /multimodal_features

The camera publishes tabletop scenes on camera/image_raw (their true objects on
camera/ground_truth); the node, started by vlm_perception.launch.py, runs the shipped
model unless model:= names another. When either process ends, so does the demo, so a
node that cannot start does not leave a camera running alone.
"""

import os

from launch import LaunchDescription
from launch.actions import (
    DeclareLaunchArgument, IncludeLaunchDescription, RegisterEventHandler, Shutdown)
from launch.event_handlers import OnProcessExit
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

# (name, default, description)
ARGUMENTS = (
    ('rate', '5.0', 'Camera frames per second'),
    ('scene_period', '4.0', 'Seconds each scene stays in view'),
    ('seed', '0', 'Seed of the scene sequence'),
    ('model', '', 'Model for the node (empty: the shipped tabletop model)'),
    ('device', '', 'Torch device for the node: auto, cpu, cuda or cuda:N (empty: auto)'),
    ('log_level', 'info', 'Log level of the node: debug, info, warn, error or fatal'),
)
# Camera parameters set from the arguments of the same name, and their types.
CAMERA_PARAMETERS = {'rate': float, 'scene_period': float, 'seed': int}
# The node's own launch file, next to this one (in the source tree and once installed).
NODE_LAUNCH_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                'vlm_perception.launch.py')


def generate_launch_description():
    """Declare the arguments, start the camera and the node, end both when one ends."""
    camera = Node(
        package='vlm_perception',
        executable='synthetic_camera',
        name='synthetic_camera',
        output='screen',
        emulate_tty=True,
        parameters=[{name: ParameterValue(LaunchConfiguration(name), value_type=value_type)
                     for name, value_type in CAMERA_PARAMETERS.items()}],
    )
    node = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(NODE_LAUNCH_FILE),
        launch_arguments={name: LaunchConfiguration(name)
                          for name in ('model', 'device', 'log_level')}.items(),
    )
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=description)
         for name, default, description in ARGUMENTS]
        + [camera, node,
           RegisterEventHandler(OnProcessExit(
               on_exit=[Shutdown(reason='a demo process ended')]))])
