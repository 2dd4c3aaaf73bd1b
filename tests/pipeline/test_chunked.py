"""Any chunk size gives exactly what one chunk (the whole drop at once) gives: same passed and quarantined rows
(rules and reasons included), same masked output (encrypted values compared after decryption), same published
table, with duplicate keys that span chunks quarantined, never dropped and never failing the publish."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from governance_demo import write_demo_data

from governance.errors import retry_can_help
from governance.keys import decrypt_values, generate_keyring, keyring_to_json
from governance.pipeline import chunked, steps
from governance.pipeline.steps import IncompleteOutput
from governance.settings import get_settings
from governance.sources.delivery import write_manifest

DAY = datetime.date(2026, 11, 27)
RESIDENTS = "public_security/resident_population"
ALLOWANCE = "civil_affairs/subsistence_allowance"  # SQL source, an encrypted column
IGNORED = {"reports", "data_docs", "chunks"}


@pytest.fixture
def night(tmp_path: Path, monkeypatch, catalogue, warehouse_url):
    monkeypatch.setenv("GOVERNANCE_VAR_ROOT", str(tmp_path))
    monkeypatch.setenv("GOVERNANCE_WAREHOUSE_URL", warehouse_url)
    keyring = generate_keyring()
    monkeypatch.setenv("AIRFLOW_VAR_GOVERNANCE_KEYRING", keyring_to_json(keyring))
    settings = get_settings()
    write_demo_data(catalogue, settings.landing_root, settings.var_root, DAY, rows=2400, defect_share=0.05)
    for connection_id, uri in json.loads((settings.var_root / "secrets" / "connections.json").read_text()).items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{connection_id.upper()}", uri if isinstance(uri, str) else json.dumps(uri))
    drop = next((settings.landing_root / "public_security" / "resident_population" / DAY.isoformat()).glob("*.csv"))
    lines = drop.read_text(encoding="utf-8").splitlines(keepends=True)
    # Keys repeated far apart: the first rows again at the end, so duplicates span the first and last chunks.
    drop.write_text("".join([*lines, lines[1], lines[2], lines[1]]), encoding="utf-8")
    write_manifest(drop.parent, catalogue.dataset("public_security/resident_population"), DAY, "test export")
    return keyring


def run_path(dataset_key: str, run_id: str, chunk_rows: int | None) -> steps.Run:
    """Pull, validate and mask in chunks of ``chunk_rows`` (None: the default, one chunk here), publish."""
    run = steps.Run.create(dataset_key, run_id, DAY)
    steps.pull(run)
    chunks = chunked.validate_and_mask(run, chunk_rows).chunks
    assert chunks == 1 if chunk_rows is None else chunks > 1
    steps.publish(run)
    return run


def clear(frame: pd.DataFrame, run: steps.Run, keyring) -> pd.DataFrame:
    """Text values, encrypted columns decrypted (AES-GCM nonces differ from run to run)."""
    out = frame.reset_index(drop=True).astype(object).where(frame.reset_index(drop=True).notna(), None)
    for column in run.catalogue.columns(run.dataset):
        if column.masking.rule == "encrypt" and column.name in out.columns:
            out[column.name] = decrypt_values(pd.Series(out[column.name], dtype="string"), keyring,
                                              column.element.key, purpose="test", actor="test",
                                              audit=lambda event: None).astype(object)
    return out.astype(str)


def published(run: steps.Run) -> pd.DataFrame:
    table = run.area.read_step("publish")["table"]
    with run.engine.connect() as connection:
        frame = pd.read_sql(sa.text(f"SELECT * FROM {table}"), connection)
    return frame.drop(columns=["_run_id", "_loaded_at"]).sort_values("id_number").reset_index(drop=True)


@pytest.mark.parametrize(("dataset_key", "chunk_rows"), [(RESIDENTS, 397), (ALLOWANCE, 29)])
def test_chunks_equal_one_chunk(night, dataset_key: str, chunk_rows: int) -> None:
    keyring = night
    whole = run_path(dataset_key, "manual__whole", None)
    expected = {"validate": whole.area.read_step("validate"), "mask": whole.area.read_step("mask"),
                "passed": pd.read_parquet(whole.area.passed), "quarantined": pd.read_parquet(whole.area.quarantined),
                "masked": pd.read_parquet(whole.area.masked), "published": published(whole),
                # the quarantine reports' bytes, read now: the chunked run rewrites the same files
                "reports": [Path(path).read_bytes() for path in whole.area.read_step("validate")["reports"]]}
    parts = run_path(dataset_key, "manual__chunked", chunk_rows)

    got_validate = parts.area.read_step("validate")
    assert {k: v for k, v in got_validate.items() if k not in IGNORED} == {
        k: v for k, v in expected["validate"].items() if k not in IGNORED}
    assert parts.area.read_step("mask") == expected["mask"]
    assert [Path(path).read_bytes() for path in got_validate["reports"]] == expected["reports"]
    for name in ("passed", "quarantined"):
        got = pd.read_parquet(getattr(parts.area, name)).astype(object)
        want = expected[name].astype(object)
        assert list(got.columns) == list(want.columns)
        pd.testing.assert_frame_equal(got.where(got.notna(), None).reset_index(drop=True),
                                      want.where(want.notna(), None).reset_index(drop=True), check_dtype=False)
    pd.testing.assert_frame_equal(clear(pd.read_parquet(parts.area.masked), parts, keyring),
                                  clear(expected["masked"], whole, keyring))
    pd.testing.assert_frame_equal(clear(published(parts), parts, keyring),
                                  clear(expected["published"], whole, keyring))
    if dataset_key == RESIDENTS:
        quarantined = pd.read_parquet(parts.area.quarantined)
        duplicated = quarantined[quarantined["_rules"].str.contains("id_number.unique", regex=False)]
        assert {2, 3}.issubset(set(duplicated["_source_line"]))  # first rows, repeated in the last chunk
        assert got_validate["rows_received"] == got_validate["rows_passed"] + got_validate["rows_quarantined"]
    for run in (whole, parts):
        record = steps.record(run)
        assert record.rows_published == record.rows_passed


def test_the_publish_step_itself_refuses_an_incomplete_masked_output(night) -> None:
    """Any caller of ``steps.publish`` (not only the DAG's task) gets the completeness check, and no retry helps."""
    run = steps.Run.create(RESIDENTS, "manual__incomplete", DAY)
    steps.pull(run)
    validated = chunked.validate_and_mask(run, 700)
    assert validated.chunks == 4
    (run.area.masked / "part-00001.parquet").unlink()  # what a second process resetting the run leaves behind
    with pytest.raises(IncompleteOutput, match=rf"in 3 part\(s\) but validate passed {validated.rows_passed} "
                                               r"row\(s\) in 4 chunk\(s\); nothing was published") as refused:
        steps.publish(run)
    assert not retry_can_help(refused.value)
    assert run.area.read_step("publish") == {}
    with run.engine.connect() as connection:
        assert not sa.inspect(connection).has_table("public_security__resident_population", schema="shared")
