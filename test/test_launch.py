# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The launch files: their arguments always; starting them where launch_ros is installed.

launch, launch_ros and ros2cli are on no registry these machines reach, so the
tests that start a launch file skip where they are absent (as in .venv and CI).
The argument checks read the launch files as Python syntax and need neither.
Launch files are started by launch.LaunchService in a process of their own, not
through the launch_testing pytest plugin (which pytest 9 cannot load).
"""

import ast
import os
from pathlib import Path
import re
import shutil
import signal
import subprocess
import sys
import tempfile

import pytest
from ros_graph import GraphClient, make_image, NodeProcess, save_tiny_model, write_params

from vlm_perception.local_graph import PROFILE_FILE, PROFILE_VARIABLES
from vlm_perception.params import SPECS

ROOT = Path(__file__).resolve().parent.parent
NODE_LAUNCH = ROOT / 'launch' / 'vlm_perception.launch.py'
DEMO_LAUNCH = ROOT / 'launch' / 'demo.launch.py'
# The node and the modules that wire its inputs.
NODE_SOURCES = [ROOT / 'vlm_perception' / name
                for name in ('node.py', 'image_input.py', 'depth_input.py')]
CAMERA_SOURCE = ROOT / 'vlm_perception' / 'synthetic_camera.py'
# What issue 4 asks the node's launch file to take, besides a remap for every topic.
REQUIRED_ARGUMENTS = {'namespace', 'params_file', 'model', 'backend', 'device', 'precision',
                      'log_level', 'use_sim_time'}
STARTED = 'sync_policy'  # the last words of the node's startup line

# Runs in the launch process: include one launch file with name:=value arguments.
LAUNCH_SCRIPT = """
import sys
from launch import LaunchService
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource

path, arguments = sys.argv[1], [a.split(':=', 1) for a in sys.argv[2:]]
service = LaunchService(argv=sys.argv[2:], noninteractive=True)
service.include_launch_description(IncludeLaunchDescription(
    PythonLaunchDescriptionSource(path), launch_arguments=arguments))
sys.exit(service.run())
"""


# Reading the launch files as syntax: these run everywhere.

def module_constant(path, name):
    """Return the literal value assigned to ``name`` at the top of the file at ``path``."""
    for statement in ast.parse(Path(path).read_text()).body:
        if isinstance(statement, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == name
                for target in statement.targets):
            return statement.value
    raise AssertionError(f'{path} assigns no {name}')


def declared_arguments(path):
    """Return the names in the ARGUMENTS table of a launch file, in order."""
    table = module_constant(path, 'ARGUMENTS')
    return [ast.literal_eval(row.elts[0]) for row in table.elts]


def calls(path, method):
    """Yield every call of ``<something>.<method>(...)`` in the file at ``path``."""
    for call in ast.walk(ast.parse(Path(path).read_text())):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
                and call.func.attr == method:
            yield call


def node_topics():
    """Return the topic names the node (node.py and its input modules) uses."""
    topics = set()
    for source in NODE_SOURCES:
        for method in ('create_publisher', 'create_subscription'):
            for call in calls(source, method):
                name = call.args[1]
                if isinstance(name, ast.Call):  # transport_topic(node, TOPIC, transport)
                    name = name.args[1]
                if isinstance(name, ast.Name):  # a module constant
                    name = module_constant(source, name.id)
                topics.add(ast.literal_eval(name))
    return topics


def launch_remappings():
    """Return {topic the node uses: launch argument it is remapped to} from the node launch."""
    remaps = {}
    for keyword in ast.walk(ast.parse(NODE_LAUNCH.read_text())):
        if isinstance(keyword, ast.keyword) and keyword.arg == 'remappings':
            # ('camera/image_raw', config['image_topic']), ...
            for pair in keyword.value.elts:
                source, target = pair.elts
                remaps[ast.literal_eval(source)] = ast.literal_eval(target.slice)
    return remaps


def test_launch_arguments_cover_every_topic_and_setting():
    arguments = declared_arguments(NODE_LAUNCH)
    assert len(arguments) == len(set(arguments))
    assert REQUIRED_ARGUMENTS <= set(arguments), REQUIRED_ARGUMENTS - set(arguments)
    remaps = launch_remappings()
    # Every topic of the node's own (not the absolute /diagnostics) is remappable.
    relative = {topic for topic in node_topics() if not topic.startswith('/')}
    assert {'camera/image_raw', 'command_text', 'multimodal_features'} <= relative
    assert relative <= set(remaps), relative - set(remaps)
    assert set(remaps.values()) <= set(arguments)


def test_launch_parameter_arguments_are_node_parameters():
    overridden = {ast.literal_eval(key)
                  for key in module_constant(NODE_LAUNCH, 'PARAMETER_ARGUMENTS').keys}
    assert overridden <= set(declared_arguments(NODE_LAUNCH))
    # use_sim_time is rclpy's own; the rest must be parameters the node declares.
    assert overridden - {'use_sim_time'} <= set(SPECS), overridden - set(SPECS)


def test_demo_launch_sets_camera_parameters_the_camera_declares():
    camera_parameters = {ast.literal_eval(call.args[0])
                         for call in calls(CAMERA_SOURCE, 'declare_parameter')}
    demo_arguments = set(declared_arguments(DEMO_LAUNCH))
    passed = {ast.literal_eval(key)
              for key in module_constant(DEMO_LAUNCH, 'CAMERA_PARAMETERS').keys}
    assert 'rate' in passed
    assert passed <= camera_parameters, passed - camera_parameters
    assert passed | {'model'} <= demo_arguments


def test_demo_launch_hands_the_node_only_arguments_its_launch_file_declares():
    handed = set(ast.literal_eval(module_constant(DEMO_LAUNCH, 'NODE_ARGUMENTS')))
    # namespace and image_topic move the camera too, so the node must get the same ones.
    assert {'namespace', 'image_topic'} <= handed
    assert handed <= set(declared_arguments(DEMO_LAUNCH)), handed
    assert handed <= set(declared_arguments(NODE_LAUNCH)), handed


def test_launch_files_leave_colour_to_the_user():
    # emulate_tty=True writes colour codes into piped and logged output.
    for path in (NODE_LAUNCH, DEMO_LAUNCH):
        keywords = {keyword.arg for keyword in ast.walk(ast.parse(path.read_text()))
                    if isinstance(keyword, ast.keyword)}
        assert 'emulate_tty' not in keywords, path


# Starting the launch files: only where launch and launch_ros are installed.

class LaunchProcess(NodeProcess):
    """``launch_file`` with ``arguments`` running in a LaunchService process of its own."""

    def __init__(self, launch_file, environment=None, **arguments):
        """Start it; ``environment`` changes the inherited variables (None removes one)."""
        self.log = tempfile.NamedTemporaryFile(
            mode='w+', prefix='launch-', suffix='.log', delete=False)
        env = dict(os.environ, PYTHONUNBUFFERED='1', RCUTILS_COLORIZED_OUTPUT='0')
        for name, value in (environment or {}).items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        self.process = subprocess.Popen(
            [sys.executable, '-c', LAUNCH_SCRIPT, str(launch_file),
             *(f'{name}:={value}' for name, value in arguments.items())],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True, env=env)

    def process_environment(self, executable):
        """Return the environment of the launched ``executable`` (from its pid in the log)."""
        started = re.search(rf'\[{executable}-\d+\]: process started with pid \[(\d+)\]',
                            self.output())
        assert started, self.output()
        entries = Path(f'/proc/{started.group(1)}/environ').read_bytes().split(b'\0')
        return dict(entry.decode(errors='replace').split('=', 1)
                    for entry in entries if b'=' in entry)

    def interrupt_group(self, timeout=20.0):
        """
        Send SIGINT to the launch process and its nodes at once; return its exit code.

        A terminal's Ctrl-C reaches the whole process group; a non-interactive launch
        also forwards it, so each node gets it twice.
        """
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout=timeout)


@pytest.fixture(scope='module')
def launch_tools():
    """Skip where launch or launch_ros is missing, before anything is built for the test."""
    # launch.actions: the repository's own launch/ folder imports as a bare 'launch'.
    pytest.importorskip('launch.actions')
    pytest.importorskip('launch_ros')


@pytest.fixture(scope='module')
def tiny_model(launch_tools, tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp('tiny_model'))


@pytest.fixture
def client(launch_tools, ros_context):
    graph = GraphClient(ros_context, name='launch_test_client')
    yield graph
    graph.close()


def wait_started(client, launch, node_name, namespace, timeout=120.0):
    """Wait until the launched node is in the graph; fail with the launch output if not."""
    def started_or_ended():
        return launch.process.poll() is not None \
            or (node_name, namespace) in client.node.get_node_names_and_namespaces()

    client.spin_until(started_or_ended, timeout=timeout)
    assert launch.process.poll() is None, launch.output()
    assert (node_name, namespace) in client.node.get_node_names_and_namespaces(), \
        launch.output()


def ask(client, image_topic, command_topic, features_topic, command, frame_id):
    """Publish frames and a command until an answer to it comes back; return the answer."""
    from sensor_msgs.msg import Image
    from std_msgs.msg import String
    from vlm_perception.msg import MultimodalFeatures

    answers = client.collect(MultimodalFeatures, features_topic)
    commands = client.publisher(String, command_topic)
    images = client.publisher(Image, image_topic)
    image = make_image(64, 48, stamp_sec=4242, frame_id=frame_id)

    def feed():
        commands.publish(String(data=command))
        images.publish(image)

    client.spin_until(lambda: answers, timeout=90.0, every=feed, period=0.5)
    return answers[0] if answers else None


def assert_ended_cleanly(launch):
    """Check that the launched node finished cleanly, without a traceback."""
    output = launch.output()
    assert 'process has finished cleanly' in output, output
    assert 'Traceback' not in output, output


@pytest.mark.ros
def test_launch_remaps_topics_into_the_namespace(client, tiny_model, tmp_path):
    params = write_params(tmp_path / 'params.yaml', score_threshold=0.0)
    launch = LaunchProcess(NODE_LAUNCH, namespace='lt_ns', params_file=params, model=tiny_model,
                           image_topic='lt_image', command_topic='/lt/command',
                           features_topic='lt_features', log_level='info')
    try:
        wait_started(client, launch, 'vlm_perception', '/lt_ns')
        # Relative names land in the namespace, absolute ones stay as given.
        answer = ask(client, '/lt_ns/lt_image', '/lt/command', '/lt_ns/lt_features',
                     'red circle', 'launch_camera')
        assert answer is not None, launch.output()
        assert answer.header.stamp.sec == 4242
        assert answer.header.frame_id == 'launch_camera'
        assert answer.command == 'red circle'
        assert answer.model_id == tiny_model  # the model argument reached the node
        topics = {name for name, _ in client.node.get_topic_names_and_types()}
        assert '/lt_ns/vlm_perception/debug_image' in topics
        assert launch.interrupt() == 0
        assert_ended_cleanly(launch)
    finally:
        launch.close()


@pytest.mark.ros
def test_launch_keeps_the_params_file_model_when_no_argument_names_one(
        client, tiny_model, tmp_path):
    params = write_params(tmp_path / 'params.yaml', model=tiny_model, device='cpu')
    launch = LaunchProcess(NODE_LAUNCH, params_file=params, image_topic='/lt2/image',
                           command_topic='/lt2/command', features_topic='/lt2/features')
    try:
        wait_started(client, launch, 'vlm_perception', '/')
        answer = ask(client, '/lt2/image', '/lt2/command', '/lt2/features', 'blue square',
                     'file_camera')
        assert answer is not None, launch.output()
        assert answer.model_id == tiny_model
        assert launch.interrupt_group() == 0
        assert_ended_cleanly(launch)  # a repeated SIGINT did not interrupt the cleanup
    finally:
        launch.close()


def profile_path():
    """Return the installed large-frame Fast DDS profile."""
    from ament_index_python.packages import get_package_share_directory

    return os.path.join(get_package_share_directory('vlm_perception'), 'config',
                        PROFILE_FILE)


@pytest.mark.ros
def test_demo_launch_moves_camera_and_node_together_on_the_large_frame_profile(
        client, tiny_model):
    from std_msgs.msg import String
    from vlm_perception.msg import MultimodalFeatures

    launch = LaunchProcess(DEMO_LAUNCH, model=tiny_model, rate='4', scene_period='1.0',
                           namespace='demo_ns', image_topic='demo_frames',
                           environment=dict.fromkeys(PROFILE_VARIABLES))
    try:
        wait_started(client, launch, 'synthetic_camera', '/demo_ns')
        wait_started(client, launch, 'vlm_perception', '/demo_ns')
        answers = client.collect(MultimodalFeatures, '/demo_ns/multimodal_features')
        commands = client.publisher(String, '/demo_ns/command_text')
        client.spin_until(lambda: answers, timeout=90.0, period=0.5,
                          every=lambda: commands.publish(String(data='green triangle')))
        assert answers, launch.output()
        # The node answered a frame of the demo's own camera, on the moved image topic.
        assert answers[0].header.frame_id == 'camera_optical_frame'
        assert answers[0].command == 'green triangle'
        topics = {name for name, _ in client.node.get_topic_names_and_types()}
        assert {'/demo_ns/demo_frames', '/demo_ns/camera/ground_truth'} <= topics
        for executable in ('synthetic_camera', 'vlm_perception_node'):
            environment = launch.process_environment(executable)
            for name in PROFILE_VARIABLES:
                assert environment.get(name) == profile_path(), (executable, name)
        assert 'transport: Fast DDS, shared memory' in launch.output()
        assert launch.interrupt() == 0
    finally:
        launch.close()


@pytest.mark.ros
def test_demo_launch_keeps_a_profile_of_the_users(client, tiny_model, tmp_path):
    own = tmp_path / 'my_profile.xml'
    shutil.copy(profile_path(), own)
    launch = LaunchProcess(DEMO_LAUNCH, model=tiny_model,
                           environment={'FASTRTPS_DEFAULT_PROFILES_FILE': None,
                                        'FASTDDS_DEFAULT_PROFILES_FILE': str(own)})
    try:
        wait_started(client, launch, 'synthetic_camera', '/')
        wait_started(client, launch, 'vlm_perception', '/')
        for executable in ('synthetic_camera', 'vlm_perception_node'):
            environment = launch.process_environment(executable)
            assert environment.get('FASTDDS_DEFAULT_PROFILES_FILE') == str(own), executable
            assert 'FASTRTPS_DEFAULT_PROFILES_FILE' not in environment, executable
        assert f"caller's profile {own}" in launch.output()
        assert launch.interrupt() == 0
    finally:
        launch.close()
