# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
How frames reach the node: decoding costs, and raw against compressed through ROS.

1. In this process, interleaved on the benchmark's 640x480 frame: converting the raw
   bgr8 message (a view), decoding the JPEG the compressed transport sends (and
   encoding it, the camera's side), and decoding a 640x480 compressedDepth image as
   PNG and as RVL.
2. Through ROS, three graphs of camera process -> node process: raw frames on Fast
   DDS's default settings, raw frames with the package's large-frame profile on both
   sides, and JPEG over the compressed transport on the default settings. In each,
   the camera streams at 30 Hz: frames per second that reach the node, and frames it
   was told were lost in transport; and, where frames arrive reliably, end-to-end
   latency of single frames (stamp to result, the camera's JPEG encoding included).
"""

import time

import numpy as np

from .graph import BenchGraph
from .stats import interleave, ratio, summarise, summarise_all

RAW_DEFAULT, RAW_LARGE, COMPRESSED = ('raw_default_dds', 'raw_large_frame_profile',
                                      'compressed_default_dds')


def bench_depth(width, height):
    """Return (H, W) uint16 millimetres: a tilted table, a box on it, a hole, a far edge."""
    rows, columns = np.mgrid[0:height, 0:width]
    depth = 700.0 + 1.5 * rows + 0.2 * columns
    depth[height // 3:height // 2, width // 4:width // 2] -= 120.0
    depth[:height // 10, :] = 0                     # no reading
    noise = np.random.default_rng(0).normal(0.0, 1.5, depth.shape)
    return np.where(depth > 0, depth + noise, 0).astype(np.uint16)


def decoding_sides(rgb, jpeg_quality):
    """Return interleave sides for the in-process costs of each transport's messages."""
    from vlm_perception.compressed import (compressed_depth_to_array,
                                           compressed_image_to_array, encode_depth,
                                           encode_image)
    from vlm_perception.conversion import array_to_image, image_to_array

    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    raw = array_to_image(bgr, 'bgr8')
    jpeg = encode_image(bgr, 'bgr8', 'jpeg', jpeg_quality=jpeg_quality)
    depth = bench_depth(bgr.shape[1], bgr.shape[0])
    png_depth, rvl_depth = (encode_depth(depth, '16UC1', codec) for codec in ('png', 'rvl'))

    def timed(name, call):
        def side():
            start = time.perf_counter()
            call()
            return {name: time.perf_counter() - start}
        return side

    return {
        'raw_conversion': timed('raw_conversion', lambda: image_to_array(raw)),
        'jpeg_decode': timed('jpeg_decode', lambda: compressed_image_to_array(jpeg)),
        'jpeg_encode': timed('jpeg_encode',
                             lambda: encode_image(bgr, 'bgr8', jpeg_quality=jpeg_quality)),
        'depth_png_decode': timed('depth_png_decode',
                                  lambda: compressed_depth_to_array(png_depth)),
        'depth_rvl_decode': timed('depth_rvl_decode',
                                  lambda: compressed_depth_to_array(rvl_depth)),
    }, {'raw_bytes': len(raw.data), 'jpeg_bytes': len(jpeg.data),
        'depth_raw_bytes': depth.nbytes, 'depth_png_bytes': len(png_depth.data),
        'depth_rvl_bytes': len(rvl_depth.data)}


def measure_transport(model, settings, workdir, say):
    """Run both parts on ``model`` (a BenchModel for the node); return the report entry."""
    from vlm_perception.local_graph import large_frame_transport, PROFILE_VARIABLES

    from .camera import bench_frame

    repetitions, warmup = settings['repetitions'], settings['warmup']
    quality = settings['jpeg_quality']
    say('transport: decoding costs in this process')
    sides, sizes = decoding_sides(bench_frame(settings['width'], settings['height']), quality)
    costs = {name: measures[name] for name, measures in summarise_all(
        interleave(sides, max(repetitions, 20), warmup)).items()}
    large_env, large = large_frame_transport(enabled=True)
    default = 'Fast DDS defaults (no profile: 512 KB shared-memory segment)'
    parameters = dict(settings['node_parameters'], model=model.folder,
                      device=settings['device'], precision=settings['precision'],
                      diagnostics_period=0.5)

    def graph(compressed=False, profile=False):
        return BenchGraph(
            dict(parameters, image_transport='compressed' if compressed else 'raw'),
            (settings['width'], settings['height']), settings['command'], workdir,
            threads=settings['threads'], transport_env=large_env if profile else {},
            unset=() if profile else PROFILE_VARIABLES,
            camera_arguments=('--transport', 'compressed' if compressed else 'raw',
                              '--jpeg-quality', str(quality)))

    def delivery(name, running):
        say(f'transport: {name}, {settings["transport_rate_hz"]:g} Hz for '
            f'{settings["transport_seconds"]:g} s')
        stream = running.overload(settings['transport_rate_hz'], settings['transport_seconds'],
                                  0.1)
        return {'frames_sent': stream['frames_sent'],
                'frames_received': stream['node_frames_received'],
                'frames_lost_in_transport': stream['node_frames_lost_in_transport'],
                'sent_fps': round(stream['frames_sent'] / stream['seconds'], 2),
                'delivered_fps': round(stream['node_frames_received'] / stream['seconds'], 2),
                'results_fps': stream['output_rate_hz']}

    cases = {}
    with graph() as running:
        cases[RAW_DEFAULT] = dict(delivery(RAW_DEFAULT, running), dds=default)
    # Both working transports up at once, so their single-frame latencies interleave.
    with graph(profile=True) as raw, graph(compressed=True) as compressed:
        say('transport: single frames, raw (large-frame profile) and compressed, interleaved')
        samples = interleave({RAW_LARGE: lambda: raw.round_trip(timeout=10.0),
                              COMPRESSED: lambda: compressed.round_trip(timeout=10.0)},
                             repetitions, warmup)
        for name, running, dds in ((RAW_LARGE, raw, large), (COMPRESSED, compressed, default)):
            cases[name] = dict(delivery(name, running), dds=dds,
                               end_to_end=summarise(samples[name]['end_to_end']),
                               frames_lost_and_resent=int(sum(samples[name]['lost'])))
    return {'model': model.key, 'jpeg_quality': quality, 'sizes': sizes, 'decode': costs,
            'rate_hz': settings['transport_rate_hz'], 'seconds': settings['transport_seconds'],
            'cases': cases,
            'compressed_over_raw_latency': ratio(_median(cases[COMPRESSED]),
                                                 _median(cases[RAW_LARGE]))}


def _median(found):
    return ((found or {}).get('end_to_end') or {}).get('median_ms')


def transport_lines(entry):
    """Return the table lines of a transport entry."""
    sizes = entry['sizes']
    lines = ['', f'transport: 640x480 frames, JPEG quality {entry["jpeg_quality"]} '
             f'({sizes["jpeg_bytes"] // 1024} KB against {sizes["raw_bytes"] // 1024} KB raw); '
             f'depth {sizes["depth_raw_bytes"] // 1024} KB raw, PNG '
             f'{sizes["depth_png_bytes"] // 1024} KB, RVL {sizes["depth_rvl_bytes"] // 1024} KB',
             '{:<44} {:>10} {:>10} {:>4}'.format('in this process', 'median ms', 'p95 ms', 'n')]
    for name, summary in entry['decode'].items():
        lines.append(f'{name:<44} {summary["median_ms"]:>10.2f} {summary["p95_ms"]:>10.2f} '
                     f'{summary["n"]:>4}')
    lines.append('{:<26} {:>6} {:>9} {:>6} {:>10} {:>12}'.format(
        f'through ROS, {entry["rate_hz"]:g} Hz', 'sent', 'delivered', 'lost',
        'fps in', 'latency ms'))
    for case, found in entry['cases'].items():
        lost = found['frames_lost_in_transport']
        lines.append('{:<26} {:>6} {:>9} {:>6} {:>10.1f} {:>12}'.format(
            case, found['frames_sent'], found['frames_received'],
            '-' if lost is None else lost, found['delivered_fps'],
            f'{_median(found):.1f}' if _median(found) else '-'))
    lines.append(f'{"compressed / raw end-to-end latency":<44} '
                 f'{entry["compressed_over_raw_latency"] or "-":>10}')
    return lines
