"""A quarantined row that comes back fixed closes its quarantine entry: entries carry a keyed token of the
row's primary key, and the record step closes the dataset's open entries whose key the run published."""

import datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from validation_support import residents

from governance.keys import generate_keyring, keyring_to_json, pseudonymize
from governance.pipeline import chunked, steps
from governance.pipeline.contracts import RecordSummary
from governance.pipeline.quarantine import key_tokens, protect_for_warehouse, split_rows
from governance.settings import REPO_ROOT, get_settings
from governance.sources import SOURCE_FILE, SOURCE_LINE
from governance.sources.delivery import write_manifest
from governance.standards.catalogue import Catalogue, load_catalogue
from governance.validation.verdict import CONFIRM_SHRINK_FILE
from governance.warehouse import quarantine, write_quarantine
from governance.warehouse.records import close_resolved_quarantine

RESIDENTS = "public_security/resident_population"
ENROLLMENT = "human_resources/social_insurance_enrollment"
NIGHT_1, NIGHT_2 = datetime.date(2026, 11, 26), datetime.date(2026, 11, 27)


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(REPO_ROOT / "standards")


@pytest.fixture
def keyring(monkeypatch):
    """The masking keyring as the Airflow Variable ``governance_keyring`` (from the environment)."""
    keyring = generate_keyring()
    monkeypatch.setenv("AIRFLOW_VAR_GOVERNANCE_KEYRING", keyring_to_json(keyring))
    return keyring


def drop(day: datetime.date, frame: pd.DataFrame) -> None:
    folder = get_settings().landing_root / "public_security" / "resident_population" / day.isoformat()
    folder.mkdir(parents=True)
    frame.drop(columns=[SOURCE_FILE, SOURCE_LINE]).to_csv(folder / "residents.csv", index=False)
    write_manifest(folder, load_catalogue(REPO_ROOT / "standards").dataset(RESIDENTS), day, "test export")


def night(day: datetime.date) -> tuple[str, RecordSummary]:
    run = steps.Run.create(RESIDENTS, f"scheduled__{day.isoformat()}T18:00:00+00:00", day)
    for step in (steps.pull, chunked.validate_and_mask, steps.publish):
        step(run)
    return run.run_id, steps.record(run)


def entries(engine: sa.Engine) -> list[tuple]:
    """(run, line, status, closed by, key token) of every quarantine entry, in insertion order."""
    query = sa.select(quarantine.c.run_id, quarantine.c.source_line, quarantine.c.status,
                      quarantine.c.closed_by_run, quarantine.c.key_token).order_by(quarantine.c.id)
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


def test_a_resent_fixed_row_closes_its_entry(tmp_path: Path, monkeypatch, keyring) -> None:
    monkeypatch.setenv("GOVERNANCE_VAR_ROOT", str(tmp_path))
    monkeypatch.delenv("GOVERNANCE_WAREHOUSE_URL", raising=False)
    people = residents(20, seed=41)
    first = people.copy()
    first.loc[2, "ethnicity"] = "99"  # fixed in the second drop
    first.loc[5, "birth_date"] = "1990-02-30"  # still broken in the second drop
    first.loc[7, "name"] = None  # not resent
    drop(NIGHT_1, first)
    run_1, summary_1 = night(NIGHT_1)
    assert (summary_1.rows_quarantined, summary_1.quarantine_closed) == (3, 0)

    second = people.drop(index=7)
    second.loc[5, "birth_date"] = "1990-02-30"
    drop(NIGHT_2, second)
    # 19 of 20 rows is a shrinking register: the department confirms the count (docs/operations.md).
    landing = get_settings().landing_root / "public_security" / "resident_population" / NIGHT_2.isoformat()
    (landing / CONFIRM_SHRINK_FILE).write_text("19", encoding="utf-8")
    run_2, summary_2 = night(NIGHT_2)
    assert (summary_2.rows_quarantined, summary_2.rows_published, summary_2.quarantine_closed) == (1, 18, 1)

    run = steps.Run.create(RESIDENTS, run_2, NIGHT_2)
    docs = Path(run.area.read_step("validate")["data_docs"])  # the validate step built the run's Data Docs
    assert docs.is_file() and docs.is_relative_to(get_settings().docs_root / run.dataset.dag_id)
    found = entries(run.engine)
    assert [entry[:4] for entry in found] == [
        (run_1, 4, "closed", run_2),  # ethnicity fixed and published by night 2
        (run_1, 7, "open", None),  # still broken
        (run_1, 9, "open", None),  # never resent
        (run_2, 7, "open", None),
    ]
    tokens = [entry[4] for entry in found]
    assert tokens[0] == pseudonymize(pd.Series([people.loc[2, "id_number"]]), keyring.pseudonym_key)[0]
    assert tokens[1] == tokens[3]  # the same key in both runs
    assert not set(tokens) & set(people["id_number"])


def test_key_tokens_join_compound_keys_and_skip_missing_ones(catalogue: Catalogue, keyring) -> None:
    columns = catalogue.columns(catalogue.dataset(ENROLLMENT))
    rows = pd.DataFrame({"id_number": ["a", "ab", "a", None], "insurance_type": ["bc", "c", None, "110"]},
                        dtype="string")
    tokens = key_tokens(rows, columns, keyring.pseudonym_key)
    assert tokens[0] != tokens[1]  # the separator keeps ("a", "bc") and ("ab", "c") apart
    assert tokens[0] == pseudonymize(pd.Series(["a\x1fbc"]), keyring.pseudonym_key)[0]
    assert tokens[2:].isna().all()
    assert key_tokens(rows.drop(columns=["insurance_type"]), columns, keyring.pseudonym_key).isna().all()


def test_entries_carry_the_key_token(catalogue: Catalogue, keyring) -> None:
    rows = residents(3).assign(_source_line=[2, 3, 4])
    failures = pd.DataFrame({"row": [1], "rule": ["name.not_null"], "column": ["name"], "reason": ["missing"]})
    _, quarantined = split_rows(rows, failures)
    [entry] = protect_for_warehouse(quarantined, catalogue.columns(catalogue.dataset(RESIDENTS)), keyring)
    assert entry["key_token"] == pseudonymize(rows["id_number"].iloc[[1]], keyring.pseudonym_key).iloc[0]


def test_closing_touches_only_other_runs_open_entries_of_the_dataset(warehouse: sa.Engine) -> None:
    def entry(token: str | None, **fields) -> dict:
        return {"source_file": "f.csv", "source_line": 2, "rules": "x", "masked_row": {}, "raw_row_encrypted": "k:x",
                "key_token": token, **fields}

    write_quarantine(warehouse, "run-1", RESIDENTS, [entry("t1"), entry("t2"), entry(None), entry("t4")])
    write_quarantine(warehouse, "run-0", RESIDENTS, [entry("t4", status="closed", closed_by_run="run-x")])
    write_quarantine(warehouse, "run-1", ENROLLMENT, [entry("t1")])
    write_quarantine(warehouse, "run-2", RESIDENTS, [entry("t2")])
    assert close_resolved_quarantine(warehouse, RESIDENTS, iter(["t1", "t2", "t4", None, "t9"]), "run-2") == 3
    assert close_resolved_quarantine(warehouse, RESIDENTS, ["t1"], "run-3") == 0  # already closed
    assert close_resolved_quarantine(warehouse, RESIDENTS, [], "run-3") == 0
    with warehouse.connect() as connection:
        rows = connection.execute(sa.select(quarantine.c.run_id, quarantine.c.dataset_key, quarantine.c.key_token,
                                            quarantine.c.status, quarantine.c.closed_by_run)
                                  .order_by(quarantine.c.id)).all()
    assert [tuple(row) for row in rows] == [
        ("run-1", RESIDENTS, "t1", "closed", "run-2"),
        ("run-1", RESIDENTS, "t2", "closed", "run-2"),
        ("run-1", RESIDENTS, None, "open", None),
        ("run-1", RESIDENTS, "t4", "closed", "run-2"),
        ("run-0", RESIDENTS, "t4", "closed", "run-x"),
        ("run-1", ENROLLMENT, "t1", "open", None),
        ("run-2", RESIDENTS, "t2", "open", None),  # the run's own entry
    ]


def test_a_quarantine_table_from_before_key_tokens_gets_the_column(warehouse: sa.Engine) -> None:
    old = sa.Table("quarantine", sa.MetaData(schema="governance"), *[
        sa.Column(column.name, column.type, primary_key=column.primary_key, nullable=column.nullable,
                  server_default=column.server_default.arg if column.server_default else None)
        for column in quarantine.columns if column.name != "key_token"])
    with warehouse.begin() as connection:
        old.create(connection)
    write_quarantine(warehouse, "run-1", RESIDENTS, [{"source_line": 2, "rules": "x", "key_token": "t1"}])
    assert close_resolved_quarantine(warehouse, RESIDENTS, ["t1"], "run-2") == 1
    indexes = {index["name"] for index in sa.inspect(warehouse).get_indexes("quarantine", schema="governance")}
    assert "ix_quarantine_key" in indexes
