# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The ROS 2 side of the benchmark: camera process -> node process -> this process.

:class:`BenchGraph` starts the installed ``vlm_perception_node`` and the benchmark
camera (:mod:`vlm_perception.bench.camera`) as processes of their own, in a ROS
domain of their own (so other graphs on the machine neither disturb nor see it),
and listens here to the node's ``MultimodalFeatures`` and ``/diagnostics``.
``round_trip`` sends one frame and times it until its result arrives;
``detect_round_trip`` times one ~/detect request carrying a frame;
``overload`` streams frames at a camera's rate and records every result, the node's
counters and its resident memory.
"""

import os
import queue
import signal
import subprocess
import sys
import threading
import time

import numpy as np

from vlm_perception.local_graph import claim_ros_domain, installed_executable, write_params

from .stats import summarise

NODE_NAME = 'vlm_bench_node'
TOPICS = {'camera/image_raw': '/vlm_bench/image', 'command_text': '/vlm_bench/command',
          'camera/depth/image_raw': '/vlm_bench/depth', 'camera/camera_info': '/vlm_bench/info',
          'multimodal_features': '/vlm_bench/features'}
# Node counters read from /diagnostics before and after an overload run
# (frames_lost_in_transport is empty where the RMW cannot tell).
NODE_COUNTERS = ('frames_received', 'frames_processed', 'frames_dropped',
                 'frames_lost_in_transport')
# Domains the benchmark may take (the tests take 1..100); 232 is Fast DDS's highest.
DOMAINS = range(101, 233)


class GraphError(RuntimeError):
    """A process of the graph failed or did not answer in time; says which and why."""


MEMORY_FIELDS = {'VmRSS': 'rss', 'RssAnon': 'anon', 'RssFile': 'file'}


def memory_mb(pid):
    """
    Return the resident memory of process ``pid`` in MiB, or None once it is gone.

    {'rss': all, 'anon': anonymous (the heap: where a leak shows), 'file': file-backed
    (the memory-mapped weights, paged in as a forward touches them and out again under
    memory pressure)}.
    """
    found = {}
    try:
        with open(f'/proc/{pid}/status', encoding='ascii') as stream:
            for line in stream:
                key, _, value = line.partition(':')
                if key in MEMORY_FIELDS:
                    found[MEMORY_FIELDS[key]] = int(value.split()[0]) / 1024.0
    except OSError:
        return None
    return found if 'rss' in found else None


def node_command(params_file):
    """Return the command line of the installed node (what ``ros2 run`` starts)."""
    arguments = ['--ros-args', '--params-file', params_file, '-r', f'__node:={NODE_NAME}']
    for name, topic in TOPICS.items():
        arguments += ['-r', f'{name}:={topic}']
    try:
        executable = installed_executable('vlm_perception_node')
    except Exception:  # not installed by colcon: the same code, run as a module
        executable = None
    if executable and os.access(executable, os.X_OK):
        return [executable, *arguments]
    return [sys.executable, '-m', 'vlm_perception.node', *arguments]


class _Process:
    """A child process with its output in a log file, and stdin/stdout lines when asked."""

    def __init__(self, name, command, env, workdir, lines=False):
        self.name = name
        self.log_path = os.path.join(workdir, f'{name}.log')
        self._log = open(self.log_path, 'w')
        self._lines = queue.Queue()
        self.process = subprocess.Popen(
            command, env=env, stdin=subprocess.PIPE if lines else subprocess.DEVNULL,
            stdout=subprocess.PIPE if lines else self._log, stderr=self._log,
            text=True, bufsize=1)
        if lines:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self._lines.put(line.strip())
        self._lines.put(None)

    def send(self, line):
        """Write one command line to the process."""
        try:
            self.process.stdin.write(line + '\n')
            self.process.stdin.flush()
        except OSError as error:
            raise GraphError(f'{self.name} is gone ({error}):\n{self.tail()}') from None

    def answer(self, timeout):
        """Return the next line the process prints; GraphError after ``timeout`` s or EOF."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise GraphError(f'{self.name} did not answer within {timeout:g} s:\n'
                             f'{self.tail()}') from None
        if line is None:
            raise GraphError(f'{self.name} ended (exit code {self.process.wait()}):\n'
                             f'{self.tail()}')
        return line

    def tail(self, lines=15):
        """Return the last lines of the process's log."""
        self._log.flush()
        with open(self.log_path, encoding='utf-8', errors='replace') as stream:
            return ''.join(stream.readlines()[-lines:])

    def alive(self):
        """Return True while the process runs."""
        return self.process.poll() is None

    def stop(self, timeout=15.0):
        """End the process: SIGINT, then SIGKILL after ``timeout`` seconds; return its code."""
        if self.alive():
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


class _Listener:
    """This process's node: the command publisher and the results and diagnostics it gets."""

    def __init__(self, context):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from std_msgs.msg import String

        from vlm_perception.msg import MultimodalFeatures
        from vlm_perception.srv import Detect

        self.node = rclpy.create_node('vlm_bench_listener', context=context)
        self.detect = self.node.create_client(Detect, f'/{NODE_NAME}/detect')
        self._changed = threading.Condition()
        self.results = []           # (receive time ns, stamp ns, detections)
        self.diagnostics = None     # (receive time ns, {key: value}) of the node under test
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(MultimodalFeatures, TOPICS['multimodal_features'],
                                      self._on_features, reliable)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 10)
        self.commands = self.node.create_publisher(String, TOPICS['command_text'], reliable)
        self._string = String
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self._spinner = threading.Thread(target=self._spin, daemon=True)
        self._spinner.start()

    def _spin(self):
        from rclpy.executors import ExternalShutdownException
        try:
            self.executor.spin()
        except ExternalShutdownException:
            pass

    def _on_features(self, msg):
        received = time.time_ns()
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        with self._changed:
            self.results.append((received, stamp, len(msg.detected_objects)))
            self._changed.notify_all()

    def _on_diagnostics(self, msg):
        for status in msg.status:
            # '<node name, plain or fully qualified>: <what it is>'
            if status.name.partition(':')[0].rsplit('/', 1)[-1] == NODE_NAME:
                values = {item.key: item.value for item in status.values}
                with self._changed:
                    self.diagnostics = (time.time_ns(), values)
                    self._changed.notify_all()

    def wait(self, condition, timeout):
        """Wait until ``condition()`` (called under the lock) is truthy; return its value."""
        with self._changed:
            return self._changed.wait_for(condition, timeout)

    def send_command(self, text):
        """Publish ``text`` on the node's command topic."""
        self.commands.publish(self._string(data=text))

    def fresh_diagnostics(self, timeout):
        """Return the node's first /diagnostics values received after this call."""
        since = time.time_ns()
        found = self.wait(lambda: self.diagnostics and self.diagnostics[0] > since, timeout)
        if not found:
            raise GraphError(f'no /diagnostics from {NODE_NAME} within {timeout:g} s')
        return dict(self.diagnostics[1])

    def close(self):
        """Stop spinning and destroy the node."""
        self.executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()


class BenchGraph:
    """
    The node under test, the camera and this process's listener, in a private domain.

    Use as a context manager. ``parameters`` are the node's ROS parameters (model,
    device, precision, thresholds...); ``frame_size`` is (width, height).
    ``transport_env`` is set in every process's environment, and the variables named
    in ``unset`` are taken out of the child processes' (e.g. a Fast DDS profile);
    ``camera_arguments`` go to the camera (e.g. its transport). With ``depth`` the node
    runs with use_depth and the camera sends registered depth and camera_info with each
    frame. Graphs are independent: two can be open at once.
    """

    def __init__(self, parameters, frame_size, command, workdir, startup_timeout=300.0,
                 threads=None, transport_env=None, unset=(), camera_arguments=(), depth=False):
        self.parameters = dict(parameters, no_image_warning_period=0.0, use_depth=bool(depth))
        self.depth = bool(depth)
        self.frame_size = frame_size
        self.command = command
        self.workdir = workdir
        self.startup_timeout = startup_timeout
        self.threads = threads
        self.transport_env = dict(transport_env or {})
        self.unset = tuple(unset)
        self.camera_arguments = list(camera_arguments)
        self.node = self.camera = self.listener = None
        self._context = self._domain_lock = None

    def __enter__(self):
        import rclpy
        from rclpy.context import Context

        domain, self._domain_lock = claim_ros_domain(DOMAINS, 'vlm_perception_bench_domain')
        env = dict(os.environ, ROS_DOMAIN_ID=str(domain),
                   ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', PYTHONUNBUFFERED='1',
                   RCUTILS_COLORIZED_OUTPUT='0', HF_HUB_OFFLINE='1', **self.transport_env)
        for name in ('ROS_STATIC_PEERS', *self.unset):
            env.pop(name, None)
        if self.threads:
            env['OMP_NUM_THREADS'] = str(self.threads)
        # This process joins the same domain and transport: rclpy reads them when the
        # context starts.
        os.environ.update(ROS_DOMAIN_ID=env['ROS_DOMAIN_ID'],
                          ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', **self.transport_env)
        try:
            self._context = Context()
            rclpy.init(context=self._context)
            self.listener = _Listener(self._context)
            # Files of their own per graph: two graphs may share the work folder.
            tag = f'domain{domain}'
            params = write_params(os.path.join(self.workdir, f'node_params_{tag}.yaml'),
                                  self.parameters)
            self.node = _Process(f'vlm_perception_node_{tag}', node_command(params), env,
                                 self.workdir)
            width, height = self.frame_size
            depth = ['--depth-topic', TOPICS['camera/depth/image_raw'], '--camera-info-topic',
                     TOPICS['camera/camera_info']] if self.depth else []
            self.camera = _Process(
                f'camera_{tag}', [sys.executable, '-m', 'vlm_perception.bench.camera',
                                  '--topic', TOPICS['camera/image_raw'], '--width', str(width),
                                  '--height', str(height), *depth, *self.camera_arguments],
                env, self.workdir, lines=True)
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self):
        """Wait for the node and the camera, then put the command in force."""
        deadline = time.monotonic() + self.startup_timeout
        while self.listener.node.count_publishers(TOPICS['multimodal_features']) == 0 \
                or self.listener.commands.get_subscription_count() == 0:
            if not self.node.alive():
                raise GraphError(f'vlm_perception_node ended while starting:\n{self.node.tail()}')
            if time.monotonic() > deadline:
                raise GraphError(f'vlm_perception_node not up within {self.startup_timeout:g} s:'
                                 f'\n{self.node.tail()}')
            time.sleep(0.1)
        if self.camera.answer(timeout=max(1.0, deadline - time.monotonic())) != 'ready':
            raise GraphError(f'the camera did not start:\n{self.camera.tail()}')
        # The command subscription is volatile: resend until the node reports it in force.
        while True:
            self.listener.send_command(self.command)
            values = self.listener.fresh_diagnostics(timeout=30.0)
            if values.get('command') == self.command:
                return
            if time.monotonic() > deadline:
                raise GraphError(f'the node did not take the command:\n{self.node.tail()}')

    def __exit__(self, *exc):
        import rclpy
        for process in (self.camera, self.node):
            if process is not None:
                if process is self.camera and process.alive():
                    try:
                        process.send('quit')
                    except GraphError:
                        pass
                process.stop()
        if self.listener is not None:
            self.listener.close()
        if self._context is not None:
            rclpy.try_shutdown(context=self._context)
        if self._domain_lock is not None:
            self._domain_lock.close()
        return False

    @property
    def node_pid(self):
        """Return the process id of the node under test."""
        return self.node.process.pid

    def round_trip(self, timeout, retries=10):
        """
        Send one frame and wait for its result; return {'end_to_end': seconds, 'lost': n}.

        A frame lost on the way (the image QoS is best effort) is sent again, up to
        ``retries`` times, and counted in 'lost'.
        """
        for lost in range(retries + 1):
            self.camera.send('one')
            reply = self.camera.answer(timeout=30.0)
            if not reply.startswith('sent '):
                raise GraphError(f'camera: {reply}')
            stamp = int(reply.split()[1])
            match = self.listener.wait(
                lambda: next((r for r in reversed(self.listener.results) if r[1] == stamp),
                             None), timeout)
            if match:
                return {'end_to_end': (match[0] - stamp) * 1e-9, 'lost': float(lost)}
            if not self.node.alive():
                raise GraphError(f'vlm_perception_node ended:\n{self.node.tail()}')
        raise GraphError(f'no result for {retries + 1} frames in a row: frames are lost on the '
                         f'way (with Fast DDS, a 512 KB shared-memory segment loses frames '
                         f'larger than that; see --dds). The node said:\n{self.node.tail()}')

    def detect_round_trip(self, command, image, timeout):
        """Call the node's ~/detect with ``command`` and ``image``; return the seconds taken."""
        from vlm_perception.srv import Detect

        detect = self.listener.detect
        if not detect.wait_for_service(timeout_sec=30.0):
            raise GraphError(f'no ~/detect service on {NODE_NAME}:\n{self.node.tail()}')
        request = Detect.Request(command=command, image=image)
        answered = threading.Event()
        start = time.perf_counter()
        future = detect.call_async(request)
        future.add_done_callback(lambda _: answered.set())
        if not answered.wait(timeout):
            detect.remove_pending_request(future)
            raise GraphError(f'~/detect did not answer within {timeout:g} s:\n{self.node.tail()}')
        elapsed = time.perf_counter() - start
        response = future.result()
        if not response.success:
            raise GraphError(f'~/detect refused the benchmark request: {response.message}')
        return elapsed

    def stage_medians_ms(self):
        """Return the node's own per-stage medians (ms) from a fresh /diagnostics message."""
        from vlm_perception.node import STAGES

        values = self.listener.fresh_diagnostics(timeout=30.0)
        return {stage: float(values[f'{stage}_median_ms'])
                for stage in STAGES if values.get(f'{stage}_median_ms')}, values

    def overload(self, rate, seconds, period_s, memory_every=0.5):
        """
        Stream frames at ``rate`` Hz for ``seconds`` and measure how the node copes.

        period_s: the model's own time per frame. Returns a dict: camera frames sent and
        rate, results and output rate, latency summary (stamp to arrival here), the
        node's frames received, processed and dropped during the run, and its resident
        memory (MiB): at the stream's start, after a warm-up (max(5 s, 3 periods), at
        most half the run: the mapped weights are paged in by then), at the end, and
        the growth from the warm-up to the end, in all and for anonymous and
        file-backed memory apart.
        """
        before = self.listener.fresh_diagnostics(timeout=30.0)
        first_result = len(self.listener.results)
        samples = []  # (seconds since the stream began, memory_mb)
        stop = threading.Event()
        began = time.monotonic()

        def sample_memory():
            while not stop.is_set():
                found = memory_mb(self.node_pid)
                if found:
                    samples.append((time.monotonic() - began, found))
                stop.wait(memory_every)

        sampler = threading.Thread(target=sample_memory, daemon=True)
        sampler.start()
        self.camera.send(f'stream {rate} {seconds}')
        reply = self.camera.answer(timeout=seconds + 60.0).split()
        if reply[0] != 'streamed':
            raise GraphError(f'camera: {" ".join(reply)}')
        sent, elapsed, first_stamp = int(reply[1]), float(reply[2]), int(reply[3])
        # The frame in the worker and the one in the slot still finish: wait for quiet.
        quiet = max(2.0, 3.0 * period_s)
        while True:
            count = len(self.listener.results)
            time.sleep(quiet)
            if len(self.listener.results) == count:
                break
        after = self.listener.fresh_diagnostics(timeout=30.0)
        stop.set()
        sampler.join()
        results = [r for r in self.listener.results[first_result:] if r[1] >= first_stamp]
        latencies = [(received - stamp) * 1e-9 for received, stamp, _ in results]
        # Steady output rate: results after the first, over the time they took to come.
        span = (results[-1][0] - results[0][0]) * 1e-9 if len(results) > 1 else 0.0
        counters = {name: int(after[name]) - int(before[name]) if after.get(name) else None
                    for name in NODE_COUNTERS}
        found = {
            'rate_hz_asked': rate,
            'seconds': round(elapsed, 3),
            'frames_sent': sent,
            'input_rate_hz': round(sent / elapsed, 3) if elapsed else None,
            'results': len(results),
            'output_rate_hz': round((len(results) - 1) / span, 3) if span else None,
            'latency': summarise(latencies),
            'node_frames_received': counters['frames_received'],
            'node_frames_processed': counters['frames_processed'],
            'node_frames_dropped': counters['frames_dropped'],
            'node_frames_lost_in_transport': counters['frames_lost_in_transport'],
            'frames_lost_before_node': sent - counters['frames_received'],
            'frames_not_processed': sent - counters['frames_processed'],
        }
        found.update(_memory_report(samples, min(max(5.0, 3.0 * period_s), elapsed / 2)))
        return found


def _memory_report(samples, warmup_s):
    """Summarise (seconds, memory_mb) samples of one run (see BenchGraph.overload)."""
    if not samples:
        return {'memory_samples': 0}
    first, last = samples[0][1], samples[-1][1]
    warm = next((memory for t, memory in samples if t >= warmup_s), last)
    report = {
        'memory_samples': len(samples),
        'memory_warmup_s': round(warmup_s, 2),
        'rss_start_mb': _round(first['rss']),
        'rss_after_warmup_mb': _round(warm['rss']),
        'rss_end_mb': _round(last['rss']),
        'rss_max_mb': _round(max(memory['rss'] for _, memory in samples)),
        'rss_growth_mb': _round(last['rss'] - warm['rss']),
        'rss_growth_from_start_mb': _round(last['rss'] - first['rss']),
        'rss_slope_after_warmup_mb_per_min': _slope(
            [(t, memory['rss']) for t, memory in samples if t >= warmup_s]),
    }
    for kind in ('anon', 'file'):
        if kind in warm and kind in last:
            report[f'rss_{kind}_growth_mb'] = _round(last[kind] - warm[kind])
    return report


def _round(value, digits=2):
    return None if value is None else round(float(value), digits)


def _slope(points):
    """Least-squares slope of (seconds, MiB) points in MiB per minute, or None."""
    if len(points) < 3:
        return None
    times, values = np.asarray(points, dtype=np.float64).T
    return round(float(np.polyfit(times - times[0], values, 1)[0]) * 60.0, 3)
