"""Bulk-download interception: daily quotas and scan patterns answer 429, record a security event and alert."""

from __future__ import annotations

import dataclasses
import json
import logging

from sharing_support import ENTERPRISE, MEDICAL, RESIDENT

from governance.standards.catalogue import Catalogue

AGREEMENT = "civil_affairs_subsistence_identity_check"


def small_quota(catalogue: Catalogue, quota: int) -> Catalogue:
    agreements = dict(catalogue.agreements)
    agreements[AGREEMENT] = agreements[AGREEMENT].model_copy(update={"daily_row_quota": quota})
    return dataclasses.replace(catalogue, agreements=agreements)


def test_agreement_quota_blocks_the_request_that_would_exceed_it(make_api, sharing_catalogue, caplog) -> None:
    api = make_api(catalogue_override=small_quota(sharing_catalogue, 12), alert_webhook="http://alerts.invalid/hook")
    first = api.get("civil_affairs", f"/datasets/{RESIDENT}/rows", limit=10)
    assert len(first.json()["rows"]) == 10
    with caplog.at_level(logging.WARNING, logger="governance.alerts"):
        blocked = api.get("civil_affairs", f"/datasets/{RESIDENT}/rows", limit=5)
    assert blocked.status_code == 429
    assert blocked.json()["error"] == "quota_exceeded"
    assert blocked.json()["message"].startswith("daily row quota of 12 rows for this dataset would be exceeded")
    assert "rows" not in blocked.json()
    # What remains of the quota can still be read; the refused request counted nothing.
    assert len(api.get("civil_affairs", f"/datasets/{RESIDENT}/rows", limit=2).json()["rows"]) == 2
    entry = [row for row in api.log() if row["decision"] == "blocked"]
    assert [(row["reason"], row["status_code"], row["rows_returned"]) for row in entry] == [("quota_exceeded", 429, 0)]
    (event,) = api.events()
    assert (event["consumer"], event["dataset_key"], event["kind"], event["alerted"]) == (
        "civil_affairs", RESIDENT, "quota_exceeded", True)
    assert json.loads(event["detail"]) == {"daily_row_quota": 12, "rows_served_today": 10, "rows_requested": 5,
                                           "day": "2026-06-15"}
    assert [record.levelname for record in caplog.records if record.name == "governance.alerts"] == ["WARNING"]
    assert [(post["details"]["kind"], post["details"]["consumer"], post["details"]["event_id"]) for post in api.posts
            ] == [("quota_exceeded", "civil_affairs", event["id"])]


def test_quota_resets_on_the_next_platform_day(make_api, sharing_catalogue) -> None:
    api = make_api(catalogue_override=small_quota(sharing_catalogue, 10))
    assert api.get("civil_affairs", f"/datasets/{RESIDENT}/rows", limit=10).status_code == 200
    assert api.get("civil_affairs", f"/datasets/{RESIDENT}/rows", limit=1).status_code == 429
    api.clock.set(2026, 6, 16, 0, 5)  # local midnight has passed (still 2026-06-15 in UTC)
    assert api.get("civil_affairs", f"/datasets/{RESIDENT}/rows", limit=10).status_code == 200


def test_default_quota_applies_to_unconditional_datasets_and_lookups(make_api) -> None:
    api = make_api(default_daily_quota=6)
    assert api.get("health", f"/datasets/{MEDICAL}/rows").status_code == 200  # 5 rows
    assert api.lookup("health", MEDICAL, {"key": {"credit_code": "12330000MB00000001"}}).status_code == 200
    response = api.lookup("health", MEDICAL, {"key": {"credit_code": "12330000MB00000002"}})
    assert (response.status_code, response.json()["error"]) == (429, "quota_exceeded")
    assert api.get("human_resources", f"/datasets/{MEDICAL}/rows").status_code == 200  # per consumer


def test_sequential_cursor_pages_through_a_sensitive_dataset_are_blocked(make_api) -> None:
    api = make_api(scan_max_pages=3, scan_window_s=600)
    cursor, statuses = None, []
    for _ in range(6):
        response = api.query("civil_affairs", RESIDENT, limit=2, **({"after": cursor} if cursor else {}))
        statuses.append(response.status_code)
        if response.status_code != 200:
            break
        cursor = response.json()["next_cursor"]
    assert statuses == [200, 200, 200, 200, 429]  # first page + 3 cursor pages, the 4th cursor page is refused
    assert response.json()["error"] == "scan_pattern"
    (event,) = api.events()
    assert event["kind"] == "scan_pattern"
    assert json.loads(event["detail"])["cursor_pages_in_window"] == 4
    assert api.log()[-1]["decision"] == "blocked"
    # Still blocked while the pages are within the window; fine again once they have aged out.
    assert api.query("civil_affairs", RESIDENT, limit=2, after=cursor).status_code == 429
    api.clock.set(2026, 6, 15, 10, 11)
    assert api.query("civil_affairs", RESIDENT, limit=2, after=cursor).status_code == 200


def test_reading_a_large_share_of_a_sensitive_table_is_blocked(make_api) -> None:
    api = make_api(scan_max_share=0.5, scan_min_rows=5)
    assert api.get("civil_affairs", f"/datasets/{RESIDENT}/rows", limit=14).status_code == 200
    response = api.get("civil_affairs", f"/datasets/{RESIDENT}/rows", limit=5)
    assert (response.status_code, response.json()["error"]) == (429, "scan_pattern")
    assert json.loads(api.events()[0]["detail"]) == {"rows_in_window": 19, "table_rows": 30, "max_share": 0.5,
                                                     "window_s": 3600}


def test_datasets_without_sensitive_columns_are_not_watched_for_scans(make_api) -> None:
    api = make_api(scan_max_pages=1, scan_max_share=0.1, scan_min_rows=1)
    cursor = None
    for _ in range(4):
        response = api.query("health", MEDICAL, limit=1, **({"after": cursor} if cursor else {}))
        assert response.status_code == 200
        cursor = response.json()["next_cursor"]
    assert api.get("health", f"/datasets/{ENTERPRISE}/rows", limit=1).status_code == 200
    assert api.get("health", f"/datasets/{ENTERPRISE}/rows", limit=1).status_code == 429  # legal_representative: L3


def test_alerts_are_throttled_but_every_block_is_recorded(make_api, sharing_catalogue) -> None:
    api = make_api(catalogue_override=small_quota(sharing_catalogue, 1), alert_webhook="http://alerts.invalid/hook")
    for _ in range(3):
        assert api.get("civil_affairs", f"/datasets/{RESIDENT}/rows", limit=2).status_code == 429
    assert [event["alerted"] for event in api.events()] == [True, False, False]
    assert len(api.posts) == 1


def test_the_webhook_receives_a_json_post_without_data_values(make_api, sharing_catalogue, webhook) -> None:
    url, received = webhook
    api = make_api(catalogue_override=small_quota(sharing_catalogue, 1), alert_webhook=url, capture=False)
    assert api.get("civil_affairs", f"/datasets/{RESIDENT}/rows", limit=3).status_code == 429
    (event,) = api.events()
    assert event["alerted"] is True
    (post,) = received  # the platform's one alert shape (governance.alerts), as the oversight alerts
    assert (post["source"], post["subject"]) == ("governance",
                                                 f"[共享接口拦截] quota_exceeded: civil_affairs -> {RESIDENT}")
    assert post["message"].startswith(f"安全事件 {event['id']}: civil_affairs 对 {RESIDENT} 的请求被拦截")
    assert post["details"] == {"event_id": event["id"], "kind": "quota_exceeded", "consumer": "civil_affairs",
                               "dataset_key": RESIDENT, "at": "2026-06-15T02:00:00Z",
                               "detail": {"daily_row_quota": 1, "rows_served_today": 0, "rows_requested": 3,
                                          "day": "2026-06-15"}}


def test_a_failing_webhook_leaves_the_event_unalerted(make_api, sharing_catalogue) -> None:
    def refuse(url, payload):
        raise ConnectionError("receiver down")

    api = make_api(catalogue_override=small_quota(sharing_catalogue, 1), alert_webhook="http://127.0.0.1:9/none")
    api.client.app.state.services.alerter._post = refuse
    assert api.get("civil_affairs", f"/datasets/{RESIDENT}/rows", limit=3).status_code == 429
    assert [event["alerted"] for event in api.events()] == [False]
