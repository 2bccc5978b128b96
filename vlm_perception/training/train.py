# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
``vlm-perception train``: train the native model on the synthetic tabletop world.

Data is generated on the fly from the recipe's seed (no dataset on disk);
AdamW with a linear warm-up and a cosine schedule; the loss is
:func:`vlm_perception.training.loss.detection_loss`. The result is a model
folder (config.json, model.safetensors, tokenizer.json) that ``load_model``
reads, plus training.json: the recipe and how the run went.

    vlm-perception train --out my-model            # the shipped recipe
    vlm-perception train --out /tmp/pilot --steps 200 --set model.vision_depth=2
"""

import argparse
import json
import math
import os
import time

import torch

from vlm_perception.model import load_model, VLMConfig, VLMForDetection, VLMTokenizer
from vlm_perception.training.data import batch_stream, BatchMaker, collate
from vlm_perception.training.evaluate import choose_threshold
from vlm_perception.training.loss import AuxiliaryHeads, composition_loss, detection_loss
from vlm_perception.training.loss import LossWeights
from vlm_perception.training.recipe import DEFAULT_RECIPE, Recipe
from vlm_perception.world import COLOURS, SHAPES
from vlm_perception.world.commands import vocabulary_words

TRAINING_FILE = 'training.json'
# Parameters that are positions, tokens or scales, not weights: no weight decay.
_NO_DECAY = ('pos_embed', 'cls_token', 'modality_embed', 'token_embed')


def add_arguments(parser):
    """Add the ``train`` options to an argparse parser."""
    parser.add_argument('--out', default='tabletop-model',
                        help='folder to write the trained model to (default: %(default)s)')
    parser.add_argument('--seed', type=int, help=f'random seed (default {DEFAULT_RECIPE.seed})')
    parser.add_argument('--steps', type=int,
                        help=f'optimizer steps (default {DEFAULT_RECIPE.steps})')
    parser.add_argument('--minutes', type=float,
                        help='stop after about this long; the schedule is shortened to fit '
                             '(not reproducible: the step count then depends on the machine)')
    parser.add_argument('--batch-size', type=int, help='scenes per step')
    parser.add_argument('--recipe', help='JSON file with recipe fields (see training/recipe.py)')
    parser.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                        help='override one recipe field, JSON value; nested with a dot, e.g. '
                             'model.vision_depth=6 or loss.radius=0.7 (repeatable)')
    parser.add_argument('--device', default='auto', help="'auto' (cuda if present), 'cpu', 'cuda'")
    parser.add_argument('--threads', type=int, default=2,
                        help='CPU threads for torch (default: %(default)s)')
    parser.add_argument('--workers', type=int, default=0,
                        help='processes drawing scenes ahead of training (default: %(default)s)')
    parser.add_argument('--log-every', type=int, default=25, help='steps between progress lines')


def recipe_from_args(args):
    """Return the :class:`Recipe` the options ask for: defaults, --recipe file, then overrides."""
    data = DEFAULT_RECIPE.to_dict()
    if args.recipe:
        with open(args.recipe, encoding='utf-8') as stream:
            data.update(json.load(stream))
    for assignment in args.set:
        key, _, value = assignment.partition('=')
        if not value:
            raise SystemExit(f'--set needs KEY=VALUE, not {assignment!r}')
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass  # a bare string, e.g. model.patch_embedding=linear
        *parents, leaf = key.split('.')
        node = data
        for parent in parents:
            node = node[parent]
        if leaf not in node:
            raise SystemExit(f'unknown recipe field {key!r}')
        node[leaf] = value
    for name, value in (('seed', args.seed), ('steps', args.steps),
                        ('batch_size', args.batch_size)):
        if value is not None:
            data[name] = value
    return Recipe.from_dict(data)


def pick_device(name):
    """Return the torch device for 'auto', 'cpu' or 'cuda[:N]'."""
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    return torch.device(name)


def build_model(recipe):
    """Return a freshly initialised model (with its tokenizer) for the recipe, seeded."""
    torch.manual_seed(recipe.seed)
    config = VLMConfig(**recipe.model)
    tokenizer = VLMTokenizer.from_texts(vocabulary_words(), max_length=config.max_text_length)
    return VLMForDetection(config, tokenizer)


def learning_rate(recipe, step, total_steps):
    """Linear warm-up to the peak, then cosine decay to min_learning_rate at total_steps."""
    if step < recipe.warmup_steps:
        return recipe.learning_rate * (step + 1) / recipe.warmup_steps
    progress = min(1.0, (step - recipe.warmup_steps) / max(1, total_steps - recipe.warmup_steps))
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return recipe.min_learning_rate + (recipe.learning_rate - recipe.min_learning_rate) * cosine


def make_optimizer(model, recipe, auxiliary=None):
    """
    Return the AdamW optimizer, with weight decay on weight matrices only.

    Each group has an ``lr_scale``: the convolutional stem's is the recipe's
    stem_learning_rate_scale, the others' 1.
    """
    groups = {}
    named = list(model.named_parameters())
    if auxiliary is not None:
        named += list(auxiliary.named_parameters(prefix='auxiliary'))
    for name, parameter in named:
        plain = parameter.ndim < 2 or any(key in name for key in _NO_DECAY)
        stem = name.startswith('vision.patch_embed.')
        groups.setdefault((plain, stem), []).append(parameter)
    return torch.optim.AdamW(
        [{'params': params, 'weight_decay': 0.0 if plain else recipe.weight_decay,
          'lr_scale': recipe.stem_learning_rate_scale if stem else 1.0}
         for (plain, stem), params in groups.items()],
        lr=recipe.learning_rate, betas=(0.9, 0.999))


def training_step(model, batch, weights, auxiliary=None):
    """Forward one batch and return (loss, parts); ``auxiliary``: AuxiliaryHeads or None."""
    tokens = model.tokenize(batch.phrases)
    text = model.encode_text(tokens['input_ids'], tokens['attention_mask'])   # (U, D_t)
    captured = {}
    hooks = []
    if auxiliary is not None:
        # The fused patch features are the class head's input, the stem's tokens the patch
        # embedding's output; borrow them for the probes.
        hooks.append(model.class_embed.register_forward_hook(
            lambda module, inputs, output: captured.__setitem__('patches', inputs[0])))
        hooks.append(model.vision.patch_embed.register_forward_hook(
            lambda module, inputs, output: captured.__setitem__('stem', output[0])))
    try:
        output = model(batch.pixel_values, text[batch.query_index], batch.query_mask)
    finally:
        for hook in hooks:
            hook.remove()
    loss, parts = detection_loss(output.logits, output.pred_boxes, output.grid, batch, weights)
    if weights.composition > 0:
        composing = composition_loss(text, batch.phrase_labels, len(COLOURS), len(SHAPES))
        loss = loss + weights.composition * composing
        parts['composition'] = float(composing.detach())
    if auxiliary is not None:
        patch_probes, text_probes, shape_accuracy = auxiliary(
            captured['patches'], text, output.grid, batch, weights.radius, captured['stem'])
        loss = loss + weights.auxiliary * (patch_probes + text_probes)
        parts['aux_patch'] = float(patch_probes.detach())
        parts['aux_text'] = float(text_probes.detach())
        parts['shape_accuracy'] = shape_accuracy
    return loss, parts


def train(recipe, out, device='cpu', minutes=None, workers=0, log_every=25, log=print):
    """
    Run the recipe and save the model to ``out``; return the summary written to training.json.

    ``minutes`` (optional) caps the wall time: after the first steps the
    schedule is shortened to what fits. Deterministic algorithms are on while
    it runs, so a rerun with the same recipe and thread count gives the same
    weights bit for bit (without them, multi-threaded CPU kernels differ in
    the last bit from run to run, and 3000 steps amplify that).
    """
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        return _train(recipe, out, torch.device(device), minutes, workers, log_every, log)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)


def _train(recipe, out, device, minutes, workers, log_every, log):
    """Run :func:`train` with deterministic algorithms already on."""
    model = build_model(recipe).to(device).train()
    weights = LossWeights(**recipe.loss)
    auxiliary = None
    if weights.auxiliary > 0:
        auxiliary = AuxiliaryHeads(
            model.config.fusion_dim, model.config.projection_dim, len(COLOURS), len(SHAPES),
            model.config.vision_dim if weights.auxiliary_stem else None).to(device)
    optimizer = make_optimizer(model, recipe, auxiliary)
    maker = BatchMaker(recipe.seed, recipe.batch_size, recipe.queries_per_image,
                       recipe.sizes, recipe.held_out)
    total_steps = recipe.steps
    parameters = sum(p.numel() for p in model.parameters())
    log(f'training {parameters / 1e6:.2f} M parameters on {device} for {total_steps} steps, '
        f'batch {recipe.batch_size}, seed {recipe.seed}')
    start = time.perf_counter()
    running, step = {}, 0
    for step, asked in enumerate(batch_stream(maker, 0, total_steps, workers)):
        if step >= total_steps:
            break
        for group in optimizer.param_groups:
            group['lr'] = learning_rate(recipe, step, total_steps) * group['lr_scale']
        loss, parts = training_step(model, collate(model, asked), weights, auxiliary)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(
            [p for group in optimizer.param_groups for p in group['params']], recipe.grad_clip)
        optimizer.step()
        parts['loss'] = float(loss.detach())
        for key, value in parts.items():
            running[key] = running.get(key, 0.0) + value
        elapsed = time.perf_counter() - start
        if minutes is not None and step == 19:
            fits = int(minutes * 60 / (elapsed / 20))
            if fits < total_steps:
                total_steps = max(fits, recipe.warmup_steps + 1)
                log(f'--minutes {minutes:g}: shortening the schedule to {total_steps} steps')
        if (step + 1) % log_every == 0 or step + 1 == total_steps:
            count = (step % log_every) + 1
            mean = {key: value / count for key, value in running.items()}
            per_step = elapsed / (step + 1)
            aux = (f' aux patch {mean["aux_patch"]:.3f} text {mean["aux_text"]:.3f}'
                   f' shape acc {mean["shape_accuracy"]:.2f}' if 'aux_patch' in mean else '')
            aux += f' comp {mean["composition"]:.3f}' if 'composition' in mean else ''
            log(f'step {step + 1:5d}/{total_steps}  loss {mean["loss"]:.3f} '
                f'(cls {mean["classification"]:.3f} l1 {mean["box_l1"]:.3f} '
                f'giou {mean["box_giou"]:.3f}{aux})  query auc {mean["query_auc"]:.3f}  '
                f'lr {learning_rate(recipe, step, total_steps):.2e}  '
                f'{per_step:.2f} s/step  eta {(total_steps - step - 1) * per_step / 60:.1f} min')
            running = {}
    seconds = time.perf_counter() - start
    model.eval()
    model.save_pretrained(out)
    summary = {'recipe': recipe.to_dict(), 'steps_done': step + 1, 'seconds': round(seconds, 1),
               'device': str(device), 'torch': torch.__version__, 'parameters': parameters}
    if recipe.calibration_scenes > 0:
        # Through load_model, exactly as users will run the saved folder.
        threshold, stats = choose_threshold(
            load_model(out, device=str(device), precision='fp32'),
            scenes=recipe.calibration_scenes,
            max_false_positive_rate=recipe.calibration_false_positive_rate)
        model.config.score_threshold = round(threshold, 4)
        model.save_pretrained(out)
        summary['calibration'] = {'score_threshold': model.config.score_threshold, **stats}
        log(f'score threshold {threshold:.3f}: recall {stats["recall"]:.3f}, absent-object '
            f'false positives {stats["false_positive_rate"]:.3f} on training-split scenes')
    with open(os.path.join(out, TRAINING_FILE), 'w', encoding='utf-8') as stream:
        json.dump(summary, stream, indent=2)
    log(f'saved {out} after {step + 1} steps in {seconds / 60:.1f} min')
    return summary


def run(args):
    """Run ``vlm-perception train``; returns the exit code."""
    recipe = recipe_from_args(args)
    torch.set_num_threads(max(1, args.threads))
    device = pick_device(args.device)
    train(recipe, args.out, device, args.minutes, args.workers, args.log_every,
          log=lambda line: print(line, flush=True))
    return 0


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    add_arguments(parser)
    raise SystemExit(run(parser.parse_args()))
