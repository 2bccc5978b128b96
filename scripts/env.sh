# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
#
# Enter the development environment that `make setup` built:
#   source scripts/env.sh
# Activates .venv (ROS 2 Jazzy from PyPI wheels) and the colcon workspace in install/,
# and puts the package's executables on PATH. VLM_VENV=.venv-compat source scripts/env.sh
# enters the robot-versions environment instead (scripts/setup.sh compat).

_vlm_root=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)
_vlm_venv=$_vlm_root/${VLM_VENV:-.venv}
if [ ! -f "$_vlm_root/install/setup.bash" ]; then
    echo "scripts/env.sh: no build in $_vlm_root/install; run 'make setup' first" >&2
    return 1 2>/dev/null || exit 1
fi
# shellcheck disable=SC1091
source "$_vlm_venv/bin/activate"
# The wheels never set these; the venv is the ROS prefix the workspace builds on.
export AMENT_PREFIX_PATH=$_vlm_venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}
export CMAKE_PREFIX_PATH=$_vlm_venv${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
export RMW_IMPLEMENTATION=${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}
# install/setup.bash reads unset variables, so it fails under `set -u`.
case $- in *u*) _vlm_nounset=1; set +u ;; *) _vlm_nounset= ;; esac
# shellcheck disable=SC1091
source "$_vlm_root/install/setup.bash"
[ -n "$_vlm_nounset" ] && set -u
# The package's executables (vlm-perception, vlm_perception_node, synthetic_camera) by name,
# as `ros2 run` would find them.
case ":$PATH:" in
    *":$_vlm_root/install/vlm_perception/lib/vlm_perception:"*) ;;
    *) export PATH=$_vlm_root/install/vlm_perception/lib/vlm_perception:$PATH ;;
esac
unset _vlm_root _vlm_venv _vlm_nounset
