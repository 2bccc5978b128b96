# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Hub ids on a robot: the local Hugging Face cache first, the network only when it answers.

transformers asked for a hub id that is not cached retries the hub for about 25 s when
there is no network, printing a line each time. :func:`hub_access` decides before any
of that: a model whose config is in the cache loads from the cache alone; one that is
not loads from the hub only when the hub answers within a few seconds; otherwise it
raises ModelLoadError with one line saying how to bring the model onto the machine.
"""

import ssl
import threading
import urllib.error
import urllib.request

from .errors import ModelLoadError

CONFIG_FILE = 'config.json'
# Seconds to wait for the hub to answer (DNS included) before calling it unreachable.
REACHABLE_TIMEOUT = 3.0


def is_cached(model_id):
    """Return whether the config of hub id ``model_id`` is in the local Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(model_id, CONFIG_FILE), str)


def hub_answers(endpoint, timeout=REACHABLE_TIMEOUT):
    """
    Return whether the hub at ``endpoint`` answers within ``timeout`` seconds.

    Any HTTP answer, or a TLS error (a server is there, maybe behind an inspecting
    proxy), counts; no route, no name resolution or silence does not. Runs in a thread
    of its own, since a name lookup can block longer than any socket timeout.
    """
    answered = []

    def ask():
        try:
            urllib.request.urlopen(urllib.request.Request(endpoint, method='HEAD'),
                                   timeout=timeout).close()
            answered.append(True)
        except urllib.error.HTTPError:
            answered.append(True)
        except urllib.error.URLError as error:
            answered.append(isinstance(error.reason, ssl.SSLError))
        except (OSError, ValueError):
            answered.append(False)

    thread = threading.Thread(target=ask, name='hub_check', daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(answered and answered[0])


def offline_help(model_id, why):
    """Return the one line that says ``model_id`` cannot be had here, and how to bring it."""
    from huggingface_hub import constants

    cache = constants.HF_HUB_CACHE
    folder = 'models--' + model_id.replace('/', '--')
    return (f'model {model_id} is not in the Hugging Face cache here ({cache}) and {why}. '
            f'To bring it: on a connected machine run `hf download {model_id}` (older '
            f'huggingface_hub: `huggingface-cli download {model_id}`) and copy the folder '
            f'{folder} from its cache (~/.cache/huggingface/hub) into {cache}, or save it '
            f'to a folder (`hf download {model_id} --local-dir DIR`, or save_pretrained(DIR)), '
            f'copy DIR here and give its path as the model')


def hub_access(model_id):
    """
    Return the from_pretrained options that load hub id ``model_id`` without waiting.

    {'local_files_only': True} when the model is cached; {} when it is not but the hub
    answers. Raises ModelLoadError (one line) when it is neither cached nor reachable.
    """
    from huggingface_hub import constants

    if is_cached(model_id):
        return {'local_files_only': True}
    if constants.HF_HUB_OFFLINE:
        raise ModelLoadError(offline_help(model_id, 'HF_HUB_OFFLINE is set'))
    if not hub_answers(constants.ENDPOINT):
        raise ModelLoadError(offline_help(
            model_id, f'{constants.ENDPOINT} does not answer (no network?)'))
    return {}
