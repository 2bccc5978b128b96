# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The models the benchmark measures, as folders ``load_model`` reads.

* ``default``: the shipped native model (``DEFAULT_MODEL_PATH``), or a tiny random
  stand-in for ``--quick``.
* ``owlvit_<preset>``: an OWL-ViT folder with random weights built here (no hub), of
  the published OWL-ViT-B/32 shapes at 768 px for preset ``base32``. Built once and
  kept in a cache folder (it is 500 MB and takes a while to write).
"""

from dataclasses import dataclass
import os
import shutil
import tempfile

from vlm_perception.model import DEFAULT_MODEL_PATH, VLMConfig
from vlm_perception.model.native import CONFIG_FILE, WEIGHTS_FILE
from vlm_perception.model.random_models import build_random_native, build_random_owl, PRESETS

OWL_KIND = 'owlvit'


@dataclass(frozen=True)
class BenchModel:
    """One model to measure: ``key`` names it in the report; ``kind`` is its backend."""

    key: str
    folder: str
    kind: str
    description: str


def default_cache_dir():
    """Return the folder built benchmark models are kept in (XDG cache)."""
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return os.path.join(base, 'vlm_perception', 'bench')


def _complete(folder):
    return all(os.path.isfile(os.path.join(folder, name)) for name in (CONFIG_FILE, WEIGHTS_FILE))


def default_model(workdir, path=None, tiny=False):
    """
    Return the BenchModel of the default model.

    path: a native model folder to use instead. Otherwise the shipped model, or when
    ``tiny`` a random ``VLMConfig.tiny()`` model written to ``workdir``.
    """
    if path is not None:
        return BenchModel('default', os.path.abspath(path), 'native', f'native model {path}')
    if not tiny:
        return BenchModel('default', DEFAULT_MODEL_PATH, 'native',
                          'shipped tabletop model (trained weights)')
    folder = build_random_native(os.path.join(workdir, 'default-standin'), VLMConfig.tiny(),
                                 seed=0)
    return BenchModel('default', folder, 'native', 'random stand-in, VLMConfig.tiny()')


def owl_model(preset, cache_dir, workdir):
    """
    Return the BenchModel of a random OWL-ViT of ``preset`` size ('tiny', 'base32').

    'tiny' is built in ``workdir``; larger presets are built once into ``cache_dir``
    (written to a temporary folder, then renamed, so a broken build is never reused).
    """
    sizes = PRESETS[preset]
    description = (f'OWL-ViT, random weights, {sizes["vision_layers"]} x '
                   f'{sizes["vision_width"]} ViT, patch {sizes["patch_size"]}, '
                   f'{sizes["image_size"]} px input')
    key = f'{OWL_KIND}_{preset}'
    if preset == 'tiny':
        folder = build_random_owl(os.path.join(workdir, key), OWL_KIND, preset, seed=0)
        return BenchModel(key, folder, OWL_KIND, description)
    folder = os.path.join(cache_dir, f'{OWL_KIND}-{preset}-seed0')
    if not _complete(folder):
        os.makedirs(cache_dir, exist_ok=True)
        building = tempfile.mkdtemp(prefix=f'{OWL_KIND}-{preset}-', dir=cache_dir)
        try:
            build_random_owl(building, OWL_KIND, preset, seed=0)
            shutil.rmtree(folder, ignore_errors=True)
            os.rename(building, folder)
        finally:
            shutil.rmtree(building, ignore_errors=True)
    return BenchModel(key, folder, OWL_KIND, description)
