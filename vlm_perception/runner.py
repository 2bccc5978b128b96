# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""The life of a node process: init, construct, spin, and a clean, quiet shutdown."""

import signal
import sys

import rclpy
from rclpy._rclpy_pybind11 import RCLError  # rclpy exports it nowhere public
from rclpy.executors import ExternalShutdownException
from rclpy.logging import get_logger


class StartupError(Exception):
    """A node cannot start (bad parameter, missing weights); its message is the one line shown."""


def run_node(node_class, name, args=None, startup_errors=(StartupError,)):
    """
    Run ``node_class()`` until Ctrl-C or shutdown; return the process exit code.

    An exception of ``startup_errors`` raised while the node is built ends the
    process with one FATAL log line and code 1; Ctrl-C at any time ends it with 0
    and no traceback.
    """
    try:
        rclpy.init(args=args)
    except RCLError as error:  # e.g. malformed --ros-args
        print(f'[FATAL] [{name}]: {str(error).strip().splitlines()[0]}', file=sys.stderr)
        return 2
    node = None
    try:
        node = node_class()
        rclpy.spin(node)
    except startup_errors as error:
        get_logger(name).fatal(str(error))
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        # A second Ctrl-C (pressed twice, or signalled to the process group and forwarded
        # by a non-interactive `ros2 launch`) must not interrupt the cleanup with a traceback.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
