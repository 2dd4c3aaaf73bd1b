"""The ``governance`` command line: one module per command group, each imported when its command runs.

Commands import their library modules inside their handlers so ``governance --help`` and the file-only
commands never load Airflow, Great Expectations or the warehouse (the only place, with Airflow's task
callables in ``orchestration``, where a function-level import is allowed: tests/deployment/test_architecture.py).
"""

from governance.cli.command_line import main

__all__ = ["main"]
