# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""Every source file starts with the project's copyright and licence lines."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEADER = ['# Copyright 2026 The vlm_perception Authors', '# SPDX-License-Identifier: Apache-2.0']
SOURCE_GLOBS = ['setup.py', 'vlm_perception/**/*.py', 'test/**/*.py', 'launch/*.py',
                'scripts/*.sh', '.ci/run']


def source_files():
    """Return every Python and shell source file the project owns."""
    files = {path for pattern in SOURCE_GLOBS for path in ROOT.glob(pattern) if path.is_file()}
    return sorted(path for path in files if '__pycache__' not in path.parts)


@pytest.mark.copyright
@pytest.mark.linter
def test_copyright_header():
    files = source_files()
    assert len(files) > 5, 'the glob found too few files to be checking the project'
    missing = []
    for path in files:
        lines = [line for line in path.read_text(encoding='utf-8').splitlines()[:4]
                 if not line.startswith('#!')]
        if lines[:2] != HEADER:
            missing.append(str(path.relative_to(ROOT)))
    assert not missing, 'files without the copyright and licence header:\n' + '\n'.join(missing)
