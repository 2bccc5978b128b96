# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Exported image paths (``vlm-perception export``) against the torch path, on tiny models.

Tiny random native and OWL-ViT models are exported to ONNX Runtime and OpenVINO folders
once per module; the folders are loaded through load_model as users load them and
compared with the torch model on the same preprocessed inputs and query embeddings.
"""

import json
import os
import sys

import cv2
import numpy as np
import pytest
import torch

from vlm_perception.cli import main as cli_main
from vlm_perception.model import load_model, ModelLoadError
from vlm_perception.model.export import calibration_frames, export_model
from vlm_perception.model.random_models import build_random_native, build_random_owl
from vlm_perception.model.runtimes import onnxruntime_providers, resolve_runtime
from vlm_perception.world import SceneGenerator

onnx = pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')
pytest.importorskip('openvino')

QUERIES = ['red circle', 'the blue square', 'something green', 'any star', 'black cross']
# (width, height) frames: 4:3 and 1:1 give the tiny native model its two input sizes,
# 64x96 (4:3, 16:9 and 3:2 frames) and 64x64.
FRAMES = ((96, 72), (64, 64))
# Operators TensorRT's ONNX parser takes (onnx-tensorrt's support matrix; LayerNormalization
# from TensorRT 8.6), as far as these graphs could use them.
TENSORRT_OPS = {
    'Abs', 'Add', 'And', 'ArgMax', 'ArgMin', 'Cast', 'Clip', 'Concat', 'Constant',
    'ConstantOfShape', 'Conv', 'Cos', 'CumSum', 'Div', 'Einsum', 'Elu', 'Equal', 'Erf', 'Exp',
    'Expand', 'Flatten', 'Gather', 'GatherElements', 'GatherND', 'Gemm', 'Greater',
    'GreaterOrEqual', 'Identity', 'IsNaN', 'LayerNormalization', 'Less', 'LessOrEqual', 'Log',
    'MatMul', 'Max', 'Min', 'Mul', 'Neg', 'Not', 'Or', 'Pad', 'Pow', 'Range', 'ReduceL2',
    'ReduceMax', 'ReduceMean', 'ReduceSum', 'Relu', 'Reshape', 'ScatterND', 'Shape', 'Sigmoid',
    'Sin', 'Slice', 'Softmax', 'Split', 'Sqrt', 'Squeeze', 'Sub', 'Tanh', 'Tile', 'TopK',
    'Transpose', 'Unsqueeze', 'Where',
}
CPU_QUANTIZATION_OPS = {'MatMulInteger', 'DynamicQuantizeLinear', 'ConvInteger',
                        'QLinearMatMul', 'QLinearConv'}


@pytest.fixture(scope='module')
def folders(tmp_path_factory):
    """Tiny models and their exports: {(model, format, int8): folder}, plus the sources."""
    root = tmp_path_factory.mktemp('export')
    sources = {'native': build_random_native(str(root / 'native'), seed=3),
               'owlvit': build_random_owl(str(root / 'owlvit'), 'owlvit', 'tiny', seed=3)}
    found = {'sources': sources}
    for model, fmt, int8 in (('native', 'onnx', False), ('native', 'openvino', False),
                             ('owlvit', 'onnx', False), ('owlvit', 'openvino', False),
                             ('native', 'onnx', True), ('native', 'openvino', True)):
        out = str(root / f'{model}-{fmt}-{"int8" if int8 else "fp32"}')
        # int8 on one frame size and few calibration frames: what matters is that it runs.
        frames = FRAMES[:1] if int8 else FRAMES
        export_model(sources[model], out, fmt, int8, frame_sizes=frames,
                     calibration_frames_count=4)
        found[model, fmt, int8] = out
    return found


def scene_images(sizes=FRAMES):
    generator = SceneGenerator(seed=5, sizes=sizes, split='eval')
    return [generator.generate(index).image for index in range(4)]


def same_inputs(reference, exported, image, queries):
    """Run both image paths on the torch path's own inputs; return (torch, exported)."""
    with torch.inference_mode():
        pixel_values, _ = reference._backend.prepare(torch.from_numpy(image), 'rgb')
        text_embeds = reference.encode_queries(queries)
        return (reference._backend.run(pixel_values, text_embeds),
                exported._backend.run(pixel_values, text_embeds))


@pytest.mark.parametrize('model', ['native', 'owlvit'])
@pytest.mark.parametrize('fmt', ['onnx', 'openvino'])
def test_fp32_export_matches_torch(folders, model, fmt):
    reference = load_model(folders['sources'][model], score_threshold=0.0, nms_iou=1.0,
                           max_detections=10_000)
    exported = load_model(folders[model, fmt, False], score_threshold=0.0, nms_iou=1.0,
                          max_detections=10_000)
    assert exported.runtime == ('onnxruntime' if fmt == 'onnx' else 'openvino')
    assert exported.precision == 'fp32' and exported.backend == model
    for index, image in enumerate(scene_images()):
        queries = QUERIES[:1 + index]   # the query count is dynamic: 1 to 4
        ours, theirs = same_inputs(reference, exported, image, queries)
        for name, a, b in zip(('logits', 'boxes', 'image embedding', 'fused'), ours, theirs):
            assert a.shape == b.shape, name
            np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-4, err_msg=name)
        # The whole call: the same detections, the text features from the same torch encoder.
        want, got = reference.infer(image, queries), exported.infer(image, queries)
        np.testing.assert_array_equal(got.query_indices, want.query_indices)
        np.testing.assert_allclose(got.boxes, want.boxes, atol=1e-2)
        np.testing.assert_allclose(got.scores, want.scores, atol=1e-4)
        np.testing.assert_allclose(got.text_features, want.text_features, atol=1e-6)


def test_exported_folder_keeps_the_text_cache_and_refuses_unknown_input_sizes(folders):
    detector = load_model(folders['native', 'onnx', False])
    image = scene_images()[0]
    detector.infer(image, QUERIES[:2])
    detector.infer(image, QUERIES[:2])
    assert (detector.text_cache.misses, detector.text_cache.hits) == (2, 2)
    with pytest.raises(ValueError, match='exported for model inputs of .*--frame-size'):
        detector.infer(np.zeros((200, 50, 3), np.uint8), QUERIES[:1])   # input 64x16


@pytest.mark.parametrize('fmt', ['onnx', 'openvino'])
def test_int8_export_is_quantised_and_runs(folders, fmt):
    folder = folders['native', fmt, True]
    info = json.load(open(os.path.join(folder, 'export.json')))
    assert info['int8'] and not info['tensorrt_ready']
    graph = os.path.join(folder, next(iter(info['graphs'].values())))
    if fmt == 'onnx':
        ops = {node.op_type for node in onnx.load(graph).graph.node}
        assert {'MatMulInteger', 'DynamicQuantizeLinear'} <= ops
    else:
        assert 'FakeQuantize' in open(graph, encoding='utf-8').read()
    reference = load_model(folders['sources']['native'])
    detector = load_model(folder)
    assert detector.precision == 'int8'
    image = scene_images(FRAMES[:1])[0]
    ours, theirs = same_inputs(reference, detector, image, QUERIES[:3])
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape and torch.isfinite(b).all()
    # int8 moves values a little, not everywhere: the logits stay strongly correlated.
    assert np.corrcoef(ours[0].flatten(), theirs[0].flatten())[0, 1] > 0.9
    with pytest.raises(ValueError, match='int8 onnxruntime export|int8 openvino export'):
        load_model(folder, precision='fp32')


@pytest.mark.parametrize('model', ['native', 'owlvit'])
def test_fp32_onnx_is_what_tensorrt_parses(folders, model):
    folder = folders[model, 'onnx', False]
    info = json.load(open(os.path.join(folder, 'export.json')))
    assert info['tensorrt_ready'] and info['opset'] == 17
    assert len(info['graphs']) == (2 if model == 'native' else 1)
    for key, name in info['graphs'].items():
        graph = onnx.load(os.path.join(folder, name))
        onnx.checker.check_model(graph)
        assert [entry.version for entry in graph.opset_import if entry.domain in ('', 'ai.onnx')] \
            == [17]
        ops = {node.op_type for node in graph.graph.node}
        assert ops <= TENSORRT_OPS, f'not for TensorRT: {sorted(ops - TENSORRT_OPS)}'
        assert not ops & CPU_QUANTIZATION_OPS
        shapes = {tensor.name: [dim.dim_value or dim.dim_param
                                for dim in tensor.type.tensor_type.shape.dim]
                  for tensor in graph.graph.input}
        height, width = (int(v) for v in key.split('x'))
        assert shapes['pixel_values'] == [1, 3, height, width]   # a static image
        assert shapes['text_embeds'] == ['num_queries', info['text_dim']]


def test_a_folder_for_one_runtime_is_refused_by_another(folders):
    folder = folders['native', 'openvino', False]
    with pytest.raises(ModelLoadError, match='exported for openvino and cannot run with '
                                             "runtime 'onnxruntime'"):
        load_model(folder, runtime='onnxruntime')
    with pytest.raises(ModelLoadError, match="exported for openvino .* runtime 'torch'"):
        load_model(folder, runtime='torch')
    with pytest.raises(ModelLoadError, match='is a torch model.*vlm-perception export'):
        load_model(folders['sources']['native'], runtime='openvino')
    with pytest.raises(ModelLoadError, match='holds a native model, not owlvit'):
        load_model(folder, backend='owlvit')
    with pytest.raises(ValueError, match='openvino runtime runs on the CPU'):
        load_model(folder, device='cuda')


def test_a_missing_runtime_says_which_extra_to_install(folders, monkeypatch):
    monkeypatch.setitem(sys.modules, 'openvino', None)   # import openvino now fails
    with pytest.raises(ModelLoadError, match=r'openvino is not installed: pip install '
                                             r'"vlm_perception\[openvino\]"'):
        load_model(folders['native', 'openvino', False])
    # The torch path needs none of them.
    assert load_model(folders['sources']['native']).runtime == 'torch'


def test_resolve_runtime():
    assert resolve_runtime('auto', None) == 'torch'
    assert resolve_runtime('torch', None) == 'torch'
    assert resolve_runtime('auto', 'openvino') == 'openvino'
    assert resolve_runtime('onnxruntime', 'onnxruntime') == 'onnxruntime'
    with pytest.raises(ModelLoadError, match='export --model m --format onnx'):
        resolve_runtime('onnxruntime', None, 'm')
    with pytest.raises(ValueError, match='runtime must be one of'):
        resolve_runtime('tensorflow', None)


def test_onnxruntime_providers_follow_the_device():
    cpu_only = ['AzureExecutionProvider', 'CPUExecutionProvider']
    gpu = ['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider']
    cuda_only = gpu[1:]

    def names(providers):
        return [name for name, _ in providers]

    assert names(onnxruntime_providers('cpu', gpu)) == ['CPUExecutionProvider']
    assert names(onnxruntime_providers('auto', cpu_only)) == ['CPUExecutionProvider']
    assert names(onnxruntime_providers('auto', gpu)) == gpu
    assert names(onnxruntime_providers('cuda', cuda_only)) == cuda_only
    # int8 folders hold CPU quantisation operators, which TensorRT does not take.
    assert names(onnxruntime_providers('cuda', gpu, int8=True)) == cuda_only
    trt, cuda, _ = onnxruntime_providers('cuda:1', gpu, fp16=True, cache_dir='/tmp/trt')
    assert trt[1]['device_id'] == cuda[1]['device_id'] == 1
    assert trt[1]['trt_fp16_enable'] and trt[1]['trt_engine_cache_path'] == '/tmp/trt'
    assert trt[1]['trt_profile_max_shapes'] == 'text_embeds:256x{dim}'
    assert not onnxruntime_providers('cuda', gpu)[0][1]['trt_fp16_enable']
    with pytest.raises(ValueError, match='install onnxruntime-gpu'):
        onnxruntime_providers('cuda', cpu_only)
    with pytest.raises(ValueError, match="device must be 'auto', 'cpu' or 'cuda"):
        onnxruntime_providers('gpu0', gpu)


def test_calibration_frames_from_a_folder(tmp_path):
    for index, size in enumerate(((50, 40), (80, 80), (30, 60))):
        cv2.imwrite(str(tmp_path / f'{index}.png'), np.full((size[1], size[0], 3), 40 * index,
                                                            np.uint8))
    (tmp_path / 'notes.txt').write_text('not an image')
    frames = calibration_frames((64, 48), 5, str(tmp_path))
    assert len(frames) == 5
    assert all(image.shape == (48, 64, 3) and queries for image, queries in frames)
    scenes = calibration_frames((64, 48), 2)
    assert all(image.shape == (48, 64, 3) and len(queries) >= 3 for image, queries in scenes)
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(ValueError, match='no readable images'):
        calibration_frames((64, 48), 2, str(empty))


def test_export_and_eval_commands(folders, tmp_path, capsys):
    source = folders['sources']['native']
    out = tmp_path / 'cli-export'
    assert cli_main(['export', '--model', source, '--format', 'onnx', '--frame-size', '96x72',
                     '--out', str(out)]) == 0
    assert 'native model for onnxruntime, fp32, inputs 64x96' in capsys.readouterr().out
    assert cli_main(['export', '--model', source, '--format', 'onnx', '--out', str(out)]) == 1
    assert 'already exists' in capsys.readouterr().err
    assert cli_main(['export', '--model', str(tmp_path / 'nothing'), '--format', 'openvino',
                     '--out', str(tmp_path / 'x')]) == 1
    assert 'model folder not found' in capsys.readouterr().err
    assert not (tmp_path / 'x').exists()
    # `eval --model DIR` runs the exported folder (every eval frame size is exported).
    assert cli_main(['eval', '--model', folders['native', 'openvino', False], '--scenes', '3',
                     '--json']) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics['model'] == folders['native', 'openvino', False]
    assert 0.0 <= metrics['ap50_seen'] <= 1.0
