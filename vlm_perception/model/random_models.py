# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Build randomly initialised model folders, with no hub access, for tests and benchmarks.

:func:`build_random_native` writes a native model (tiny by default).
:func:`build_random_owl` writes an OWL-ViT / OWLv2 folder that loads exactly like a
downloaded one (config.json, model.safetensors, a CLIP tokenizer and
preprocessor_config.json). Its tokenizer is a small byte-level BPE written here (every
byte is a token, plus whole-word merges for a short word list), so nothing is downloaded.
"""

import json
import os

import torch

from .native import VLMConfig, VLMForDetection
from .owl import quiet_transformers
from .tokenizer import DEFAULT_WORDS

# Model sizes: 'tiny' for unit tests; 'base32'/'base16' have the published OWL-ViT-B/32
# and OWLv2-B/16 shapes (timing benchmarks), with random weights and a small vocabulary.
PRESETS = {
    'tiny': {'image_size': 96, 'patch_size': 16, 'vision_width': 32, 'vision_layers': 2,
             'vision_heads': 4, 'text_width': 32, 'text_layers': 2, 'text_heads': 4},
    'base32': {'image_size': 768, 'patch_size': 32, 'vision_width': 768, 'vision_layers': 12,
               'vision_heads': 12, 'text_width': 512, 'text_layers': 12, 'text_heads': 8},
    'base16': {'image_size': 960, 'patch_size': 16, 'vision_width': 768, 'vision_layers': 12,
               'vision_heads': 12, 'text_width': 512, 'text_layers': 12, 'text_heads': 8},
}


def build_random_native(folder, config=None, seed=0):
    """Save a randomly initialised native model (default VLMConfig.tiny()) to ``folder``."""
    torch.manual_seed(seed)
    VLMForDetection(VLMConfig.tiny() if config is None else config).save_pretrained(folder)
    return folder


def bytes_to_unicode():
    """Return CLIP's byte -> printable character table (the alphabet of its BPE)."""
    printable = (list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1))
                 + list(range(ord('®'), ord('ÿ') + 1)))
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(code) for code in codes)))


def write_clip_tokenizer(folder, words=DEFAULT_WORDS):
    """
    Write vocab.json and merges.txt of a small CLIP BPE tokenizer into ``folder``.

    Every byte is a token (alone and word-final); each of ``words`` also becomes one token
    through left-to-right merges. '!' is id 0 (OWL's pad token) and <|endoftext|> has the
    highest id, as OWL's text pooling (argmax of the ids) expects.
    """
    alphabet = list(bytes_to_unicode().values())
    vocab = alphabet + [char + '</w>' for char in alphabet]
    merges = []
    for word in dict.fromkeys(words):
        pieces = list(word[:-1]) + [word[-1] + '</w>']
        while len(pieces) > 1:
            merged = pieces[0] + pieces[1]
            if (pieces[0], pieces[1]) not in merges:
                merges.append((pieces[0], pieces[1]))
                vocab.append(merged)
            pieces = [merged] + pieces[2:]
    vocab = list(dict.fromkeys(vocab)) + ['<|startoftext|>', '<|endoftext|>']
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, 'vocab.json'), 'w', encoding='utf-8') as stream:
        json.dump({token: index for index, token in enumerate(vocab)}, stream)
    with open(os.path.join(folder, 'merges.txt'), 'w', encoding='utf-8') as stream:
        stream.write('#version: 0.2\n' + ''.join(f'{a} {b}\n' for a, b in merges))
    return len(vocab)


def build_random_owl(folder, kind='owlvit', preset='tiny', seed=0):
    """
    Write a random ``kind`` ('owlvit' or 'owlv2') model of ``preset`` size to ``folder``.

    Returns the folder. Loading it with ``load_model(folder)`` or transformers'
    ``from_pretrained`` works offline.
    """
    import transformers
    sizes = PRESETS[preset]
    vocab_size = write_clip_tokenizer(folder)
    tokenizer = transformers.CLIPTokenizer(
        os.path.join(folder, 'vocab.json'), os.path.join(folder, 'merges.txt'),
        pad_token='!', model_max_length=16)
    tokenizer.save_pretrained(folder)
    text = {'vocab_size': vocab_size, 'hidden_size': sizes['text_width'],
            'intermediate_size': 4 * sizes['text_width'],
            'num_hidden_layers': sizes['text_layers'],
            'num_attention_heads': sizes['text_heads'], 'max_position_embeddings': 16,
            'bos_token_id': vocab_size - 2, 'eos_token_id': vocab_size - 1, 'pad_token_id': 0}
    vision = {'hidden_size': sizes['vision_width'], 'intermediate_size': 4 * sizes['vision_width'],
              'num_hidden_layers': sizes['vision_layers'],
              'num_attention_heads': sizes['vision_heads'], 'image_size': sizes['image_size'],
              'patch_size': sizes['patch_size']}
    config_class, model_class = {
        'owlvit': (transformers.OwlViTConfig, transformers.OwlViTForObjectDetection),
        'owlv2': (transformers.Owlv2Config, transformers.Owlv2ForObjectDetection)}[kind]
    config = config_class(text_config=text, vision_config=vision,
                          projection_dim=sizes['text_width'])
    torch.manual_seed(seed)
    model = model_class(config).eval()
    # transformers leaves the detection heads at std 1, which saturates every box and score;
    # LeCun-normal keeps random outputs spread out, so comparisons mean something.
    for name, module in model.named_modules():
        if name.endswith('_head') and not name.startswith(('owlvit', 'owlv2')):
            for layer in module.modules():
                if isinstance(layer, torch.nn.Linear):
                    torch.nn.init.normal_(layer.weight, std=layer.in_features ** -0.5)
    quiet_transformers(model.save_pretrained, folder)
    side = {'height': sizes['image_size'], 'width': sizes['image_size']}
    processor = {
        'owlvit': {'image_processor_type': 'OwlViTImageProcessor', 'do_resize': True,
                   'size': side, 'resample': 3, 'do_center_crop': False, 'crop_size': side,
                   'do_rescale': True, 'rescale_factor': 1 / 255, 'do_normalize': True,
                   'do_convert_rgb': True},
        'owlv2': {'image_processor_type': 'Owlv2ImageProcessor', 'do_resize': True,
                  'size': side, 'resample': 2, 'do_pad': True, 'do_rescale': True,
                  'rescale_factor': 1 / 255, 'do_normalize': True, 'do_convert_rgb': True},
    }[kind]
    processor.update(image_mean=[0.48145466, 0.4578275, 0.40821073],
                     image_std=[0.26862954, 0.26130258, 0.27577711],
                     processor_class='OwlViTProcessor' if kind == 'owlvit' else 'Owlv2Processor')
    with open(os.path.join(folder, 'preprocessor_config.json'), 'w', encoding='utf-8') as stream:
        json.dump(processor, stream, indent=2)
    return folder
