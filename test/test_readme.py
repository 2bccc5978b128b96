# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""The README stays true: its commands exist, and it documents every parameter and field."""

import ast
from pathlib import Path
import re

from vlm_perception.params import PARAMETERS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / 'README.md').read_text(encoding='utf-8')


def launch_arguments(name):
    """Return the argument names a launch file declares in its ARGUMENTS table."""
    tree = ast.parse((ROOT / 'launch' / name).read_text(encoding='utf-8'))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', '') == 'ARGUMENTS':
            return [row.elts[0].value for row in node.value.elts]
    raise AssertionError(f'no ARGUMENTS in {name}')


def test_every_parameter_is_in_the_table_with_its_default():
    for spec in PARAMETERS:
        row = re.search(rf'^\| `{spec.name}` \| `([^`]*)` \|', README, re.MULTILINE)
        assert row, f'{spec.name} is not in the README parameter table'
        assert row.group(1) == repr(spec.default), spec.name


def test_every_launch_argument_and_message_field_is_documented():
    for launch_file in ('vlm_perception.launch.py', 'demo.launch.py'):
        for name in launch_arguments(launch_file):
            assert f'`{name}`' in README, (launch_file, name)
    for line in (ROOT / 'msg' / 'MultimodalFeatures.msg').read_text().splitlines():
        line = line.split('#')[0].split()
        if len(line) == 2:
            assert f'`{line[1]}`' in README, line[1]


def test_the_two_commands_and_ci_agree():
    makefile = (ROOT / 'Makefile').read_text()
    for target in ('demo', 'test', 'bench'):
        assert f'make {target}' in README and re.search(rf'^{target}:', makefile, re.M)
    assert 'make test' in (ROOT / '.ci' / 'run').read_text()
    for placeholder in ('DEMO_OUTPUT', 'BENCH_SECTION', 'STATUS_SECTION', 'EVAL_TABLE',
                        'TEST_COUNTS'):
        assert placeholder not in README
