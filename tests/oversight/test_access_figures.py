"""Access figures from the sharing API's access log, and the headline figures built on them."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from oversight_support import (
    ENTERPRISE,
    MEDICAL,
    NOW,
    RESIDENT,
    SHANGHAI,
    TAX,
    ensure_access_tables,
    log_calls,
    log_security_event,
    publish_rows,
    record_run,
)

from governance.oversight.access import access_figures, calls_between
from governance.oversight.figures import collect, headline
from governance.standards.catalogue import Catalogue

SINCE = NOW - timedelta(days=7)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


def test_no_access_log_means_zero_calls(warehouse: sa.Engine, catalogue: Catalogue) -> None:
    with warehouse.connect() as connection:
        figures = access_figures(connection, catalogue.datasets, SINCE, NOW, "Asia/Shanghai")
        assert calls_between(connection, SINCE, NOW) == 0
    assert figures.logged is False
    assert figures.total_calls == 0
    assert figures.never_used == sorted(catalogue.datasets)
    assert {row["calls"] for row in figures.datasets} == {0}


def test_calls_rows_consumers_and_refusals_per_dataset_and_local_day(warehouse: sa.Engine,
                                                                     catalogue: Catalogue) -> None:
    ensure_access_tables(warehouse)
    log_calls(warehouse, [
        (local(26, 23, 30), "civil_affairs", RESIDENT, "allowed", 40),  # 15:30 UTC on the 26th
        (local(27, 0, 30), "civil_affairs", RESIDENT, "allowed", 10),  # 16:30 UTC on the 26th, local 27th
        (local(27, 8), "health", RESIDENT, "allowed", 5),
        (local(27, 8, 5), "health", RESIDENT, "allowed", 5),
        (local(27, 9), "taxation", RESIDENT, "denied", 0),
        (local(27, 9, 1), "taxation", RESIDENT, "blocked", 0),
        (local(27, 9, 2), "taxation", ENTERPRISE, "blocked", 0),
        (local(27, 9, 3), "health", ENTERPRISE, "allowed", 7),
        (local(27, 9, 4), "health", None, "allowed", 0),  # a catalogue listing: a call, no dataset
        (local(19, 9), "health", MEDICAL, "allowed", 99),  # before the window
        (local(27, 10), "health", MEDICAL, "allowed", 99),  # at the window's end: excluded
    ])
    log_security_event(warehouse, local(27, 9, 1), "taxation", RESIDENT, "quota_exceeded")
    log_security_event(warehouse, local(27, 9, 2), "taxation", ENTERPRISE, "scan_pattern")
    log_security_event(warehouse, local(27, 9, 3), "taxation", ENTERPRISE, "scan_pattern")

    with warehouse.connect() as connection:
        figures = access_figures(connection, catalogue.datasets, SINCE, NOW, "Asia/Shanghai")

    assert figures.logged and figures.total_calls == 9
    daily = {(row["dataset_key"], row["day"]): row for row in figures.daily}
    assert daily[(RESIDENT, "2026-11-26")] == {"dataset_key": RESIDENT, "day": "2026-11-26", "calls": 1,
                                              "allowed": 1, "denied": 0, "blocked": 0, "rows_served": 40,
                                              "consumers": 1}
    assert daily[(RESIDENT, "2026-11-27")] == {"dataset_key": RESIDENT, "day": "2026-11-27", "calls": 5,
                                              "allowed": 3, "denied": 1, "blocked": 1, "rows_served": 20,
                                              "consumers": 2}  # civil_affairs and health; taxation was refused
    per_dataset = {row["dataset_key"]: row for row in figures.datasets}
    assert list(per_dataset) == sorted(catalogue.datasets)
    assert (per_dataset[RESIDENT]["calls"], per_dataset[RESIDENT]["rows_served"],
            per_dataset[RESIDENT]["consumers"]) == (6, 60, 2)
    assert per_dataset[ENTERPRISE]["blocked"] == 1
    assert [row["dataset_key"] for row in figures.most_used] == [RESIDENT, ENTERPRISE]
    assert figures.never_used == sorted(set(catalogue.datasets) - {RESIDENT, ENTERPRISE})
    assert figures.refusals_daily == [{"day": "2026-11-27", "denied": 1, "blocked": 2}]
    assert figures.refusing_consumers == [{"consumer": "taxation", "denied": 1, "blocked": 2}]
    assert figures.security_events == [{"kind": "quota_exceeded", "events": 1}, {"kind": "scan_pattern", "events": 2}]


def test_headline_figures(warehouse: sa.Engine, catalogue: Catalogue) -> None:
    """Shared = published at least once and unconditional, or conditional with an approved agreement."""
    for key in (RESIDENT, ENTERPRISE, MEDICAL, TAX):
        record_run(warehouse, key, date(2026, 11, 26), finished=NOW - timedelta(hours=7))
        publish_rows(warehouse, catalogue, key, [NOW - timedelta(hours=10)])
    ensure_access_tables(warehouse)
    log_calls(warehouse, [(local(1, 0, 1), "health", RESIDENT, "allowed", 1),
                          (local(15, 12), "health", RESIDENT, "denied", 0),
                          (datetime(2026, 10, 31, 23, tzinfo=SHANGHAI), "health", RESIDENT, "allowed", 1)])

    oversight = collect(warehouse, catalogue, SINCE, NOW)
    figures = oversight.headline

    sharing = {key: catalogue.datasets[key].sharing for key in (RESIDENT, ENTERPRISE, MEDICAL, TAX)}
    agreed = {agreement.dataset for agreement in catalogue.agreements.values()
              if agreement.active_on(NOW.date())}
    expected = [key for key, kind in sharing.items()
                if kind == "unconditional" or (kind == "conditional" and key in agreed)]
    assert (figures.datasets, figures.published, figures.shared) == (6, 4, len(expected))
    assert figures.sharing_rate == pytest.approx(len(expected) / 6)
    assert figures.fresh_now == sum(1 for item in oversight.board if item.status == "fresh")
    assert figures.freshness_compliance == pytest.approx(figures.fresh_now / 6)
    assert (figures.month, figures.monthly_calls) == ("2026-11", 2)


def test_without_agreements_only_unconditional_datasets_count_as_shared(catalogue: Catalogue) -> None:
    import dataclasses

    bare = dataclasses.replace(catalogue, agreements={})
    published = {key: NOW for key in catalogue.datasets}
    figures = headline(bare, [], published, 0, NOW.date())
    unconditional = sum(1 for dataset in catalogue.datasets.values() if dataset.sharing == "unconditional")
    assert figures.shared == unconditional
    assert "有条件共享的数据集不计入" in figures.sharing_note
    assert figures.freshness_compliance is None
