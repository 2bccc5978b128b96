# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Settings for a graph of ROS processes on one machine (the demo, the benchmark, tests).

Where the package's executables are, parameters files for them, a ROS_DOMAIN_ID of
one's own (so such graphs never cross), and a DDS transport that carries full camera frames
(``config/fastdds_large_frames.xml``).
"""

import fcntl
import os
import tempfile

PROFILE_FILE = 'fastdds_large_frames.xml'
PROFILE_VARIABLES = ('FASTRTPS_DEFAULT_PROFILES_FILE', 'FASTDDS_DEFAULT_PROFILES_FILE')


def installed_executable(name):
    """Return the path of ``name`` in the colcon install tree (what ``ros2 run`` starts)."""
    from ament_index_python.packages import get_package_prefix

    return os.path.join(get_package_prefix('vlm_perception'), 'lib', 'vlm_perception', name)


def write_params(path, parameters):
    """Write a ROS parameters file (every node) of {name: value}; return its path."""
    lines = ['/**:', '  ros__parameters:']
    for name, value in parameters.items():
        if isinstance(value, bool):
            value = str(value).lower()
        elif isinstance(value, str):
            value = '"' + value.replace('"', '\\"') + '"'
        lines.append(f'    {name}: {value}')
    with open(path, 'w', encoding='utf-8') as stream:
        stream.write('\n'.join(lines) + '\n')
    return str(path)


def claim_ros_domain(domains, lock_name):
    """
    Lock a ROS_DOMAIN_ID of ``domains`` (a range) that no other process holds.

    Each domain is a lock file ``<lock_name>_<id>.lock`` in the temporary folder.
    Returns (domain, lock): keep ``lock`` (an open file) for as long as the domain is
    used. Raises RuntimeError when every domain of the range is held.
    """
    for domain in domains:
        path = os.path.join(tempfile.gettempdir(), f'{lock_name}_{domain}.lock')
        lock = open(path, 'w')
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        return domain, lock
    raise RuntimeError(f'every ROS domain in {domains.start}..{domains.stop - 1} is held '
                       f'by another process ({lock_name})')


def profile_path():
    """Return the installed path of the package's large-frame Fast DDS profile."""
    from ament_index_python.packages import get_package_share_directory

    return os.path.join(get_package_share_directory('vlm_perception'), 'config', PROFILE_FILE)


def large_frame_transport(environ=os.environ, enabled=True):
    """
    Return (environment variables, description) of the transport for camera frames.

    With Fast DDS (the default RMW) and no profile of the caller's, the variables
    point Fast DDS at the package's profile with a 16 MB shared-memory segment, since
    the default 512 KB segment loses most best-effort 640x480 frames. Otherwise, or
    when not ``enabled``, they are empty and the description says what applies.
    """
    rmw = environ.get('RMW_IMPLEMENTATION') or 'rmw_fastrtps_cpp'
    given = next((environ[name] for name in PROFILE_VARIABLES if environ.get(name)), None)
    if rmw != 'rmw_fastrtps_cpp':
        return {}, f'{rmw}, its default settings'
    if given:
        return {}, f"Fast DDS with the caller's profile {given}"
    if not enabled:
        return {}, 'Fast DDS defaults (512 KB shared-memory segment)'
    path = profile_path()
    return ({name: path for name in PROFILE_VARIABLES},
            f'Fast DDS, shared memory with a 16 MB segment ({PROFILE_FILE})')
