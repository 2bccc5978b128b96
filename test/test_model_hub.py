# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Hub ids without a network: the local Hugging Face cache first, one clear line otherwise.

These machines have no route to the hub, so the unreachable case is the real one: the
processes here run with HF_HUB_OFFLINE unset (the test session sets it for everything
else). A model in the cache is a tiny random OWL-ViT laid out as huggingface_hub lays
out a download. Where the hub does answer, the tests that would download skip.
"""

import http.server
import json
import os
from pathlib import Path
import shutil
import socket
import subprocess
import sys
import threading

import pytest
from vlm_perception.local_graph import installed_executable
from vlm_perception.model import hub, ModelLoadError
from vlm_perception.model.random_models import build_random_owl

CACHED_ID = 'vlm-test/tiny-owlvit'
UNCACHED_ID = 'google/owlvit-base-patch32'
# Environment of a process that may use the network: no offline switches, its own cache.
OFFLINE_VARIABLES = ('HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE', 'HF_HOME', 'HF_ENDPOINT')
# Guards against a hang, not a speed claim: before, the failure took ~25 s of retries.
HANG_GUARD = 60


def online_environment(cache):
    """Return os.environ without the offline switches, with ``cache`` as the HF hub cache."""
    env = {name: value for name, value in os.environ.items() if name not in OFFLINE_VARIABLES}
    return dict(env, HF_HUB_CACHE=str(cache), PYTHONUNBUFFERED='1')


def lay_out_as_hub_cache(folder, cache, model_id, revision='0' * 40):
    """Copy a saved model ``folder`` into ``cache`` where huggingface_hub keeps ``model_id``."""
    repo = Path(cache) / ('models--' + model_id.replace('/', '--'))
    shutil.copytree(folder, repo / 'snapshots' / revision)
    (repo / 'refs').mkdir()
    (repo / 'refs' / 'main').write_text(revision)
    return repo


@pytest.fixture(scope='module')
def hub_unreachable():
    """Skip where the real hub answers: the tests below would download from it."""
    from huggingface_hub import constants

    if hub.hub_answers(constants.ENDPOINT):
        pytest.skip('the Hugging Face hub answers here')


class Answer404(http.server.BaseHTTPRequestHandler):
    """A server that answers every request with 404."""

    def do_HEAD(self):  # noqa: N802 (the name http.server calls)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_hub_answers_tells_a_server_from_silence_and_no_server():
    server = http.server.HTTPServer(('127.0.0.1', 0), Answer404)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert hub.hub_answers(f'http://127.0.0.1:{server.server_port}')  # 404 is an answer
    finally:
        server.shutdown()
        server.server_close()
    closed = socket.socket()
    closed.bind(('127.0.0.1', 0))
    port = closed.getsockname()[1]
    closed.close()
    assert not hub.hub_answers(f'http://127.0.0.1:{port}')
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(('127.0.0.1', 0))
        silent.listen()
        assert not hub.hub_answers(f'http://127.0.0.1:{silent.getsockname()[1]}', timeout=0.5)


def test_offline_mode_is_one_line_on_how_to_bring_the_model(monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, 'HF_HUB_OFFLINE', True)
    monkeypatch.setattr(huggingface_hub.constants, 'HF_HUB_CACHE', str(tmp_path))
    with pytest.raises(ModelLoadError) as raised:
        hub.hub_access(UNCACHED_ID)
    message = str(raised.value)
    assert '\n' not in message and 'HF_HUB_OFFLINE is set' in message
    assert f'hf download {UNCACHED_ID}' in message and '--local-dir' in message
    assert 'models--google--owlvit-base-patch32' in message and str(tmp_path) in message


# Runs with the network allowed: loads the cached id, then tries the uncached one.
LOAD_SCRIPT = """
import json, sys, time
from vlm_perception.model import load_model, ModelLoadError
result = {}
detector = load_model(sys.argv[1], device='cpu')
result['cached'] = [detector.model_id, detector.backend]
start = time.monotonic()
try:
    load_model(sys.argv[2], device='cpu')
except ModelLoadError as error:
    result['uncached'] = str(error)
result['uncached_seconds'] = time.monotonic() - start
print(json.dumps(result))
"""


def test_a_cached_hub_id_loads_and_an_uncached_one_fails_at_once(hub_unreachable, tmp_path):
    cache = tmp_path / 'hub'
    lay_out_as_hub_cache(build_random_owl(str(tmp_path / 'owl'), 'owlvit', 'tiny'), cache,
                         CACHED_ID)
    run = subprocess.run([sys.executable, '-c', LOAD_SCRIPT, CACHED_ID, UNCACHED_ID],
                         capture_output=True, text=True, timeout=HANG_GUARD,
                         env=online_environment(cache))
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.splitlines()[-1])
    assert result['cached'] == [CACHED_ID, 'owlvit']
    assert 'does not answer' in result['uncached'] and '\n' not in result['uncached']
    assert f'hf download {UNCACHED_ID}' in result['uncached']
    # transformers' hub retries print 'Retrying in ...' lines; none may have run.
    assert 'Retrying' not in run.stderr, run.stderr


@pytest.mark.ros
def test_the_node_ends_with_one_fatal_line_for_an_uncached_hub_model(
        hub_unreachable, tmp_path):
    env = online_environment(tmp_path / 'empty_cache')
    process = subprocess.run(
        [installed_executable('vlm_perception_node'), '--ros-args',
         '-p', f'model:={UNCACHED_ID}', '-p', 'device:=cpu'],
        capture_output=True, text=True, timeout=HANG_GUARD,
        env=dict(env, RCUTILS_COLORIZED_OUTPUT='0'))
    assert process.returncode == 1
    lines = [line for line in (process.stdout + process.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith('[FATAL]') and f'hf download {UNCACHED_ID}' in lines[0]
