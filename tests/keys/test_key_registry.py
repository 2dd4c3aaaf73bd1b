"""Wrong, missing and stale keys fail the pipeline's mask step (the chunked path the DAG runs) before anything is
published; first use registers each key id with its fingerprint. Errors never carry keys."""

from __future__ import annotations

import dataclasses
import secrets
from types import SimpleNamespace

import pandas as pd
import pytest
from keyring_helpers import ALLOWANCE, DAY, RESIDENTS, ROWS, assert_no_key_material, table_rows

from governance.errors import retry_can_help
from governance.keys import rotation
from governance.keys.keyring import Keyring, KeyringError, fingerprint, generate_keyring
from governance.keys.registry import load_registry
from governance.pipeline import chunked, steps
from governance.pipeline.chunks import iter_parts
from governance.pipeline.contracts import PublishSummary
from governance.settings import get_settings

TABLE = "shared.civil_affairs__subsistence_allowance"


@pytest.fixture
def run_for(warehouse_url, tmp_path, monkeypatch):
    """``run_for(dataset, people, run_id)``: a pipeline run whose pulled rows are already in its work area."""
    # Sharing grants are another concern (and create cluster-wide roles on PostgreSQL): not applied here.
    monkeypatch.setattr(steps, "apply_grants", lambda *args, **kwargs: SimpleNamespace(applied=False, grants=None))
    settings = dataclasses.replace(get_settings(), var_root=tmp_path, work_root=tmp_path / "work",
                                   reports_root=tmp_path / "reports", warehouse_url=warehouse_url)
    made = []

    def make(dataset: str, people: range, run_id: str) -> steps.Run:
        run = steps.Run(dataset, run_id, DAY, settings)
        rows = pd.DataFrame(ROWS[dataset](people), dtype="string[pyarrow]")
        rows["_source_file"] = pd.Series("drop.csv", index=rows.index, dtype="string[pyarrow]")
        rows["_source_line"] = pd.RangeIndex(2, len(rows) + 2).astype("int64")
        rows.to_parquet(run.area.received, index=False)
        made.append(run)
        return run

    yield make
    for run in made:
        if "engine" in run.__dict__:
            run.engine.dispose()


def mask_and_publish(run: steps.Run) -> PublishSummary:
    """The tasks in DAG order from plan: publish runs only if mask succeeded."""
    chunked.validate_and_mask(run)
    return steps.publish(run)


def test_first_run_registers_each_key_with_its_fingerprint(run_for, keyring_file):
    keyring = keyring_file.load()
    run = run_for(ALLOWANCE, range(1, 6), "night-1")
    assert mask_and_publish(run).rows_published == 5
    registry = load_registry(run.engine)
    assert {key_id: (row.kind, row.fingerprint, row.status) for key_id, row in registry.items()} == {
        keyring.pseudonym_active: ("pseudonym", fingerprint(keyring.pseudonym_key), "active"),
        keyring.encryption_active: ("encryption", fingerprint(keyring.encryption_key), "active")}
    assert run.area.read_step("mask")["key_ids"] == {"pseudonym": keyring.pseudonym_active,
                                                     "encryption": keyring.encryption_active}


@pytest.mark.parametrize("kind", ["pseudonym", "encryption"])
def test_a_wrong_key_under_a_registered_id_fails_the_mask_step_before_publish(run_for, keyring_file, kind):
    right = keyring_file.load()
    first = run_for(ALLOWANCE, range(1, 6), "night-1")
    mask_and_publish(first)
    published = table_rows(first.engine, TABLE, "id_number", "benefit_amount")
    other = secrets.token_bytes(32)
    if kind == "pseudonym":  # same id, different key: e.g. a keyring restored from the wrong environment
        wrong = Keyring({right.pseudonym_active: other}, right.pseudonym_active, dict(right.encryption_keys),
                        right.encryption_active)
        key_id, registered = right.pseudonym_active, fingerprint(right.pseudonym_key)
    else:
        wrong = Keyring(dict(right.pseudonym_keys), right.pseudonym_active, {right.encryption_active: other},
                        right.encryption_active)
        key_id, registered = right.encryption_active, fingerprint(right.encryption_key)
    keyring_file.write(wrong)

    second = run_for(ALLOWANCE, range(3, 12), "night-2")
    with pytest.raises(KeyringError) as error:
        mask_and_publish(second)
    message = str(error.value)
    assert message.startswith(f"key {key_id} does not match the key registered for that id (fingerprint "
                              f"{registered}, configured {fingerprint(other)}): the wrong key is configured; "
                              "nothing was published")
    assert_no_key_material(message + repr(error.value), right, wrong)
    assert not retry_can_help(error.value)  # the task fails at once, no retry
    assert not iter_parts(second.area.masked)
    assert table_rows(second.engine, TABLE, "id_number", "benefit_amount") == published


def test_a_missing_keyring_fails_the_mask_step_before_publish(run_for, keyring_file):
    keyring = keyring_file.load()
    keyring_file.write(None)  # the Variable is gone from the secrets backend
    run = run_for(ALLOWANCE, range(1, 6), "night-1")
    with pytest.raises(KeyringError, match="Airflow Variable governance_keyring is not set") as error:
        mask_and_publish(run)
    assert not iter_parts(run.area.masked)
    with run.engine.connect() as connection:
        assert not connection.dialect.has_table(connection, "civil_affairs__subsistence_allowance", schema="shared")
    assert_no_key_material(str(error.value), keyring)


def test_a_regenerated_keyring_is_refused(run_for, keyring_file):
    mask_and_publish(run_for(ALLOWANCE, range(1, 6), "night-1"))
    keyring_file.write(generate_keyring())  # fresh ids and keys, e.g. `keys init` on a new machine
    run = run_for(ALLOWANCE, range(1, 6), "night-2")
    with pytest.raises(KeyringError, match=r"the registry's active pseudonym key ps-.* is not in the keyring: "
                                           r"the wrong keyring is configured"):
        mask_and_publish(run)
    assert not iter_parts(run.area.masked)


def test_ciphertexts_under_a_key_removed_from_the_keyring_fail_at_mask_time(run_for, keyring_file):
    first = keyring_file.load()
    mask_and_publish(run_for(ALLOWANCE, range(1, 6), "night-1"))
    # A new encryption key goes active (the old one becomes retiring) but the rotation has not run ...
    rotated = first.with_encryption_key("enc-20261201-beef", secrets.token_bytes(32))
    keyring_file.write(rotated)
    mask_and_publish(run_for(RESIDENTS, range(1, 6), "night-2"))
    assert load_registry(run_for(RESIDENTS, range(1), "x").engine)[first.encryption_active].status == "retiring"
    # ... and someone prunes the old key from the keyring too early.
    pruned = Keyring(dict(rotated.pseudonym_keys), rotated.pseudonym_active,
                     {"enc-20261201-beef": rotated.encryption_key}, "enc-20261201-beef")
    keyring_file.write(pruned)
    run = run_for(ALLOWANCE, range(1, 6), "night-3")
    with pytest.raises(KeyringError) as error:
        mask_and_publish(run)
    assert str(error.value) == (
        f"encrypted values under key {first.encryption_active} are published ({TABLE}.benefit_amount: 5) but that "
        "key is not in the keyring; keep retired keys until rotation completes (restore it to governance_keyring); "
        "nothing was published")
    assert not iter_parts(run.area.masked)
    assert_no_key_material(str(error.value), first, rotated)


def test_an_older_copy_of_the_keyring_is_refused_after_a_rotation(run_for, keyring_file, catalogue):
    old = keyring_file.load()
    run = run_for(ALLOWANCE, range(1, 6), "night-1")
    mask_and_publish(run)
    rotation.rotate_encryption(run.engine, catalogue, old, secrets_dir=keyring_file.secrets_dir)
    current = keyring_file.load()
    stale = Keyring(dict(current.pseudonym_keys), current.pseudonym_active, dict(current.encryption_keys),
                    old.encryption_active)  # the old key active again, e.g. a backup restored
    keyring_file.write(stale)
    again = run_for(ALLOWANCE, range(1, 6), "night-2")
    with pytest.raises(KeyringError, match=f"encryption key {old.encryption_active} is active in the keyring but "
                                           "registered as retired"):
        mask_and_publish(again)
    keyring_file.write(current)
    assert mask_and_publish(run_for(ALLOWANCE, range(1, 6), "night-3")).rows_published == 5


def test_a_run_masked_before_a_rotation_completed_cannot_publish(run_for, keyring_file, catalogue):
    old = keyring_file.load()
    mask_and_publish(run_for(ALLOWANCE, range(1, 6), "night-1"))
    late = run_for(ALLOWANCE, range(1, 9), "night-2")
    chunked.validate_and_mask(late)  # masked with the old key; the publish task has not run yet
    rotation.rotate_encryption(late.engine, catalogue, old, secrets_dir=keyring_file.secrets_dir)
    with pytest.raises(KeyringError, match=f"encrypted with key {old.encryption_active}, retired by a key rotation"):
        steps.publish(late)
    assert len(table_rows(late.engine, TABLE, "id_number")) == 5


def test_status_diagnoses_a_missing_keyring(run_for, keyring_file, warehouse_url, monkeypatch, capsys, tmp_path):
    from governance import cli

    keyring = keyring_file.load()
    mask_and_publish(run_for(ALLOWANCE, range(1, 6), "night-1"))
    keyring_file.write(None)
    monkeypatch.setenv("GOVERNANCE_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("GOVERNANCE_VAR_ROOT", str(tmp_path / "var"))
    assert cli.main(["keys", "status"]) == 0
    output = capsys.readouterr().out
    assert "keyring: NOT READABLE: Airflow Variable governance_keyring is not set" in output
    assert f"{keyring.pseudonym_active}       {fingerprint(keyring.pseudonym_key)}  active    NO" in output
    assert f"{TABLE}.benefit_amount  {keyring.encryption_active}: 5" in output
