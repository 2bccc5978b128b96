# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The demo on a robot: the synthetic camera and the perception node, together.

    ros2 launch vlm_perception demo.launch.py rate:=5.0
    ros2 topic pub --once /command_text std_msgs/msg/String "{data: 'red circle'}"
    ros2 topic echo /multimodal_features

The camera publishes tabletop scenes on camera/image_raw (their true objects on
camera/ground_truth); the node, started by vlm_perception.launch.py, runs the shipped
model unless model:= names another. namespace:= and image_topic:= move the camera and
the node together; the node's other arguments (command_topic, features_topic, ...)
pass through to it. Both processes use the package's large-frame Fast DDS profile
unless a profile of your own is set. When either process ends, so does the demo, so a
node that cannot start does not leave a camera running alone.
"""

import os

from launch import LaunchDescription
from launch.actions import (
    DeclareLaunchArgument, GroupAction, IncludeLaunchDescription, LogInfo, OpaqueFunction,
    RegisterEventHandler, SetEnvironmentVariable, Shutdown)
from launch.event_handlers import OnProcessExit
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from vlm_perception.local_graph import large_frame_transport

# (name, default, description)
ARGUMENTS = (
    ('rate', '5.0', 'Camera frames per second'),
    ('scene_period', '4.0', 'Seconds each scene stays in view'),
    ('seed', '0', 'Seed of the scene sequence'),
    ('model', '', 'Model for the node (empty: the shipped tabletop model)'),
    ('device', '', 'Torch device for the node: auto, cpu, cuda or cuda:N (empty: auto)'),
    ('log_level', 'info', 'Log level of the node: debug, info, warn, error or fatal'),
    ('namespace', '', 'Namespace of the camera and the node, and of their relative topics'),
    ('image_topic', 'camera/image_raw', 'Images: the camera publishes them, the node reads them'),
)
# Arguments handed to the node's own launch file.
NODE_ARGUMENTS = ('model', 'device', 'log_level', 'namespace', 'image_topic')
# Camera parameters set from the arguments of the same name, and their types.
CAMERA_PARAMETERS = {'rate': float, 'scene_period': float, 'seed': int}
# The node's own launch file, next to this one (in the source tree and once installed).
NODE_LAUNCH_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                'vlm_perception.launch.py')


def large_frame_profile(context):
    """Point both processes at the large-frame profile, unless the user set a profile."""
    variables, description = large_frame_transport(context.environment)
    return [SetEnvironmentVariable(name, value) for name, value in variables.items()] \
        + [LogInfo(msg=f'transport: {description}')]


def generate_launch_description():
    """Declare the arguments, start the camera and the node, end both when one ends."""
    camera = Node(
        package='vlm_perception',
        executable='synthetic_camera',
        name='synthetic_camera',
        namespace=LaunchConfiguration('namespace'),
        output='screen',
        parameters=[{name: ParameterValue(LaunchConfiguration(name), value_type=value_type)
                     for name, value_type in CAMERA_PARAMETERS.items()}],
        remappings=[('camera/image_raw', LaunchConfiguration('image_topic'))],
    )
    node = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(NODE_LAUNCH_FILE),
        launch_arguments={name: LaunchConfiguration(name) for name in NODE_ARGUMENTS}.items(),
    )
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=description)
         for name, default, description in ARGUMENTS]
        # Scoped: the profile reaches these two processes, not a parent launch file's others.
        + [GroupAction([OpaqueFunction(function=large_frame_profile), camera, node]),
           RegisterEventHandler(OnProcessExit(
               on_exit=[Shutdown(reason='a demo process ended')]))])
