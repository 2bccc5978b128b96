# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The life of a node process: init, construct, spin, and a clean, quiet shutdown.

Ctrl-C is made deterministic in four steps. (1) Our SIGINT handler is installed before
rclpy.init, and rclpy.init installs none. (2) The executor is made then, when no signal
can shut the context down under it (a half-made rclpy executor prints an error when it
is collected). (3) rclpy's handlers go in, chaining to ours: from here every SIGINT wakes
the executor and shuts the context down, which ends the spin. (4) Ours raises
KeyboardInterrupt for the first signal only and only while the node is being built, so a
long model load stops at once. During the spin it raises nothing: an exception raised at
an arbitrary point can be swallowed by library code that clears errors (seen in OpenCV),
and would leave the node spinning on a dead context. Once stopping, signals do nothing.
"""

import ast
import os
import signal
import sys
import threading

import rclpy
from rclpy._rclpy_pybind11 import RCLError, UnknownROSArgsError  # exported nowhere public
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.logging import get_logger, get_logger_level, LoggingSeverity, set_logger_level
from rclpy.signals import install_signal_handlers, SignalHandlerOptions

# rcl's own flags, to suggest one when a typo such as --log_level is given.
ROS_FLAGS = ('--log-level', '--log-config-file', '--log-file-name', '--params-file',
             '--param', '--remap', '--enclave', '--enable-rosout-logs', '--disable-rosout-logs',
             '--enable-stdout-logs', '--disable-stdout-logs', '--enable-external-lib-logs',
             '--disable-external-lib-logs')


class StartupError(Exception):
    """A node cannot start (bad parameter, missing weights); its message is the one line shown."""


class ShutdownSignals:
    """
    SIGINT as one request to stop (see the module docstring for the steps around it).

    ``stopping`` is set by the first signal, or by the runner as the first statement of
    every exit path, before any call that could run a pending handler; from then on no
    signal does anything. ``building`` is true while the node is being built.
    """

    def __init__(self):
        self.stopping = False
        self.building = False
        # An inherited SIG_IGN (a background job of a shell) stays as it is.
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, self.on_sigint)

    def on_sigint(self, signum, frame):
        """Raise KeyboardInterrupt for the first signal while building; otherwise note it."""
        if not self.stopping:
            self.stopping = True
            if self.building:
                raise KeyboardInterrupt

    @staticmethod
    def ignore_from_now_on():
        """
        Ignore SIGINT at the OS level, for the rest of the process's exit.

        Python resets a handler of its own to the default while it finalises, and a
        signal arriving then would end the process by SIGINT (exit code -2).
        """
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def init_ros(args):
    """
    Call rclpy.init(args) without signal handlers; return None, or what is wrong with args.

    rcl logs an ERROR line of its own before raising for a malformed argument; the rcl
    logger is held at FATAL during init so that the caller's one line is all there is
    (a level given with --log-level rcl:=... still applies afterwards).
    """
    rcl_level = get_logger_level('rcl')
    set_logger_level('rcl', LoggingSeverity.FATAL)
    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    except UnknownROSArgsError as error:  # its text is the list of the unknown arguments
        unknown = ast.literal_eval(str(error))
        hints = [flag for flag in (word.replace('_', '-') for word in unknown)
                 if flag in ROS_FLAGS]
        return (f'unknown ROS arguments: {" ".join(unknown)}'
                + (f' (did you mean {hints[0]}?)' if hints else ''))
    except RCLError as error:  # e.g. a trailing -p with no value
        reason = str(error).strip().splitlines()[0].split(', at /')[0]
        return 'malformed ROS arguments: ' + reason.replace('failed to initialize rcl: ', '')
    finally:
        if get_logger_level('rcl') == LoggingSeverity.FATAL:
            set_logger_level('rcl', rcl_level)
    return None


def run_node(node_class, name, args=None, startup_errors=(StartupError,)):
    """
    Run ``node_class()`` until Ctrl-C or shutdown; return the process exit code.

    Malformed or unknown ROS arguments end the process with one FATAL line and code 2;
    an exception of ``startup_errors`` raised while the node is built, with one FATAL
    line and code 1. SIGINT at any time from here on ends it with 0 and no traceback,
    however many arrive and however close together (a terminal's Ctrl-C and a
    non-interactive `ros2 launch` both send one). The process should exit afterwards:
    SIGINT stays ignored.
    """
    signals = ShutdownSignals()
    node = None
    code = 0
    try:
        failure = init_ros(args)
        if failure is not None:
            signals.stopping = True
            print(f'[FATAL] [{name}]: {failure}', file=sys.stderr)
            return 2
        executor = SingleThreadedExecutor()
        install_signal_handlers(SignalHandlerOptions.ALL)
        signals.building = True
        if signals.stopping:  # a signal came before building began
            return 0
        try:
            node = node_class()
        except startup_errors as error:
            signals.stopping = True
            get_logger(name).fatal(str(error))
            code = 1
        else:
            signals.building = False
            executor.add_node(node)
            executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        signals.stopping = True
    except Exception:
        signals.stopping = True
        # Whatever was running when a signal shut the context down fails on it (e.g. a
        # callback publishing on the invalid context): that is the shutdown too.
        if rclpy.ok():
            raise
    finally:
        signals.stopping = True
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        signals.ignore_from_now_on()
    if node is None and threading.active_count() > 1:
        # The unfinished node left a thread running (loading the model), which nothing can
        # stop; Python finalising under a running torch thread aborts (exit code -6).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
