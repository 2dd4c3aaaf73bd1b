"""The raw quarantine report the web app tests' client is seeded with (tests/webapp/conftest.py).

A module of its own, not the conftest: ``from conftest import ...`` finds whichever conftest is first on the path
when several test folders are collected together."""

REPORT = "/reports/health/medical_institution/quarantine_2026-11-27.html"
