"""Encryption key rotation on both warehouses: every value stays decryptable, none is left under the retired
key, a crash leaves each table entirely old (and a rerun completes), decryptions are audited without
values, and neither output nor errors carry key material."""

from __future__ import annotations

import json
import stat

import pandas as pd
import pytest
from keyring_helpers import ALLOWANCE, assert_no_key_material, table_rows

from governance import cli
from governance.columns import TEXT
from governance.keys import QUARANTINE_AAD, decrypt_values, encrypt_values, rotation
from governance.keys.keyring import Keyring, KeyringError, keyring_from_json
from governance.keys.keystore import PENDING_NAME
from governance.keys.registry import load_registry
from governance.warehouse import write_quarantine

TABLE = "shared.civil_affairs__subsistence_allowance"
PEOPLE = range(1, 12)


def amounts(engine, keyring, table=TABLE):
    """Key id of each stored value and its plaintext (through the audited path), ordered by id."""
    rows = table_rows(engine, table, "id_number", "benefit_amount")
    values = pd.Series([value for _, value in rows], dtype=TEXT, name="benefit_amount")
    plain = decrypt_values(values, keyring, "benefit_amount", purpose="test", actor="pytest", audit=lambda e: None)
    return [value.split(":")[0] for value in values], list(plain)


def quarantine_ids(engine):
    return [value.split(":")[0] for (value,) in table_rows(engine, "governance.quarantine", "raw_row_encrypted")]


@pytest.fixture
def published(warehouse, keyring_file, publish_raw):
    """The allowance table and two quarantined rows, encrypted under the demo keyring's only key."""
    keyring = keyring_file.load()
    raw = publish_raw(warehouse, ALLOWANCE, PEOPLE, keyring)
    sealed = encrypt_values(pd.Series(['{"id_number": "x"}', '{"id_number": "y"}']), keyring.encryption_active,
                            keyring.encryption_key, QUARANTINE_AAD)
    write_quarantine(warehouse, "run-q", ALLOWANCE, [
        {"source_file": "a.csv", "source_line": i, "rules": "r", "masked_row": {}, "raw_row_encrypted": value}
        for i, value in enumerate(sealed)])
    return keyring, sorted(raw["benefit_amount"])


def test_rotation_keeps_every_value_decryptable_and_none_under_the_retired_key(warehouse, keyring_file, published,
                                                                              catalogue):
    old, raw_amounts = published
    result = rotation.rotate_encryption(warehouse, catalogue, old, secrets_dir=keyring_file.secrets_dir,
                                        actor="operator-1", batch_rows=4)

    new = keyring_file.load()  # the variables file now holds the new keyring
    assert result.started and not result.waiting and new.encryption_active == result.active != old.encryption_active
    assert set(new.encryption_keys) == {old.encryption_active, result.active}  # old key kept for decryption
    assert stat.S_IMODE(keyring_file.path.stat().st_mode) == 0o600
    key_ids, plain = amounts(warehouse, new)
    assert set(key_ids) == {result.active} and sorted(plain) == raw_amounts
    assert set(quarantine_ids(warehouse)) == {result.active}
    assert result.tables == {TABLE: len(PEOPLE), "governance.quarantine": 2}
    registry = load_registry(warehouse)
    assert (registry[old.encryption_active].status, registry[result.active].status) == ("retired", "active")
    assert result.retired == [old.encryption_active]

    audit = pd.read_sql("SELECT * FROM governance.decryption_audit", warehouse)
    assert set(audit["purpose"]) == {"key rotation"} and set(audit["actor"]) == {"operator-1"}
    assert set(audit["outcome"]) == {"decrypted"}
    assert audit.loc[audit["table_name"] == TABLE, "rows"].sum() == len(PEOPLE)  # in batches of 4
    assert len(audit[audit["table_name"] == TABLE]) == 3
    dumped = audit.astype(str).to_csv()
    assert not any(amount in dumped for amount in raw_amounts)  # counts and key ids only, never values
    assert_no_key_material(dumped + repr(result), old, new)


def test_crash_mid_table_leaves_it_fully_old_and_a_rerun_completes(warehouse, keyring_file, published, catalogue,
                                                                  monkeypatch):
    old, raw_amounts = published

    def crash(connection, target):
        raise RuntimeError("injected crash")

    monkeypatch.setattr(rotation, "_mid_table", crash)
    with pytest.raises(RuntimeError, match="injected crash"):
        rotation.rotate_encryption(warehouse, catalogue, old, secrets_dir=keyring_file.secrets_dir, batch_rows=4)
    interrupted = keyring_file.load()
    key_ids, plain = amounts(warehouse, interrupted)
    assert set(key_ids) == {old.encryption_active} and sorted(plain) == raw_amounts  # fully old
    registry = load_registry(warehouse)
    assert registry[old.encryption_active].status == "retiring"  # not retired: values still need it
    assert registry[interrupted.encryption_active].status == "active"
    failed = pd.read_sql("SELECT * FROM governance.decryption_audit", warehouse)
    assert failed["rows"].sum() == len(PEOPLE)  # the rolled-back decryptions are still on record

    monkeypatch.undo()
    monkeypatch.setattr(rotation, "_mid_table", lambda connection, target: None)
    rerun = rotation.rotate_encryption(warehouse, catalogue, keyring_file.load(), secrets_dir=keyring_file.secrets_dir)
    assert not rerun.started and rerun.active == interrupted.encryption_active  # resumed, no third key
    final = keyring_file.load()
    assert set(final.encryption_keys) == {old.encryption_active, interrupted.encryption_active}
    key_ids, plain = amounts(warehouse, final)
    assert set(key_ids) == {rerun.active} and sorted(plain) == raw_amounts
    assert load_registry(warehouse)[old.encryption_active].status == "retired"


def test_crash_between_tables_leaves_each_table_old_or_new_and_both_decrypt(warehouse, keyring_file, published,
                                                                          catalogue, monkeypatch):
    old, raw_amounts = published

    def crash(target):
        raise RuntimeError("injected crash after " + target.name)

    monkeypatch.setattr(rotation, "_after_table", crash)
    with pytest.raises(RuntimeError, match=f"after {TABLE}"):
        rotation.rotate_encryption(warehouse, catalogue, old, secrets_dir=keyring_file.secrets_dir)
    keyring = keyring_file.load()
    key_ids, plain = amounts(warehouse, keyring)
    assert set(key_ids) == {keyring.encryption_active} and sorted(plain) == raw_amounts  # fully new
    assert set(quarantine_ids(warehouse)) == {old.encryption_active}  # fully old, still decryptable
    monkeypatch.undo()
    rotation.rotate_encryption(warehouse, catalogue, keyring, secrets_dir=keyring_file.secrets_dir)
    assert set(quarantine_ids(warehouse)) == {keyring.encryption_active}
    assert load_registry(warehouse)[old.encryption_active].status == "retired"


def test_production_keyring_goes_to_a_pending_file_and_the_rerun_completes(warehouse, keyring_file, published,
                                                                         catalogue, monkeypatch):
    """No writable local backend: the new keyring waits in a 0600 file, nothing is re-encrypted until the
    Variable holds it, and the key loaded must be the key generated (its fingerprint is registered)."""
    old, raw_amounts = published
    variable = json.loads(keyring_file.path.read_text())["governance_keyring"]
    monkeypatch.setenv("AIRFLOW_VAR_GOVERNANCE_KEYRING", variable)
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND", "")
    first = rotation.rotate_encryption(warehouse, catalogue, old, secrets_dir=keyring_file.secrets_dir)
    pending = keyring_file.secrets_dir / PENDING_NAME
    assert first.waiting and first.saved.path == pending and stat.S_IMODE(pending.stat().st_mode) == 0o600
    assert any("set AIRFLOW_VAR_GOVERNANCE_KEYRING" in step for step in first.saved.steps)
    assert_no_key_material("\n".join(first.saved.steps), old)
    assert set(amounts(warehouse, old)[0]) == {old.encryption_active}  # nothing moved yet
    assert load_registry(warehouse)[first.active].status == "next"

    loaded = keyring_from_json(json.loads(pending.read_text())["governance_keyring"])  # the operator's import
    pending.unlink()
    second = rotation.rotate_encryption(warehouse, catalogue, loaded, secrets_dir=keyring_file.secrets_dir)
    assert not second.started and second.active == first.active
    key_ids, plain = amounts(warehouse, loaded)
    assert set(key_ids) == {first.active} and sorted(plain) == raw_amounts


def test_cli_rotate_and_status_show_ids_and_fingerprints_never_keys(warehouse_url, keyring_file, publish_raw,
                                                                   monkeypatch, capsys, tmp_path):
    from governance.warehouse import warehouse_engine

    monkeypatch.setenv("GOVERNANCE_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("GOVERNANCE_VAR_ROOT", str(tmp_path / "var"))
    engine = warehouse_engine(warehouse_url)
    old = keyring_file.load()
    publish_raw(engine, ALLOWANCE, PEOPLE, old)
    assert cli.main(["keys", "status"]) == 0
    assert cli.main(["keys", "rotate"]) == 0
    assert cli.main(["keys", "status"]) == 0
    new = keyring_file.load()
    out = capsys.readouterr()
    text = out.out + out.err
    assert_no_key_material(text, old, new)
    assert new.encryption_active in text and "retired" in text
    assert f"{TABLE}.benefit_amount  {new.encryption_active}: {len(PEOPLE)}" in text
    engine.dispose()


def test_rotation_refuses_when_published_ciphertexts_need_a_missing_key(warehouse, keyring_file, published,
                                                                      catalogue):
    old, _ = published
    stranger = Keyring(dict(old.pseudonym_keys), old.pseudonym_active, {"enc-other": b"k" * 32}, "enc-other")
    with pytest.raises(KeyringError) as error:
        rotation.rotate_encryption(warehouse, catalogue, stranger, secrets_dir=keyring_file.secrets_dir)
    assert "not in the keyring" in str(error.value)
    assert_no_key_material(str(error.value), old, stranger)


@pytest.mark.parametrize(("backend", "variable", "expected"), [
    ("", "", "airflow variables import --action-on-existing-key overwrite /s/p.json"),
    ("", "{}", "set AIRFLOW_VAR_GOVERNANCE_KEYRING (e.g. in the compose .env, single-quoted) to the "
               "governance_keyring value from /s/p.json"),
    ("airflow.providers.hashicorp.secrets.vault.VaultBackend", "",
     "store the governance_keyring value from /s/p.json in your secrets backend (VaultBackend) under the same name"),
])
def test_load_steps_follow_where_the_variable_comes_from(monkeypatch, backend, variable, expected):
    from pathlib import Path

    from governance.keys.keystore import load_steps

    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND", backend)
    monkeypatch.setenv("AIRFLOW_VAR_GOVERNANCE_KEYRING", variable)
    assert load_steps(Path("/s/p.json"))[0] == expected
