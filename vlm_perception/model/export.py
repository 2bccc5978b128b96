# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
``vlm-perception export``: the image path of a model for OpenVINO or ONNX Runtime.

The image path is what a backend's ``image_path`` module computes per frame (see
:class:`~vlm_perception.model.detector.NativeImagePath` and
:class:`~vlm_perception.model.owl.OwlImagePath`): the image encoder, for the native model
the fusion stage (queries attend to the image), and the heads, with the query embeddings
as an input of dynamic length. It is traced with the TorchScript ONNX exporter at opset
17 (what TensorRT's parser takes), one graph per model input size: OWL models take one
square input; the native model's input follows the frame's aspect ratio, so by default it
is exported for the tabletop world's frame sizes (4:3, 16:9, 3:2 and 1:1: four inputs).

* ``--format onnx``: ONNX Runtime; ``--int8`` quantises MatMul weights to signed int8 and
  activations dynamically (per frame, no calibration; signed weights take the VNNI path).
* ``--format openvino``: OpenVINO IR converted from that ONNX graph, fp32 weights;
  ``--int8`` quantises it with NNCF (transformer preset, SmoothQuant off) on calibration
  frames: images from ``--calibration DIR``, by default scenes of the tabletop world,
  each with tabletop queries.

The folder also keeps the model's torch side (config, tokenizer, text encoder), so
``load_model(folder)`` and the node run it as they are and the text cache keeps working;
``export.json`` records the runtime, the graphs and how they were made.
"""

from contextlib import contextmanager
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings

import numpy as np
import torch

from .errors import ModelLoadError
from .image import upload_image
from .runtimes import EXPORT_FILE, EXPORT_FORMAT, import_runtime, INPUT_NAMES, OUTPUT_NAMES
from .runtimes import size_key

FORMATS = {'onnx': 'onnxruntime', 'openvino': 'openvino'}
OPSET = 17
CALIBRATION_SEED = 31
DEFAULT_CALIBRATION_FRAMES = 32
IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.ppm', '.pgm', '.tif', '.tiff', '.webp')


def trace_onnx(image_path, pixel_values, text_embeds, path):
    """
    Export an image-path module to ONNX at ``path``: opset 17, static image, dynamic Q.

    pixel_values (1, 3, H, W) and text_embeds (Q, D_t) are example inputs (Q >= 2, so no
    broadcast of a single query is baked in).
    """
    dynamic = {'text_embeds': {0: 'num_queries'}, 'logits': {1: 'num_queries'},
               'fused': {0: 'num_queries'}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter('ignore')  # tracer warnings on shape arithmetic, all static here
        torch.onnx.export(image_path, (pixel_values, text_embeds), path, dynamo=False,
                          opset_version=OPSET, input_names=list(INPUT_NAMES),
                          output_names=list(OUTPUT_NAMES), dynamic_axes=dynamic,
                          do_constant_folding=True)
    return path


@contextmanager
def static_positions(detector, height, width):
    """
    Trace the native model's positional embeddings for one input size as a constant.

    For inputs other than the trained size they are a bicubic interpolation of the learned
    ones: in a graph of static size that is a constant, and as a bicubic Resize it would
    keep TensorRT's parser (which takes nearest and linear only) from the graph.
    """
    if detector.backend != 'native':
        yield
        return
    vision = detector._backend.model.vision
    patch = detector._backend.model.config.patch_size
    with torch.no_grad():
        fixed = vision.positions((height // patch, width // patch)).detach().clone()
    vision.positions = lambda grid: fixed
    try:
        yield
    finally:
        del vision.positions   # the method again


def quantize_onnx(source, target):
    """
    Quantise an ONNX graph for ONNX Runtime on the CPU: dynamic int8, signed weights.

    MatMul and Gemm weights become int8 per output channel, activations are quantised per
    frame; unsigned weights would miss the VNNI kernels (2x slower, measured).
    """
    import_runtime('onnxruntime')
    from onnxruntime.quantization import quant_pre_process, quantize_dynamic, QuantType
    with tempfile.TemporaryDirectory(prefix='vlm_quant_') as scratch:
        prepared = os.path.join(scratch, 'prepared.onnx')
        quant_pre_process(source, prepared, skip_symbolic_shape=True)
        quantize_dynamic(prepared, target, weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=['MatMul', 'Gemm'])
    return target


# Layers NNCF leaves in fp32: the detection heads (native and OWL names as traced). They
# are a few percent of the work, and the score of every patch and query runs through them.
FP32_LAYERS = ('class_embed', 'logit_shift', 'logit_scale', 'box_head', 'class_head')


def quantize_openvino(model, samples, fp32_layers=FP32_LAYERS):
    """
    Quantise an OpenVINO model with NNCF on calibration ``samples``; return the new model.

    samples: list of (pixel_values, text_embeds) numpy pairs. The transformer preset keeps
    softmax, layer norms and the attention's own inputs in fp32; layers whose names
    contain one of ``fp32_layers`` stay fp32. SmoothQuant, which the preset turns on, is
    off: on the shipped model it shifted every score down (mean logit -0.31 on commands
    for absent objects, a third fewer of them over the calibrated threshold), without it
    the shift is +0.007.
    """
    nncf = import_runtime('nncf')
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.advanced_parameters import AdvancedSmoothQuantParameters
    nncf.set_log_level(logging.WARNING)   # not a line per layer it leaves alone
    dataset = nncf.Dataset(samples, lambda sample: {INPUT_NAMES[0]: sample[0],
                                                    INPUT_NAMES[1]: sample[1]})
    ignored = nncf.IgnoredScope(patterns=[f'.*/{name}/.*' for name in fp32_layers],
                                validate=False) if fp32_layers else None
    no_smooth_quant = AdvancedQuantizationParameters(
        smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=-1))
    return nncf.quantize(model, dataset, model_type=nncf.ModelType.TRANSFORMER,
                         subset_size=len(samples), ignored_scope=ignored,
                         advanced_parameters=no_smooth_quant)


def read_images(folder):
    """Return the RGB uint8 images of ``folder`` (sorted by name); ValueError when none."""
    import cv2
    names = sorted(name for name in os.listdir(folder)
                   if name.lower().endswith(IMAGE_EXTENSIONS))
    images = []
    for name in names:
        image = cv2.imread(os.path.join(folder, name), cv2.IMREAD_COLOR)
        if image is not None:
            images.append(np.ascontiguousarray(image[:, :, ::-1]))
    if not images:
        raise ValueError(f'no readable images in {folder}')
    return images


def calibration_frames(frame_size, count, folder=None, seed=CALIBRATION_SEED):
    """
    Return ``count`` (RGB image, queries) pairs of ``frame_size`` (width, height).

    Images from ``folder`` (resized to the frame size, repeated when there are fewer), by
    default tabletop scenes; each is asked about what it holds (for scenes) and about
    three other colour-shape phrases, as a command would be.
    """
    import cv2

    from vlm_perception.world import COLOURS, make_phrase, SceneGenerator, SHAPES
    width, height = frame_size
    rng = np.random.default_rng(seed)
    images = read_images(folder) if folder else None
    scenes = SceneGenerator(seed=seed, sizes=(frame_size,), split='train')
    frames = []
    for index in range(count):
        if images is None:
            scene = scenes.generate(index)
            image = scene.image
            queries = [make_phrase(rng, obj.colour, obj.shape) for obj in scene.objects]
        else:
            image = cv2.resize(images[index % len(images)], (width, height),
                               interpolation=cv2.INTER_AREA)
            queries = []
        queries += [make_phrase(rng, str(rng.choice(list(COLOURS))), str(rng.choice(list(SHAPES))))
                    for _ in range(3)]
        frames.append((image, list(dict.fromkeys(queries))))
    return frames


def input_sizes(detector, frame_sizes):
    """
    Return {(height, width) of the model input: the first (width, height) frame giving it}.

    OWL models have one square input; the native model's follows each frame's aspect.
    """
    engine = detector._backend
    sizes = {}
    for width, height in frame_sizes:
        if detector.backend == 'native':
            geometry = engine.model.input_geometry(height, width)
            key = (geometry.input_height, geometry.input_width)
        else:
            key = (engine.input_size, engine.input_size)
        sizes.setdefault(key, (width, height))
    return sizes


def model_inputs(detector, frames):
    """Turn (RGB image, queries) pairs into (pixel_values, text_embeds) numpy pairs."""
    engine = detector._backend
    samples = []
    with torch.inference_mode():
        for image, queries in frames:
            pixel_values, _ = engine.prepare(upload_image(image, detector.device), 'rgb')
            text_embeds = detector.encode_queries(queries)
            samples.append((pixel_values.float().numpy(), text_embeds.float().numpy()))
    return samples


def save_torch_side(detector, folder):
    """Write the model's torch files (config, tokenizer, text encoder) into ``folder``."""
    engine = detector._backend
    if detector.backend == 'native':
        engine.model.save_pretrained(folder)  # 9 MB for the shipped model: kept whole
    else:
        from .owl import save_torch_side as save_owl
        save_owl(engine, folder)


def _versions(fmt):
    import onnx
    versions = {'torch': torch.__version__, 'onnx': onnx.__version__}
    module = import_runtime(FORMATS[fmt])
    versions[FORMATS[fmt]] = module.__version__
    return versions


def export_model(model=None, out=None, fmt='openvino', int8=False, calibration=None,
                 frame_sizes=None, calibration_frames_count=DEFAULT_CALIBRATION_FRAMES,
                 log=None):
    """
    Export ``model`` (None: the shipped one) into the new folder ``out``; return export.json.

    fmt: 'onnx' (ONNX Runtime) or 'openvino'; int8: quantise (see the module docstring);
    calibration: a folder of images for OpenVINO's int8 calibration (default: tabletop
    scenes); frame_sizes: (width, height) frames the native model must take (default: the
    tabletop world's sizes). ``out`` is written in a temporary sibling and renamed, so a
    failed export leaves nothing behind; it must not exist yet (or be empty).
    """
    from vlm_perception.world import DEFAULT_SIZES

    from .detector import load_model
    if fmt not in FORMATS:
        raise ValueError(f'format must be one of {", ".join(FORMATS)}, not {fmt!r}')
    if not out:
        raise ValueError('an output folder is needed (--out DIR)')
    out = os.path.abspath(os.path.expanduser(out))
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise ValueError(f'{out} already exists; choose a new folder')
    say = log or (lambda text: None)
    runtime = FORMATS[fmt]
    import_runtime(runtime)
    if fmt == 'openvino' and int8:
        import_runtime('nncf')
    started = time.perf_counter()
    detector = load_model(model, device='cpu', precision='fp32', runtime='torch')
    sizes = input_sizes(detector, frame_sizes or DEFAULT_SIZES)
    count = max(2, int(calibration_frames_count)) if int8 and fmt == 'openvino' else 2
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    building = tempfile.mkdtemp(prefix='.export-', dir=parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(building, 0o777 & ~umask)  # mkdtemp's folder is private; the export is not
    graphs = {}
    try:
        for (height, width), frame in sizes.items():
            key = size_key(height, width)
            say(f'{key}: tracing the image path ({detector.backend}) to ONNX opset {OPSET}')
            samples = model_inputs(detector, calibration_frames(frame, count, calibration))
            example = tuple(torch.from_numpy(array) for array in samples[0])
            with static_positions(detector, height, width):
                traced = trace_onnx(detector._backend.image_path, *example,
                                    os.path.join(building, f'traced_{key}.onnx'))
            if fmt == 'onnx':
                graphs[key] = f'image_path_{key}.onnx'
                target = os.path.join(building, graphs[key])
                if int8:
                    say(f'{key}: dynamic int8 quantisation (ONNX Runtime)')
                    quantize_onnx(traced, target)
                else:
                    os.replace(traced, target)
            else:
                ov = import_runtime('openvino')
                ov_model = ov.convert_model(traced)
                if int8:
                    say(f'{key}: NNCF int8 quantisation on {len(samples)} calibration frames')
                    ov_model = quantize_openvino(ov_model, samples)
                graphs[key] = f'image_path_{key}.xml'
                ov.save_model(ov_model, os.path.join(building, graphs[key]),
                              compress_to_fp16=False)
            if os.path.exists(traced):
                os.remove(traced)
        save_torch_side(detector, building)
        info = {
            'format': EXPORT_FORMAT, 'version': 1, 'runtime': runtime, 'int8': bool(int8),
            'backend': detector.backend, 'source_model': detector.model_id,
            'graphs': graphs, 'inputs': list(INPUT_NAMES), 'outputs': list(OUTPUT_NAMES),
            'text_dim': detector.text_dim, 'opset': OPSET,
            'quantization': None if not int8 else (
                'onnxruntime dynamic int8 (MatMul/Gemm, signed per-channel weights)'
                if fmt == 'onnx' else 'NNCF post-training int8, transformer preset, no '
                'SmoothQuant, detection heads fp32'),
            'calibration': None if not (int8 and fmt == 'openvino') else {
                'frames': count, 'images': calibration or 'tabletop scenes',
                'seed': CALIBRATION_SEED},
            # TensorRT parses the fp32 ONNX graphs; the CPU int8 ones use ONNX Runtime's
            # dynamic quantisation operators, which it does not take.
            'tensorrt_ready': fmt == 'onnx' and not int8,
            'exported_with': _versions(fmt),
            'seconds': round(time.perf_counter() - started, 1),
        }
        with open(os.path.join(building, EXPORT_FILE), 'w', encoding='utf-8') as stream:
            json.dump(info, stream, indent=2)
            stream.write('\n')
        if os.path.isdir(out):
            os.rmdir(out)
        os.rename(building, out)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return info


def _frame_size(text):
    try:
        width, height = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise ValueError(f'frame size must be WIDTHxHEIGHT, not {text!r}') from None
    if width < 1 or height < 1:
        raise ValueError(f'frame size must be positive, not {text!r}')
    return width, height


def add_arguments(parser):
    """Add the ``export`` options to an argparse parser."""
    parser.add_argument('--model', default=None,
                        help='model folder or hub id (default: the shipped model)')
    parser.add_argument('--format', required=True, choices=sorted(FORMATS),
                        help='onnx (runs with ONNX Runtime; the fp32 graph also suits '
                             'TensorRT) or openvino')
    parser.add_argument('--int8', action='store_true',
                        help='quantise to int8 (openvino: NNCF on calibration frames; '
                             'onnx: dynamic, needs no calibration)')
    parser.add_argument('--calibration', metavar='DIR', default=None,
                        help='folder of images for int8 calibration (default: tabletop '
                             'scenes)')
    parser.add_argument('--calibration-frames', type=int, default=DEFAULT_CALIBRATION_FRAMES,
                        help='calibration frames per input size (default %(default)s)')
    parser.add_argument('--frame-size', action='append', default=None, metavar='WxH',
                        help='camera frame size the native model must take (repeatable; '
                             'default: the tabletop world sizes: 4:3, 16:9, 3:2, 1:1)')
    parser.add_argument('--out', required=True, metavar='DIR', help='new folder to write')


def run(args):
    """Run ``vlm-perception export``; returns the exit code."""
    try:
        frame_sizes = [_frame_size(text) for text in args.frame_size or []] or None
        if args.calibration and not os.path.isdir(args.calibration):
            raise ValueError(f'calibration folder not found: {args.calibration}')
        if args.calibration and not (args.int8 and args.format == 'openvino'):
            print('vlm-perception export: note: --calibration is used by --format openvino '
                  '--int8 only', file=sys.stderr)
        info = export_model(args.model, args.out, args.format, args.int8, args.calibration,
                            frame_sizes, args.calibration_frames,
                            log=lambda text: print(f'[export] {text}', file=sys.stderr,
                                                   flush=True))
    except (ModelLoadError, ValueError, OSError) as error:
        print(f'vlm-perception export: error: {error}', file=sys.stderr)
        return 1
    graphs = ', '.join(info['graphs'])
    print(f'{args.out}: {info["backend"]} model for {info["runtime"]}, '
          f'{"int8" if info["int8"] else "fp32"}, inputs {graphs}, {info["seconds"]:g} s')
    return 0
