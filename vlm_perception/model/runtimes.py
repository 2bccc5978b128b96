# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Exported image paths run by OpenVINO or ONNX Runtime, behind the backends' ``run``.

A folder written by ``vlm-perception export`` (:mod:`vlm_perception.model.export`) holds
the backend's torch side (tokenizer, text encoder, config, preprocessing settings) and its
image path (image encoder, the native fusion, the heads) as one graph per input size, for
one runtime, described by ``export.json``. :func:`load_exported` builds the ordinary torch
backend from the folder and swaps its ``image_path`` for :class:`OpenVinoImagePath` or
:class:`OnnxRuntimeImagePath`; preprocessing, the text cache and post-processing stay
the Detector's own.

Graph inputs: ``pixel_values`` (1, 3, H, W) float32 (H, W fixed per graph) and
``text_embeds`` (Q, D_t) float32, Q dynamic. Outputs, in order: ``logits`` (P, Q),
``pred_boxes`` (P, 4) cxcywh, ``image_embeds`` (D_v,), ``fused`` (Q, D_f).
"""

import json
import os

import numpy as np
import torch

from .errors import ModelLoadError

RUNTIMES = ('auto', 'torch', 'openvino', 'onnxruntime')
EXPORTED_RUNTIMES = ('openvino', 'onnxruntime')
EXPORT_FILE = 'export.json'
EXPORT_FORMAT = 'vlm_perception-export'
INPUT_NAMES = ('pixel_values', 'text_embeds')
OUTPUT_NAMES = ('logits', 'pred_boxes', 'image_embeds', 'fused')
# What `pip install` brings each runtime (setup.cfg extras_require).
EXTRAS = {'openvino': ('openvino', 'openvino'), 'onnxruntime': ('onnxruntime', 'onnxruntime'),
          'nncf': ('nncf', 'export')}
TENSORRT, CUDA, CPU = ('TensorrtExecutionProvider', 'CUDAExecutionProvider',
                       'CPUExecutionProvider')
# TensorRT builds an engine for a range of query counts (the node's max_queries is 256).
TENSORRT_QUERIES = (1, 4, 256)


def size_key(height, width):
    """Return the 'HxW' name of an input size, as export.json keys its graphs."""
    return f'{int(height)}x{int(width)}'


def import_runtime(module_name):
    """
    Import ``module_name`` (openvino, onnxruntime, nncf) or say which extra brings it.

    Raises ModelLoadError with the pip command when it is not installed.
    """
    try:
        return __import__(module_name)
    except ImportError:
        package, extra = EXTRAS[module_name]
        raise ModelLoadError(
            f'{module_name} is not installed: pip install "vlm_perception[{extra}]" '
            f'(or pip install {package})') from None


def read_export_info(folder):
    """Return the parsed export.json of ``folder``, or None for a folder without one."""
    path = os.path.join(folder, EXPORT_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding='utf-8') as stream:
            info = json.load(stream)
        if info.get('format') != EXPORT_FORMAT or info.get('runtime') not in EXPORTED_RUNTIMES:
            raise ValueError(f'not a {EXPORT_FORMAT} file for one of {EXPORTED_RUNTIMES}')
        for key in ('backend', 'graphs'):
            if key not in info:
                raise ValueError(f'no {key!r}')
    except (OSError, ValueError, AttributeError) as error:
        raise ModelLoadError(f'bad export file {path}: {error}') from None
    return info


def resolve_runtime(runtime, exported, model='the model'):
    """
    Return the runtime that runs ``model``: 'torch', 'openvino' or 'onnxruntime'.

    runtime: what was asked ('auto' or one of RUNTIMES); exported: the runtime its
    export.json records, or None for a torch model folder or hub id. 'auto' takes the
    folder's runtime, else torch. A folder exported for one runtime is refused by any
    other (ModelLoadError); a bad name is a ValueError.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f'runtime must be one of {", ".join(RUNTIMES)}, not {runtime!r}')
    if exported is None:
        if runtime in ('auto', 'torch'):
            return 'torch'
        raise ModelLoadError(
            f'{model} is a torch model; runtime {runtime!r} runs folders made by '
            f'`vlm-perception export --model {model} --format '
            f'{"onnx" if runtime == "onnxruntime" else runtime} --out DIR`')
    if runtime in ('auto', exported):
        return exported
    raise ModelLoadError(
        f'{model} was exported for {exported} and cannot run with runtime {runtime!r}: use '
        f'runtime auto or {exported}, or export the original model again for {runtime}')


def onnxruntime_providers(device, available, int8=False, fp16=False, cache_dir=None):
    """
    Choose ONNX Runtime execution providers for ``device``; return [(name, options)].

    device: 'auto', 'cpu', 'cuda' or 'cuda:N'. available: the providers this onnxruntime
    build has (``onnxruntime.get_available_providers()``; onnxruntime-gpu adds CUDA and,
    where TensorRT is installed, TensorRT). 'auto' takes the GPU when the build has CUDA.
    On a GPU: TensorRT first when present (not for int8 folders: their dynamically
    quantised operators are the CPU's; fp16 enables TensorRT's fp16 kernels, and its
    engines are cached in ``cache_dir``), then CUDA, then the CPU for whatever they
    cannot run. Asking for CUDA from a build without it is a ValueError that says what
    to install.
    """
    device = 'auto' if device in (None, '') else str(device)
    cpu = [(CPU, {})]
    if device == 'cpu':
        return cpu
    if device != 'auto' and device != 'cuda' and not (
            device.startswith('cuda:') and device[5:].isdigit()):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', not {device!r}")
    if CUDA not in available:
        if device == 'auto':
            return cpu
        raise ValueError(f'device {device!r} asked for, but this onnxruntime has no CUDA '
                         'provider: install onnxruntime-gpu instead of onnxruntime')
    index = int(device[5:]) if device.startswith('cuda:') else 0
    providers = []
    if TENSORRT in available and not int8:
        low, typical, high = TENSORRT_QUERIES
        options = {'device_id': index, 'trt_fp16_enable': bool(fp16),
                   'trt_profile_min_shapes': f'text_embeds:{low}x{{dim}}',
                   'trt_profile_opt_shapes': f'text_embeds:{typical}x{{dim}}',
                   'trt_profile_max_shapes': f'text_embeds:{high}x{{dim}}'}
        if cache_dir:
            options.update(trt_engine_cache_enable=True, trt_engine_cache_path=cache_dir)
        providers.append((TENSORRT, options))
    providers.append((CUDA, {'device_id': index}))
    return providers + cpu


def _check_precision(precision, info, runtime, gpu):
    """Return the precision name of an exported folder run at ``precision`` (or raise)."""
    folder_precision = 'int8' if info.get('int8') else 'fp32'
    if precision in (None, 'auto', folder_precision):
        return folder_precision
    if precision == 'fp16' and runtime == 'onnxruntime' and gpu and folder_precision == 'fp32':
        return 'fp16'  # TensorRT's fp16 kernels on the fp32 graph
    raise ValueError(f'this folder holds a {folder_precision} {runtime} export; precision '
                     f'{precision!r} needs another export (vlm-perception export'
                     f'{" --int8" if precision == "int8" else ""})')


class _ImagePath:
    """What both runtimes share: one compiled graph per input size, torch in and out."""

    def __init__(self, folder, info, device):
        self.folder, self.device = folder, device
        self.graphs = {}
        self.input_sizes = tuple(sorted(info['graphs']))

    def _graph(self, pixel_values):
        key = size_key(*pixel_values.shape[-2:])
        graph = self.graphs.get(key)
        if graph is None:
            raise ValueError(
                f'{self.folder} was exported for model inputs of {", ".join(self.input_sizes)} '
                f'pixels, not {key}: export again with --frame-size for frames of this shape')
        return graph

    def _outputs(self, arrays):
        return tuple(torch.from_numpy(np.asarray(array)).to(self.device) for array in arrays)

    @staticmethod
    def _inputs(pixel_values, text_embeds):
        return (pixel_values.detach().to('cpu', torch.float32).numpy(),
                text_embeds.detach().to('cpu', torch.float32).contiguous().numpy())


class OpenVinoImagePath(_ImagePath):
    """
    The exported image path compiled by OpenVINO for the CPU; called like the torch one.

    Each graph is reshaped to its static input size (the query count stays dynamic) and
    compiled for latency with ``threads`` threads, in fp32 for what is not int8: left to
    itself OpenVINO picks bf16 on CPUs with AVX-512 BF16, where it is slower than fp32.
    """

    def __init__(self, folder, info, device, threads):
        super().__init__(folder, info, device)
        ov = import_runtime('openvino')
        core = ov.Core()
        config = {'PERFORMANCE_HINT': 'LATENCY', 'INFERENCE_NUM_THREADS': int(threads),
                  'INFERENCE_PRECISION_HINT': 'f32'}
        for key, name in info['graphs'].items():
            height, width = (int(v) for v in key.split('x'))
            model = core.read_model(os.path.join(folder, name))
            model.reshape({model.inputs[0]: [1, 3, height, width], model.inputs[1]: [-1, -1]})
            self.graphs[key] = core.compile_model(model, 'CPU', config).create_infer_request()

    def __call__(self, pixel_values, text_embeds):
        """Return logits, boxes, image embed, fused (as NativeImagePath / OwlImagePath)."""
        request = self._graph(pixel_values)
        # The inputs are contiguous arrays of this call: no need to copy them in.
        results = request.infer(self._inputs(pixel_values, text_embeds), share_inputs=True)
        return self._outputs(results[index] for index in range(len(OUTPUT_NAMES)))


class OnnxRuntimeImagePath(_ImagePath):
    """The exported image path in ONNX Runtime sessions; called like the torch one."""

    def __init__(self, folder, info, device, threads, providers):
        super().__init__(folder, info, device)
        ort = import_runtime('onnxruntime')
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # warnings about CPU fallback are not ours to fix
        # Idle pool threads would spin after each frame, taking the cores from torch's text
        # encoder and preprocessing (and from anything else on a 2-core robot).
        options.add_session_config_entry('session.intra_op.allow_spinning', '0')
        self.providers = providers
        for key, name in info['graphs'].items():
            text_dim = str(info['text_dim'])
            chosen = [(provider, {k: v.replace('{dim}', text_dim) if isinstance(v, str) else v
                                  for k, v in settings.items()})
                      for provider, settings in providers]
            self.graphs[key] = ort.InferenceSession(os.path.join(folder, name), options,
                                                    providers=chosen)

    def __call__(self, pixel_values, text_embeds):
        """Return logits, boxes, image embed, fused (as NativeImagePath / OwlImagePath)."""
        session = self._graph(pixel_values)
        pixels, queries = self._inputs(pixel_values, text_embeds)
        return self._outputs(session.run(
            list(OUTPUT_NAMES), {INPUT_NAMES[0]: pixels, INPUT_NAMES[1]: queries}))


def _runtime_devices(runtime, device, info, precision):
    """Return (torch device, ORT providers or None, precision name) of an exported folder."""
    from .detector import resolve_device
    if runtime == 'openvino':
        if device not in (None, 'auto', 'cpu'):
            raise ValueError(f'the openvino runtime runs on the CPU here, not {device!r}: use '
                             'device cpu (or auto), or an onnxruntime export on a GPU')
        return torch.device('cpu'), None, _check_precision(precision, info, runtime, False)
    ort = import_runtime('onnxruntime')
    available = ort.get_available_providers()
    fp16 = precision == 'fp16'
    cache = os.path.join(os.path.expanduser('~'), '.cache', 'vlm_perception', 'tensorrt')
    providers = onnxruntime_providers(device, available, bool(info.get('int8')), fp16, cache)
    gpu = providers[0][0] != CPU
    chosen = _check_precision(precision, info, runtime, gpu and providers[0][0] == TENSORRT)
    # Preprocessing and the text encoder run in torch: on the GPU when torch has one too.
    torch_device = resolve_device('cuda:%d' % providers[0][1]['device_id']) \
        if gpu and torch.cuda.is_available() else torch.device('cpu')
    return torch_device, providers, chosen


def load_exported(folder, info, runtime, device='auto', precision='auto'):
    """
    Return (backend, precision name) for an exported ``folder`` run by ``runtime``.

    The backend is the ordinary torch one (NativeBackend, OwlBackend), built from the
    folder's torch files, with its image path replaced by the runtime's.
    """
    torch_device, providers, precision = _runtime_devices(runtime, device, info, precision)
    threads = torch.get_num_threads()
    if runtime == 'openvino':
        image_path = OpenVinoImagePath(folder, info, torch_device, threads)
    else:
        image_path = OnnxRuntimeImagePath(folder, info, torch_device, threads, providers)
    if info['backend'] == 'native':
        from .detector import NativeBackend
        from .native import VLMForDetection
        backend = NativeBackend(VLMForDetection.from_pretrained(folder), folder, torch_device,
                                torch.float32, image_path=image_path)
    else:
        from .owl import load_exported_owl
        backend = load_exported_owl(folder, info['backend'], torch_device, image_path)
    backend.runtime = runtime
    backend.runtime_detail = ', '.join(p for p, _ in providers) if providers else 'CPU'
    return backend, precision
