"""The platform's one alert path: always a log line, plus e-mail and/or a webhook when configured.

:class:`GovernanceNotifier` is an Airflow notifier (``BaseNotifier``), so the same object serves
the nightly DAGs' failure callbacks and Deadline Alerts (named in a ``SyncCallback``; the executor
instantiates it with the callback kwargs and calls it with the deadline's context), the hourly
freshness check, the delivery-window and standards notices (called from tasks), and the sharing
API's security events (called from its alert thread). Channels come from settings when it runs,
never from the DAG file, so addresses and URLs are not baked into serialized DAGs.

E-mail goes through the smtp provider's ``SmtpNotifier`` (the SMTP connection holds server and
credentials); the webhook (``GOVERNANCE_ALERT_WEBHOOK_URL``) receives one JSON shape for every alert:
``{"source", "subject", "message", "details"}``. Every channel is tried even when another fails; a
failure is logged (never the webhook's URL, which may carry a token) and then raised as
:class:`NotificationFailed`, so the caller can remember the alert was not delivered.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx
from airflow.sdk.bases.notifier import BaseNotifier

from governance.errors import TransientError
from governance.settings import get_settings

log = logging.getLogger("governance.alerts")
WEBHOOK_TIMEOUT_S = 10.0


class NotificationFailed(TransientError):
    """At least one configured channel could not deliver the alert (the log line was written)."""


class GovernanceNotifier(BaseNotifier):
    """Log, e-mail and/or POST one alert. ``subject`` and ``message`` are Jinja templates over the context.

    :param subject: one line, e.g. ``[数据时效] health/medical_institution: fresh -> stale``.
    :param message: plain text; e-mailed as preformatted HTML, posted as JSON.
    :param email_to: recipients (default: ``GOVERNANCE_ALERT_EMAIL_TO``, comma-separated; empty: no mail).
    :param webhook_url: default ``GOVERNANCE_ALERT_WEBHOOK_URL`` (empty: no webhook).
    :param details: machine-readable facts for the webhook (counts, keys; never data values).
    :param post: sends the webhook's JSON (default an HTTP POST); the sharing API's tests record it instead.
    """

    template_fields = ("subject", "message")

    def __init__(self, subject: str, message: str = "", *, email_to: str | Sequence[str] | None = None,
                 webhook_url: str | None = None, smtp_conn_id: str | None = None, level: str = "warning",
                 details: Mapping[str, Any] | None = None, post: Callable[[str, dict[str, Any]], None] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)  # BaseNotifier takes the deadline callback's ``context``
        settings = get_settings()
        self.subject = subject
        self.message = message
        recipients = settings.alert_email_to if email_to is None else email_to
        if isinstance(recipients, str):
            recipients = [address.strip() for address in recipients.split(",")]
        self.email_to = [address for address in recipients if address]
        self.email_from = settings.alert_email_from or None
        self.webhook_url = settings.alert_webhook_url if webhook_url is None else webhook_url
        self.smtp_conn_id = smtp_conn_id or settings.alert_smtp_conn_id
        self.level = level
        self.details = dict(details or {})
        self.post = post or post_json

    @property
    def channels(self) -> list[str]:
        return ["log", *(["email"] if self.email_to else []), *(["webhook"] if self.webhook_url else [])]

    def notify(self, context: Any) -> None:
        log.log(logging.INFO if self.level == "info" else logging.WARNING, "%s\n%s", self.subject, self.message)
        failures = []
        if self.email_to:
            try:
                self._email(context)
            except Exception as error:
                failures.append(f"email to {', '.join(self.email_to)}: {type(error).__name__}: {error}")
        if self.webhook_url:
            try:
                self._post()
            except Exception as error:
                failures.append(f"webhook: {_without_url(error)}")
        if failures:
            for failure in failures:
                log.error("alert not delivered (%s): %s", self.subject, failure)
            raise NotificationFailed("; ".join(failures))

    def _email(self, context: Any) -> None:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        body = f"<pre style='font-family:monospace'>{html.escape(self.message)}</pre>"
        SmtpNotifier(to=self.email_to, from_email=self.email_from, subject=self.subject, html_content=body,
                     smtp_conn_id=self.smtp_conn_id).notify(context)

    def _post(self) -> None:
        self.post(self.webhook_url, {"source": "governance", "subject": self.subject, "message": self.message,
                                     "details": self.details})


def post_json(url: str, payload: dict[str, Any]) -> None:
    response = httpx.post(url, json=payload, timeout=WEBHOOK_TIMEOUT_S)
    response.raise_for_status()


def _without_url(error: Exception) -> str:
    """The failure without the webhook's address (httpx puts it in its messages; it may hold a token)."""
    if isinstance(error, httpx.HTTPStatusError):
        return f"HTTP {error.response.status_code}"
    return type(error).__name__


def run_failed(dag_id: str) -> GovernanceNotifier:
    """The DAG-level failure callback of a dataset DAG: one alert per failed run (not per task or retry)."""
    return GovernanceNotifier(
        subject=f"[夜间运行失败] {dag_id}: run failed",
        message=(f"{dag_id} 的运行 {{{{ dag_run.run_id }}}} 失败, 本数据集的共享数据未更新; 原因见运行记录和任务日志。"
                 f"\nThe run {{{{ dag_run.run_id }}}} of {dag_id} failed: the shared data was not updated. "
                 "The run record and the task logs say why."))
