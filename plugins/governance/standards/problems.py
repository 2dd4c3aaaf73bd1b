"""Problems found in standards or suites, as data, so the CLI, tests and UI show the same."""

from __future__ import annotations

from dataclasses import dataclass

from governance.errors import ConfigurationError


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    path: str
    rule: str
    message: str

    def sort_key(self) -> tuple[str, int, str]:
        return (self.file, self.line or 0, self.path)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        at = f" at {self.path}" if self.path else ""
        return f"{where}{at}: {self.message} [{self.rule}]"


class StandardsError(ConfigurationError):
    """Raised when standards cannot be used; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=Problem.sort_key)
        listing = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the standards:\n{listing}")
