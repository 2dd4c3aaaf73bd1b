"""A dataset's suite file checked at DAG parsing, without GX: one that does not parse disables that dataset's
DAG (an import error naming file and line) instead of failing its validate task every night.

Only what can be checked from the JSON is checked here (it parses, holds an ``expectations`` list of objects
with a ``type`` and ``kwargs``); `governance suites check` checks the rest against GX and the standards.
"""

from __future__ import annotations

from pathlib import Path

from governance.standards.models import Dataset
from governance.standards.problems import Problem
from governance.validation.suites import SuiteError, read_suite_json, suite_path


def suite_file_problem(dataset: Dataset, expectations_root: Path) -> Problem | None:
    path = suite_path(dataset, expectations_root)
    file = str(Path(expectations_root.name, dataset.department, path.name))
    try:
        suite = read_suite_json(path)
    except SuiteError as error:
        return Problem(file, error.line, "", "suite-file", error.message)
    expectations = suite.get("expectations")
    if not isinstance(expectations, list):
        return Problem(file, None, "expectations", "suite-file", "a suite holds an 'expectations' list")
    for index, expectation in enumerate(expectations):
        if not (isinstance(expectation, dict) and isinstance(expectation.get("type"), str)
                and isinstance(expectation.get("kwargs", {}), dict)):
            return Problem(file, None, f"expectations[{index}]", "suite-file",
                           "each expectation is an object with a 'type' (text) and 'kwargs' (an object)")
    return None
