# The two commands a newcomer needs: `make demo` and `make test`.
# Both build the environment first (`make setup`: idempotent, seconds when nothing changed).
SHELL := /bin/bash
ENV := source scripts/env.sh
# The robot's library versions (NumPy 1.26, OpenCV 4.6): see scripts/requirements-compat.txt.
COMPAT_ENV := VLM_VENV=.venv-compat source scripts/env.sh

.PHONY: setup setup-compat demo test bench clean

setup:
	@scripts/setup.sh

setup-compat: setup
	@scripts/setup.sh compat

demo: setup
	@$(ENV) && python -m vlm_perception.demo

# Every test, then again the ones that start no ROS graph with the robot's library versions.
test: setup setup-compat
	@$(ENV) && pytest
	@$(COMPAT_ENV) && python -c 'import numpy, cv2; print(f"[compat] NumPy {numpy.__version__}, OpenCV {cv2.__version__}")' \
		&& pytest -m "not ros"

bench: setup
	@$(ENV) && python -m vlm_perception.cli bench --json bench.json

clean:
	rm -rf build install log
