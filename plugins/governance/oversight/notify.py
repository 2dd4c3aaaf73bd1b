"""Alerts for people on call: always a log line, plus e-mail and/or a webhook when configured.

:class:`GovernanceNotifier` is an Airflow notifier (``BaseNotifier``), so the same object serves
the hourly freshness check (called from the task) and the nightly DAGs' Deadline Alerts (named in
a ``SyncCallback``; the executor instantiates it with the callback kwargs and calls it with the
deadline's context). Channels come from settings when it runs, never from the DAG file, so
addresses and URLs are not baked into serialized DAGs.

E-mail goes through the smtp provider's ``SmtpNotifier`` (the SMTP connection holds server and
credentials); the webhook receives a small JSON document (subject, message, source). Every channel
is tried even when another fails; a failure is logged and then raised as
:class:`NotificationFailed`, so the caller can remember the alert was not delivered.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from typing import Any

import httpx
from airflow.sdk.bases.notifier import BaseNotifier

from governance.errors import TransientError
from governance.settings import get_settings

log = logging.getLogger("governance.oversight.alerts")
WEBHOOK_TIMEOUT_S = 10.0


class NotificationFailed(TransientError):
    """At least one configured channel could not deliver the alert (the log line was written)."""


class GovernanceNotifier(BaseNotifier):
    """Log, e-mail and/or POST one alert. ``subject`` and ``message`` are Jinja templates over the context.

    :param subject: one line, e.g. ``[数据时效] health/medical_institution: fresh -> stale``.
    :param message: plain text; e-mailed as preformatted HTML, posted as JSON.
    :param email_to: recipients (default: ``GOVERNANCE_ALERT_EMAIL_TO``, comma-separated; empty: no mail).
    :param webhook_url: default ``GOVERNANCE_ALERT_WEBHOOK_URL`` (empty: no webhook).
    """

    template_fields = ("subject", "message")

    def __init__(self, subject: str, message: str = "", *, email_to: str | Sequence[str] | None = None,
                 webhook_url: str | None = None, smtp_conn_id: str | None = None, level: str = "warning",
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
                failures.append(f"webhook: {type(error).__name__}: {error}")
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
        payload = {"source": "governance", "subject": self.subject, "message": self.message}
        response = httpx.post(self.webhook_url, json=payload, timeout=WEBHOOK_TIMEOUT_S)
        response.raise_for_status()
