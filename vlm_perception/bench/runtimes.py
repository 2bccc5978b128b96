# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Exported runtimes against our torch image path, side by side; and through ROS.

For one model: each variant (``openvino_int8``, ``onnxruntime_int8`` on the CPU; on CUDA
``torch_fp16``, ``onnxruntime_fp32``, ``onnxruntime_fp16``) is exported once with
``vlm-perception export`` (kept in the cache folder; tiny models in the work folder),
loaded through ``load_model`` and timed interleaved with the torch fp32 model on the same
frame and queries. Speed-ups are torch fp32's forward (the image path) over each
variant's; the detections of each are compared with torch fp32 on the CPU. Then the node
runs the OpenVINO folder (``runtime: openvino``) and its round trips are timed against
that runtime alone.
"""

import hashlib
import os
import shutil

import numpy as np

# variant -> (runtime, export format or None, int8, precision asked of load_model)
VARIANTS = {
    'openvino_int8': ('openvino', 'openvino', True, 'auto'),
    'onnxruntime_int8': ('onnxruntime', 'onnx', True, 'auto'),
    'openvino_fp32': ('openvino', 'openvino', False, 'auto'),
    'onnxruntime_fp32': ('onnxruntime', 'onnx', False, 'auto'),
    'onnxruntime_fp16': ('onnxruntime', 'onnx', False, 'fp16'),   # TensorRT's fp16
    'torch_fp16': ('torch', None, False, 'fp16'),
}
CPU_VARIANTS = ('openvino_int8', 'onnxruntime_int8')
CUDA_VARIANTS = ('torch_fp16', 'onnxruntime_fp32', 'onnxruntime_fp16')
# Detections of a variant match torch fp32's when their boxes are this close (p95).
BOX_TARGET_PX = 4.0


def _fingerprint(folder):
    """Return a short hash of a folder's files (names, sizes, times): its exports' cache key."""
    digest = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            stat = os.stat(path)
            digest.update(f'{name}:{stat.st_size}:{int(stat.st_mtime)};'.encode())
    return digest.hexdigest()[:12]


def _code_hash(module):
    """Return a short hash of a module's source file."""
    with open(module.__file__, 'rb') as stream:
        return hashlib.sha256(stream.read()).hexdigest()[:8]


def exported_folder(model, fmt, int8, frame_size, cache_dir, workdir, say):
    """
    Return an export of ``model`` (a BenchModel) for ``fmt``, building it when missing.

    Only for the benchmark's ``frame_size`` (width, height). Models in ``workdir`` (tiny
    stand-ins) are exported there, calibrated on 4 frames; others once into
    ``cache_dir`` with the default calibration, keyed by the model folder's fingerprint,
    the frame size and the export code (a change to it exports again).
    """
    from vlm_perception.model import export
    from vlm_perception.model.export import DEFAULT_CALIBRATION_FRAMES, export_model

    name = f'{model.key}-{fmt}-{"int8" if int8 else "fp32"}-{frame_size[0]}x{frame_size[1]}'
    tiny = os.path.abspath(model.folder).startswith(os.path.abspath(workdir))
    if tiny:
        folder = os.path.join(workdir, 'exports', name)
    else:
        folder = os.path.join(cache_dir, 'exports',
                              f'{name}-{_fingerprint(model.folder)}-{_code_hash(export)}')
    if not os.path.isfile(os.path.join(folder, 'export.json')):
        say(f'{model.key}: exporting for {fmt}{" int8" if int8 else ""} into {folder}')
        shutil.rmtree(folder, ignore_errors=True)
        export_model(model.folder, folder, fmt, int8, frame_sizes=(frame_size,),
                     calibration_frames_count=4 if tiny else DEFAULT_CALIBRATION_FRAMES)
    return folder


def load_variants(model, names, settings, workdir, say, model_settings):
    """Return {variant: Detector} for ``names`` (see VARIANTS), each loaded as users do."""
    from vlm_perception.model import load_model

    detectors = {}
    for name in names:
        runtime, fmt, int8, precision = VARIANTS[name]
        folder = model.folder if fmt is None else exported_folder(
            model, fmt, int8, (settings['width'], settings['height']), settings['cache_dir'],
            workdir, say)
        detectors[name] = load_model(folder, device=settings['device'], precision=precision,
                                     runtime=runtime, **model_settings)
        detectors[name].exact_timings = True
    return detectors


def matched_box_errors(found, reference, iou_threshold=0.5):
    """
    Match a variant's detections to torch fp32's and say how far the matched boxes are.

    found, reference: DetectionResults of one frame. A detection matches a reference one
    of the same query that it overlaps by IoU >= ``iou_threshold`` (greedy, best score
    first, as the evaluation matches ground truth). Returns the counts, the share of the
    reference's detections matched, and over the matched pairs the largest coordinate
    difference in pixels ({'median', 'p95', 'max'}) and the score difference.
    """
    from vlm_perception.training.metrics import match_ground_truth

    from .inprocess import _spread as spread
    errors, score_errors, matched = [], [], 0
    for label in np.unique(reference.query_indices):
        mine = np.flatnonzero(found.query_indices == label)
        theirs = np.flatnonzero(reference.query_indices == label)
        pairs = match_ground_truth(found.boxes[mine], found.scores[mine],
                                   reference.boxes[theirs], iou_threshold)
        for index, partner in zip(mine, pairs):
            if partner >= 0:
                other = theirs[partner]
                matched += 1
                errors.append(float(np.abs(found.boxes[index]
                                           - reference.boxes[other]).max()))
                score_errors.append(abs(float(found.scores[index])
                                        - float(reference.scores[other])))
    total = len(reference.scores)
    return {'detections': len(found.scores), 'reference': total, 'matched': matched,
            'matched_share': round(matched / total, 4) if total else None,
            'box_error_px': spread(errors, 3), 'score_error': spread(score_errors, 5)}


def every_detection(detector, image, queries):
    """
    Return ``detector``'s detections of ``image`` without NMS or a count limit.

    Every patch above the model's own threshold, as transformers' post-processing lists
    them: the most boxes to compare, none swapped in or out at a count limit.
    """
    kept = detector.nms_iou, detector.max_detections
    detector.nms_iou, detector.max_detections = 1.0, 1_000_000
    try:
        return detector.infer(image, queries, channel_order='bgr')
    finally:
        detector.nms_iou, detector.max_detections = kept


def measure_runtimes(model, detector, reference, image, queries, settings, workdir, say,
                     interleave_sides, model_settings):
    """
    Time torch fp32 (``detector``) and every variant interleaved; compare detections.

    reference: a CPU torch fp32 Detector for the detections (``detector`` itself on the
    CPU). interleave_sides(sides) runs the sides and returns summaries. Returns the
    report entry (per-variant summaries, speed-ups over torch fp32 for forward and
    infer, the matched detections' distance from torch fp32 on the CPU: see
    :func:`matched_box_errors`) and the variants' Detectors.
    """
    from .inprocess import model_alone_side

    names = settings['runtime_variants']
    detectors = load_variants(model, names, settings, workdir, say, model_settings)
    sides = {'torch_fp32': model_alone_side(detector, image, queries, 'bgr')}
    sides.update({name: model_alone_side(found, image, queries, 'bgr')
                  for name, found in detectors.items()})
    summaries = interleave_sides(sides)
    want = every_detection(reference, image, queries)
    entry = {'variants': {}, 'box_target_px': BOX_TARGET_PX}
    torch_forward = summaries['torch_fp32']['forward']['median_ms']
    torch_infer = summaries['torch_fp32']['infer']['median_ms']
    entry['torch_fp32'] = summaries['torch_fp32']
    for name, found in detectors.items():
        summary = summaries[name]
        entry['variants'][name] = {
            'runtime': found.runtime, 'precision': found.precision, 'folder': found.model_id,
            'timings': summary,
            'speedup_forward': _ratio(torch_forward, summary['forward']['median_ms']),
            'speedup_infer': _ratio(torch_infer, summary['infer']['median_ms']),
            'agreement_with_torch_fp32_cpu': matched_box_errors(
                every_detection(found, image, queries), want),
        }
    return entry, detectors


def _ratio(numerator, denominator):
    if not numerator or not denominator:
        return None
    return round(float(numerator) / float(denominator), 3)


def gpu_variants(available_providers):
    """
    Return the CUDA variants this machine can run, for ``scripts/gpu_check.sh``.

    available_providers: onnxruntime's (an empty list when onnxruntime is missing).
    torch fp16 always; ONNX Runtime fp32 where onnxruntime-gpu brings CUDA (TensorRT's
    fp32 where TensorRT is there too); TensorRT fp16 only where TensorRT is.
    """
    from vlm_perception.model.runtimes import CUDA, TENSORRT
    names = ['torch_fp16']
    if CUDA in available_providers:
        names.append('onnxruntime_fp32')
        if TENSORRT in available_providers:
            names.append('onnxruntime_fp16')
    return names


def main(argv=None):
    """Print the comma-separated CUDA variants for this machine (gpu_check.sh asks)."""
    try:
        import onnxruntime
        available = onnxruntime.get_available_providers()
    except ImportError:
        available = []
    print(','.join(gpu_variants(available)))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
