# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The ``vlm-perception`` command line: one entry point, one module per subcommand.

Each subcommand module exposes ``add_arguments(parser)`` and ``run(args) -> int``
and is imported only when its subcommand runs, so ``detect`` never pays for the
training or benchmark code.
"""

import argparse
import importlib
import sys

# name -> (module, one-line help)
SUBCOMMANDS = {
    'detect': ('vlm_perception.model.detect_cli', 'detect objects named in text in an image'),
    'ask': ('vlm_perception.ask_cli', 'ask a running vlm_perception_node once (~/detect)'),
    'train': ('vlm_perception.training.train', 'train the native model on the synthetic world'),
    'eval': ('vlm_perception.training.evaluate', 'evaluate a model on a held-out synthetic set'),
    'bench': ('vlm_perception.bench', 'measure model, node and pipeline speed'),
}


def main(argv=None):
    """Parse ``argv``, run the chosen subcommand and return its exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(
        prog='vlm-perception',
        description='Open-vocabulary detection with vlm_perception models: detect, train, '
                    'evaluate, benchmark.')
    commands = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')
    chosen = next((arg for arg in argv if not arg.startswith('-')), None)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(sub)
            sub.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == '__main__':
    sys.exit(main())
