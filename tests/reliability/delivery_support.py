"""Shared by the delivery tests (issue 19): two demo nights in a private var root, and where their files are."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from governance_demo import write_demo_data

from governance.keys import generate_keyring, keyring_to_json
from governance.settings import Settings, get_settings
from governance.sources.pull import landing_folder
from governance.standards.catalogue import load_catalogue

RESIDENTS = "public_security/resident_population"  # snapshot, CSV
DAY_BEFORE, DAY = date(2026, 11, 26), date(2026, 11, 27)


def demo_nights(tmp_path: Path, monkeypatch, catalogue) -> Settings:
    """Demo drops for two nights (no defects), a keyring, a SQLite warehouse: the pipeline's settings."""
    monkeypatch.setenv("GOVERNANCE_VAR_ROOT", str(tmp_path))
    monkeypatch.setenv("GOVERNANCE_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'warehouse' / 'warehouse.db'}")
    monkeypatch.setenv("GOVERNANCE_TASK_RETRIES", "0")
    monkeypatch.setenv("AIRFLOW_VAR_GOVERNANCE_KEYRING", keyring_to_json(generate_keyring()))
    settings = get_settings()
    for day in (DAY_BEFORE, DAY):
        write_demo_data(catalogue, settings.landing_root, settings.var_root, day, rows=200, defect_share=0.0)
    return settings


def settings_dataset(key: str):
    return load_catalogue(get_settings().standards_root).dataset(key)


def resident_file(settings: Settings, day: date) -> Path:
    return next(landing_folder(settings.landing_root, settings_dataset(RESIDENTS), day).glob("*.csv"))
