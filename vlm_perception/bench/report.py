# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
What the benchmark reports: the machine, the headline numbers with their targets, a table.

The headline numbers (top-level JSON keys, named as the issue names them) come from
the OWL-ViT-B/32-sized model; every model's detailed figures stay under 'models'.
"""

import os
import platform
import time

# Top-level key -> (what it is, target as text, test of the value).
TARGETS = {
    'ros_over_model': ('end-to-end through ROS / model forward', '<= 1.10',
                       lambda value: value <= 1.10),
    'speedup_vs_transformers': ('transformers pipeline fp32 / ours fp32, same weights',
                                '>= 1.5',
                                lambda value: value >= 1.5),
    'speedup_openvino_int8_vs_torch_fp32': ('torch fp32 forward / OpenVINO int8 forward',
                                            '>= 2.5', lambda value: value >= 2.5),
    'speedup_onnxruntime_int8_vs_torch_fp32': ('torch fp32 forward / ONNX Runtime int8 '
                                               'forward', '>= 2.0', lambda value: value >= 2.0),
    'box_p95_px_openvino_int8': ('OpenVINO int8 boxes from torch fp32, p95 px', '<= 4',
                                 lambda value: value <= 4.0),
    'box_p95_px_onnxruntime_int8': ('ONNX Runtime int8 boxes from torch fp32, p95 px', '<= 4',
                                    lambda value: value <= 4.0),
    'ros_over_openvino': ('end-to-end through ROS, runtime openvino / its forward', '<= 1.10',
                          lambda value: value <= 1.10),
    'overload_latency_p95_over_period': ('overload latency p95 / model period', '<= 2.0',
                                         lambda value: value <= 2.0),
    'overload_rss_growth_mb': ('node resident memory growth, overload warm-up to end', '< 5',
                               lambda value: value < 5.0),
    'service_over_model': ('~/detect round trip / model alone infer, same frame', '<= 1.15',
                           lambda value: value <= 1.15),
    'depth_stage_median_ms': ('3D from depth, 640x480 frame, 20 detections (ms)', '<= 2',
                              lambda value: value <= 2.0),
}
CPU_FLAGS = ('avx2', 'avx512f', 'avx512_vnni', 'avx512_bf16', 'amx_bf16', 'amx_int8')


def _cpu_info():
    """Return (model name, flags) from /proc/cpuinfo (Linux), else the platform's name."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        with open('/proc/cpuinfo', encoding='utf-8', errors='replace') as stream:
            for line in stream:
                key, _, value = line.partition(':')
                if key.strip() == 'model name':
                    name = value.strip()
                elif key.strip() == 'flags':
                    flags = set(value.split())
                if name and flags:
                    break
    except OSError:
        pass
    return name, flags


def describe_machine(device):
    """Return a JSON-ready description of the machine, the libraries and ``device``."""
    import torch
    import transformers

    name, flags = _cpu_info()
    device = torch.device(device)
    memory = None
    try:
        memory = round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    machine = {
        'cpu': name,
        'cpu_flags': [flag for flag in CPU_FLAGS if flag in flags],
        'logical_cores': os.cpu_count(),
        'usable_cores': len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity')
        else os.cpu_count(),
        'memory_gib': memory,
        'torch': torch.__version__,
        'torch_threads': torch.get_num_threads(),
        'torch_cpu_capability': torch.backends.cpu.get_cpu_capability(),
        'transformers': transformers.__version__,
        'python': platform.python_version(),
        'rmw': os.environ.get('RMW_IMPLEMENTATION', 'default'),
        'device': str(device),
    }
    if device.type == 'cuda':
        machine['gpu'] = torch.cuda.get_device_name(device)
    return machine


def _cpu_ticks():
    """Return {pid: (user + system ticks, command)} of every readable process."""
    ticks = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat', encoding='ascii', errors='replace') as stream:
                fields = stream.read().rpartition(')')[2].split()
            with open(f'/proc/{entry}/cmdline', 'rb') as stream:
                command = stream.read().replace(b'\0', b' ').decode(errors='replace').strip()
        except OSError:
            continue
        ticks[int(entry)] = (int(fields[11]) + int(fields[12]), command)
    return ticks


def busy_processes(seconds=1.0, min_share=0.2):
    """
    Return the other processes using at least ``min_share`` of a core over ``seconds``.

    Each as {'pid', 'cpu_share', 'command'} (command cut to 120 characters), busiest
    first; empty where /proc is not readable. Timing results are only comparable
    between runs on an otherwise idle machine, so the report says what else ran.
    """
    if not os.path.isdir('/proc'):
        return []
    hertz = os.sysconf('SC_CLK_TCK')
    before = _cpu_ticks()
    time.sleep(seconds)
    after = _cpu_ticks()
    busy = []
    for pid, (ticks, command) in after.items():
        if pid == os.getpid() or pid not in before:
            continue
        share = (ticks - before[pid][0]) / hertz / seconds
        if share >= min_share:
            busy.append({'pid': pid, 'cpu_share': round(share, 2), 'command': command[:120]})
    return sorted(busy, key=lambda item: -item['cpu_share'])


def targets(headline):
    """Return {key: {'what', 'target', 'value', 'met'}} for the headline numbers."""
    checked = {}
    for key, (what, target, test) in TARGETS.items():
        value = headline.get(key)
        checked[key] = {'what': what, 'target': target, 'value': value,
                        'met': None if value is None else bool(test(value))}
    return checked


def agreement_line(what, found):
    """Say in one line how far two sides' detections are apart (see compare_detections)."""
    if found['box_error_px'] is None:
        return f'{what}: no detections to compare'
    return (f'{what}: {found["ours"]} / {found["theirs"]} detections, {found["matched"]} '
            f'matched within {found["tolerance"]["box_px"]:g} px and '
            f'{found["tolerance"]["score"]:g}; paired boxes '
            f'within {found["box_error_px"]["max"]:.2f} px (p95 '
            f'{found["box_error_px"]["p95"]:.2f}), scores within '
            f'{found["score_error"]["max"]:.3f}, {found["label_changes"]} best-query changes')


def _ms(summary):
    if not summary or summary.get('median_ms') is None:
        return '-', '-', '-'
    return (f'{summary["median_ms"]:.1f}', f'{summary["p95_ms"]:.1f}', str(summary['n']))


def _number(value, digits=3):
    return '-' if value is None else f'{value:.{digits}g}' if isinstance(value, float) \
        else str(value)


def table(report):
    """Format the report as the plain-text table the command prints."""
    machine, settings = report['machine'], report['settings']
    lines = [
        f'vlm-perception bench: {machine["cpu"]}, {machine["usable_cores"]} cores, '
        f'torch {machine["torch"]} ({machine["torch_threads"]} threads), '
        f'device {machine["device"]}, precision {settings["precision"]}',
        f'{settings["repetitions"]} interleaved repetitions after {settings["warmup"]} '
        f'warm-up; frame {settings["width"]}x{settings["height"]} bgr8; queries '
        f'{settings["queries"]}',
    ]
    busy = report.get('busy_processes', []) + report.get('busy_processes_after', []) + [
        process for entry in report['models'].values()
        for process in entry.get('busy_processes', [])]
    if busy:
        lines.append('other busy processes (numbers not comparable): ' + '; '.join(
            f'{p["command"][:60]} ({p["cpu_share"]:.0%})' for p in busy))
    row = '{:<16} {:<44} {:>10} {:>10} {:>4}'
    stage = report.get('depth_stage')
    if stage:
        lines += ['', row.format('depth', 'measurement', 'median ms', 'p95 ms', 'n'),
                  row.format('', f'3D from depth alone, {stage["frame"]}, '
                             f'{stage["detections"]} boxes', *_ms(stage))]
    for key, entry in report['models'].items():
        lines += ['', f'{key}: {entry["description"]}',
                  row.format('model', 'measurement', 'median ms', 'p95 ms', 'n')]
        for label, summary in _rows(entry):
            lines.append(row.format(key, label, *_ms(summary)))
        for label, value in _ratios(entry):
            lines.append(f'{"":<16} {label:<44} {_number(value):>10}')
        for label, found in (entry.get('transformers') or {}).get('agreement', {}).items():
            lines.append(f'{"":<16} {agreement_line(label, found)}')
    lines += ['', 'headline ({} model)'.format(report.get('headline_model')),
              '{:<34} {:>10} {:>10}  {}'.format('number', 'value', 'target', 'met')]
    for key, item in report['targets'].items():
        met = '-' if item['met'] is None else ('yes' if item['met'] else 'NO')
        lines.append(f'{key:<34} {_number(item["value"]):>10} {item["target"]:>10}  {met}')
    for key in ('ros_over_node_forward', 'service_over_node_forward', 'depth_on_over_off',
                'text_cache_speedup'):
        lines.append(f'{key:<34} {_number(report.get(key)):>10}')
    for key in ('speedup_vs_transformers_processor', 'speedup_vs_transformers_best'):
        if report.get(key) is not None:
            lines.append(f'{key:<34} {_number(report[key]):>10}  '
                         f'{report.get(key + "_label", "")}')
    if report.get('transport'):
        from .transport import transport_lines

        lines += transport_lines(report['transport'])
    return '\n'.join(lines)


def _rows(entry):
    """(label, summary) rows of one model's timings."""
    alone = entry.get('model_alone') or {}
    for measure in ('infer', 'preprocess', 'text', 'forward', 'postprocess'):
        if measure in alone:
            yield f'model alone: {measure}', alone[measure]
    ros = entry.get('ros') or {}
    if ros:
        yield 'through ROS: end to end', ros['end_to_end']
        for stage, value in ros.get('node_stage_medians_ms', {}).items():
            yield f'  node {stage} (median)', {'median_ms': value, 'p95_ms': value, 'n': '-'}
        for key, label in (('node_latency_median_ms', 'node latency, hand-over to published'),
                           ('node_handoff_ms', 'node latency minus its stages'),
                           ('outside_node_ms', 'end to end minus node latency (DDS)')):
            if ros.get(key) is not None:
                yield f'  {label}', {'median_ms': ros[key], 'p95_ms': ros[key], 'n': '-'}
    service = entry.get('service') or {}
    if service:
        yield 'through ~/detect: round trip', service['round_trip']
        yield '  model alone beside it: infer', service['model_alone']['infer']
    depth = entry.get('depth') or {}
    if depth:
        yield 'through ROS, use_depth off', depth['end_to_end_off']
        yield 'through ROS, use_depth on', depth['end_to_end_on']
        value = depth.get('node_depth_median_ms')
        yield '  node depth (median)', {'median_ms': value, 'p95_ms': value, 'n': '-'}
    runtimes = entry.get('runtimes') or {}
    if runtimes:
        yield 'runtimes: torch_fp32 forward', runtimes['torch_fp32']['forward']
        for name, variant in runtimes['variants'].items():
            yield f'runtimes: {name} forward', variant['timings']['forward']
            yield f'runtimes: {name} infer', variant['timings']['infer']
        ros_openvino = (runtimes.get('ros_openvino_int8') or {}).get('ros')
        if ros_openvino:
            yield 'through ROS, runtime openvino: end to end', ros_openvino['end_to_end']
    for side, summary in (entry.get('transformers') or {}).get('frame', {}).items():
        yield f'per frame: {side}', summary
    cache = entry.get('text_cache') or {}
    for side in ('cache_on', 'cache_off'):
        if side in cache:
            yield f'text {side.replace("_", " ")}: infer', cache[side]
    overload = entry.get('overload') or {}
    if overload:
        yield (f'overload {overload["rate_hz_asked"]:g} Hz, {overload["seconds"]:.0f} s: '
               'latency'), overload['latency']


def _ratios(entry):
    """(label, value) lines of one model's ratios and counts."""
    ros = entry.get('ros') or {}
    if ros:
        yield 'ROS end to end / model forward', ros.get('over_forward')
        yield 'ROS end to end / model infer', ros.get('over_infer')
        yield 'ROS end to end / forward inside the node', ros.get('over_node_forward')
    depth = entry.get('depth') or {}
    if depth:
        yield 'end to end, use_depth on / off', depth.get('on_over_off')
    service = entry.get('service') or {}
    if service:
        yield '~/detect round trip / model infer', service.get('over_infer')
        yield '~/detect round trip / model forward', service.get('over_forward')
        yield '~/detect round trip / forward inside the node', service.get('over_node_forward')
    runtimes = entry.get('runtimes') or {}
    for name, variant in runtimes.get('variants', {}).items():
        yield f'speed-up {name} vs torch_fp32 (forward)', variant['speedup_forward']
        found = variant['agreement_with_torch_fp32_cpu']
        yield f'{name}: detections matched to torch fp32 (share)', found['matched_share']
        yield f'{name}: matched boxes from torch fp32, p95 px', (
            found['box_error_px'] or {}).get('p95')
    ros_openvino = (runtimes.get('ros_openvino_int8') or {}).get('ros')
    if ros_openvino:
        yield 'ROS end to end (openvino) / its forward', ros_openvino.get('over_forward')
    comparison = entry.get('transformers') or {}
    for label, value in comparison.get('speedups', {}).items():
        yield f'speed-up {label}', value
    cache = entry.get('text_cache') or {}
    if cache:
        yield 'text cache speed-up (off / on)', cache.get('speedup')
    overload = entry.get('overload') or {}
    if overload:
        for key in ('input_rate_hz', 'output_rate_hz', 'latency_p95_over_period',
                    'frames_sent', 'node_frames_dropped', 'frames_lost_before_node',
                    'rss_start_mb', 'rss_after_warmup_mb', 'rss_end_mb', 'rss_growth_mb',
                    'rss_anon_growth_mb', 'rss_growth_from_start_mb'):
            yield f'overload {key}', overload.get(key)
