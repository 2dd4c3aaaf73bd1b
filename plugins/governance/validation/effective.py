"""Rules with a business date from which they apply, so a rerun of an old night validates as that night did.

An expectation's ``meta`` may carry:

* ``effective_from``: ``YYYY-MM-DD``, the first business date the rule (as written) applies to;
* ``replaces``: the rule's previous ``kwargs``, applied to business dates before ``effective_from``.

On an earlier business date a rule with ``replaces`` is run with those kwargs (a tightened rule keeps its
older version until its date) and a rule without it is not run at all (a new rule). Without a business date
(``suites preview``, ``suites impact``) every rule is taken as written: what the suite does once in force.
``governance suites check`` validates both keys (:func:`problems`). Only the JSON is touched here, no GX.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from governance.validation.suites import rule_id

EFFECTIVE_FROM, REPLACES = "effective_from", "replaces"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class RulesInForce:
    """The suite as it applies on one business date, and which rules that changed."""

    suite: dict[str, Any]
    day: date | None
    deferred: list[str] = field(default_factory=list)  # not yet in force: not run
    replaced: list[str] = field(default_factory=list)  # run in their previous version (``replaces``)

    def summary(self) -> dict[str, Any]:
        return {"rules_as_of": self.day.isoformat() if self.day else None, "rules_deferred": self.deferred,
                "rules_replaced": self.replaced}


def effective_date(expectation: dict[str, Any]) -> date | None:
    """The rule's ``effective_from`` as a date (None when it has none); ValueError if it is not ``YYYY-MM-DD``."""
    value = (expectation.get("meta") or {}).get(EFFECTIVE_FROM)
    if value is None:
        return None
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError(f"meta.{EFFECTIVE_FROM} must be a date written YYYY-MM-DD, not {value!r}")
    return date.fromisoformat(value)


def in_force(suite: dict[str, Any], day: date | None) -> RulesInForce:
    """``suite`` with each rule as it applies on business date ``day`` (every rule as written if None)."""
    result = RulesInForce(suite, day)
    if day is None:
        return result
    expectations = []
    for index, expectation in enumerate(suite.get("expectations") or []):
        start = effective_date(expectation)
        if start is None or day >= start:
            expectations.append(expectation)
            continue
        name = rule_id(expectation) or f"{expectation.get('type')}[{index}]"
        previous = (expectation.get("meta") or {}).get(REPLACES)
        if previous is None:
            result.deferred.append(name)
        else:
            expectations.append({**expectation, "kwargs": dict(previous)})
            result.replaced.append(name)
    result.suite = {**suite, "expectations": expectations}
    return result


def problems(expectation: dict[str, Any]) -> list[str]:
    """What is wrong with a rule's ``effective_from`` / ``replaces`` (for ``suites check``)."""
    meta = expectation.get("meta") if isinstance(expectation.get("meta"), dict) else {}
    found = []
    try:
        start = effective_date(expectation)
    except ValueError as error:
        found.append(str(error))
        start = None
    previous = meta.get(REPLACES)
    if previous is not None:
        if not isinstance(previous, dict):
            found.append(f"meta.{REPLACES} must be the rule's previous kwargs (an object)")
        elif EFFECTIVE_FROM not in meta:
            found.append(f"meta.{REPLACES} needs meta.{EFFECTIVE_FROM}: the date the new version applies from")
        elif start is not None and previous == expectation.get("kwargs"):
            found.append(f"meta.{REPLACES} is the same as kwargs: nothing changes on {start}")
    return found
