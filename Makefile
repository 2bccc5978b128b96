# The two commands a newcomer needs: `make demo` and `make test`.
# Both build the environment first (`make setup`: idempotent, seconds when nothing changed).
SHELL := /bin/bash
ENV := source scripts/env.sh

.PHONY: setup demo test bench clean

setup:
	@scripts/setup.sh

demo: setup
	@$(ENV) && python -m vlm_perception.demo

test: setup
	@$(ENV) && pytest

bench: setup
	@$(ENV) && python -m vlm_perception.cli bench --json bench.json

clean:
	rm -rf build install log
