"""Pseudonym key rotation, stage by stage, on both warehouses, with synthetic tables published by the real
``publish``: prepare adds a next key and the mask step maps tokens; cutover refuses unmapped tokens, then
rewrites every pseudonym column of every table in one transaction (a crash changes nothing); finish empties
the map and retires the old key. Joins across tables hold at every point."""

from __future__ import annotations

import pandas as pd
import pytest
from keyring_helpers import (
    ALLOWANCE,
    DAY,
    ENTERPRISES,
    INSURANCE,
    RESIDENTS,
    assert_no_key_material,
    resident_id,
    table_rows,
)

from governance import cli
from governance.keys import pseudonym_rotation as stages
from governance.keys import pseudonymize
from governance.keys.checks import check_keys_still_current, key_ids, keyring_for_masking
from governance.keys.keyring import KeyringError
from governance.keys.registry import load_registry
from governance.keys.rotation import RotationError
from governance.profiles.build import build_profile

OLD_PEOPLE = range(1, 9)  # published before the rotation was prepared
COLUMNS = {  # table -> pseudonym column
    "shared.civil_affairs__subsistence_allowance": "id_number",
    "shared.public_security__resident_population": "id_number",
    "shared.human_resources__social_insurance_enrollment": "id_number",
    "shared.market_regulation__enterprise_registration": "legal_rep_id_number",
    "shared.profile__enterprise": "legal_rep_id_number",  # a cross-department profile copying that column
}


def tokens(people, key) -> set[str]:
    return set(pseudonymize(pd.Series([resident_id(n) for n in people]), key))


def published_tokens(engine) -> dict[str, set[str]]:
    return {table: {value for (value,) in table_rows(engine, table, column)} for table, column in COLUMNS.items()}


def publish_all(engine, publish_raw, people, keyring, catalogue) -> None:
    """The four datasets with pseudonym columns, then the enterprise profile built from them."""
    for key in (ALLOWANCE, RESIDENTS, INSURANCE, ENTERPRISES):
        publish_raw(engine, key, people, keyring)
    build_profile(engine, catalogue, catalogue.profile("enterprise"), load_date=DAY, run_id="profile-run")


def map_rows(engine) -> int:
    return int(pd.read_sql("SELECT count(*) AS n FROM governance.pseudonym_map", engine)["n"][0])


@pytest.fixture
def prepared(warehouse, keyring_file, publish_raw, catalogue):
    """Four tables published under the current key, then ``prepare``: the keyring file gains a next key."""
    old = keyring_file.load()
    publish_all(warehouse, publish_raw, OLD_PEOPLE, old, catalogue)
    result = stages.prepare(warehouse, old, secrets_dir=keyring_file.secrets_dir)
    keyring = keyring_file.load()
    assert result.saved is not None and not result.saved.pending
    assert keyring.pseudonym_next is not None and keyring.pseudonym_active == old.pseudonym_active
    assert load_registry(warehouse)[keyring.pseudonym_next].status == "next"
    return old, keyring


def test_prepare_then_mask_steps_map_tokens_and_keep_publishing_current_ones(warehouse, keyring_file, prepared,
                                                                            publish_raw, catalogue):
    old, keyring = prepared
    assert map_rows(warehouse) == 0
    again = stages.prepare(warehouse, keyring, secrets_dir=keyring_file.secrets_dir)  # no second next key
    assert again.keyring.pseudonym_next == keyring.pseudonym_next and "already prepared" in again.note
    publish_raw(warehouse, RESIDENTS, range(1, 12), keyring_for_masking(warehouse, catalogue, keyring))
    assert map_rows(warehouse) == 11  # only tokens: 11 people, one element
    stored = pd.read_sql("SELECT * FROM governance.pseudonym_map", warehouse)
    assert set(stored["current_token"]) == tokens(range(1, 12), old.pseudonym_key)
    assert set(stored["next_token"]) == tokens(range(1, 12), keyring.pseudonym_keys[keyring.pseudonym_next])
    assert not any(resident_id(n) in stored.to_csv() for n in range(1, 12))
    assert published_tokens(warehouse)[f"shared.{RESIDENTS.replace('/', '__')}"] == tokens(range(1, 12),
                                                                                          old.pseudonym_key)


def _catalogue():
    from governance.settings import get_settings
    from governance.standards.catalogue import load_catalogue

    return load_catalogue(get_settings().standards_root)


def test_cutover_refuses_unmapped_tokens_with_a_count_and_changes_nothing(warehouse, keyring_file, prepared,
                                                                        publish_raw, catalogue):
    _, keyring = prepared
    publish_raw(warehouse, RESIDENTS, range(1, 5), keyring)  # only residents 1-4 seen in the mapping period
    before = published_tokens(warehouse)
    with pytest.raises(RotationError) as error:
        stages.cutover(warehouse, catalogue, keyring, secrets_dir=keyring_file.secrets_dir)
    message = str(error.value)
    # people 5-8 are unmapped: allowance 4 + insurance 8 (two rows a person) + enterprise 4 + profile 4; the
    # resident table was replaced by the snapshot of people 1-4, all mapped
    assert "cutover refused: 20 published token(s)" in message and "resident_population" not in message
    assert "shared.human_resources__social_insurance_enrollment.id_number: 8" in message
    assert published_tokens(warehouse) == before
    assert load_registry(warehouse)[keyring.pseudonym_next].status == "next"
    assert_no_key_material(message, keyring)


def test_full_rotation_rewrites_every_table_at_once_then_finish_retires_the_old_key(
        warehouse, keyring_file, prepared, publish_raw, catalogue, capsys, monkeypatch, warehouse_url):
    old, keyring = prepared
    next_id, next_key = keyring.pseudonym_next, keyring.pseudonym_keys[keyring.pseudonym_next]
    publish_all(warehouse, publish_raw, OLD_PEOPLE, keyring, catalogue)  # the mapping period: every table re-published
    used_before = key_ids(keyring)

    result = stages.cutover(warehouse, catalogue, keyring, secrets_dir=keyring_file.secrets_dir)
    expected = tokens(OLD_PEOPLE, next_key)
    assert published_tokens(warehouse) == dict.fromkeys(COLUMNS, expected)  # joins still hold, new tokens
    assert sum(result.columns.values()) == 8 + 8 + 16 + 8 + 8
    registry = load_registry(warehouse)
    assert (registry[next_id].status, registry[old.pseudonym_active].status) == ("active", "retiring")
    current = keyring_file.load()
    assert (current.pseudonym_active, current.pseudonym_next) == (next_id, None)
    assert old.pseudonym_active in current.pseudonym_keys  # kept until finish
    with pytest.raises(KeyringError, match="cutover made"):  # a run masked before the cutover cannot publish
        check_keys_still_current(warehouse, used_before)
    publish_raw(warehouse, RESIDENTS, range(1, 10), keyring_for_masking(warehouse, catalogue, current))
    assert published_tokens(warehouse)[f"shared.{RESIDENTS.replace('/', '__')}"] == tokens(range(1, 10), next_key)

    with pytest.raises(RotationError, match="mapping period is not over"):
        stages.finish(warehouse, current, secrets_dir=keyring_file.secrets_dir, mapping_days=30)
    monkeypatch.setenv("GOVERNANCE_WAREHOUSE_URL", warehouse_url)
    assert cli.main(["keys", "rotate-pseudonym", "--stage", "finish", "--mapping-days", "0"]) == 0
    assert map_rows(warehouse) == 0
    assert load_registry(warehouse)[old.pseudonym_active].status == "retired"
    final = keyring_file.load()
    assert set(final.pseudonym_keys) == {next_id}
    output = capsys.readouterr()
    assert_no_key_material(output.out + output.err + repr(result), old, keyring)


def test_a_crash_before_commit_leaves_every_table_old_and_a_rerun_completes(warehouse, keyring_file, prepared,
                                                                          publish_raw, catalogue, monkeypatch):
    old, keyring = prepared
    publish_all(warehouse, publish_raw, OLD_PEOPLE, keyring, catalogue)
    before = published_tokens(warehouse)

    def crash(connection):
        raise RuntimeError("injected crash")

    monkeypatch.setattr(stages, "_before_commit", crash)
    with pytest.raises(RuntimeError, match="injected crash"):
        stages.cutover(warehouse, catalogue, keyring, secrets_dir=keyring_file.secrets_dir)
    assert published_tokens(warehouse) == before == dict.fromkeys(COLUMNS, tokens(OLD_PEOPLE, old.pseudonym_key))
    assert load_registry(warehouse)[keyring.pseudonym_next].status == "next"
    assert keyring_file.load().pseudonym_next == keyring.pseudonym_next

    monkeypatch.undo()
    stages.cutover(warehouse, catalogue, keyring_file.load(), secrets_dir=keyring_file.secrets_dir)
    next_key = keyring.pseudonym_keys[keyring.pseudonym_next]
    assert published_tokens(warehouse) == dict.fromkeys(COLUMNS, tokens(OLD_PEOPLE, next_key))


def test_after_cutover_a_stale_keyring_is_reconciled_or_refused(warehouse, keyring_file, prepared, publish_raw,
                                                               catalogue):
    """Until the operator updates the Variable it still names the old key active (and the next key): masking
    follows the registry. A keyring from before the rotation (no next key) is refused: it would publish
    old-key tokens into rewritten tables."""
    old, keyring = prepared
    publish_all(warehouse, publish_raw, OLD_PEOPLE, keyring, catalogue)
    stages.cutover(warehouse, catalogue, keyring, secrets_dir=keyring_file.secrets_dir)
    effective = keyring_for_masking(warehouse, catalogue, keyring)
    assert (effective.pseudonym_active, effective.pseudonym_next) == (keyring.pseudonym_next, None)
    with pytest.raises(KeyringError) as error:
        keyring_for_masking(warehouse, catalogue, old)
    assert "is not in the keyring" in str(error.value) and "nothing was published" in str(error.value)
    assert_no_key_material(str(error.value), old, keyring)


def test_production_prepare_waits_for_the_keyring_to_be_loaded(warehouse, warehouse_url, keyring_file, publish_raw,
                                                               catalogue, monkeypatch, capsys, tmp_path):
    """No writable local backend (the Variable comes from elsewhere): prepare leaves the new keyring in a 0600
    pending file and prints how to load it; cutover explains it is waiting; once loaded, the rotation runs."""
    import json
    import stat

    from governance.keys.keyring import keyring_from_json
    from governance.keys.keystore import PENDING_NAME

    old = keyring_file.load()
    publish_all(warehouse, publish_raw, OLD_PEOPLE, old, catalogue)
    from airflow.sdk.configuration import clear_secrets_backends_cache

    variable = json.loads(keyring_file.path.read_text())["governance_keyring"]
    monkeypatch.setenv("AIRFLOW_VAR_GOVERNANCE_KEYRING", variable)
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND", "")
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND_KWARGS", "")
    clear_secrets_backends_cache()  # the SDK memoises the backend list per process
    monkeypatch.setenv("GOVERNANCE_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("GOVERNANCE_VAR_ROOT", str(tmp_path / "var"))
    assert cli.main(["keys", "rotate-pseudonym", "--stage", "prepare"]) == 0
    pending = tmp_path / "var" / "secrets" / PENDING_NAME
    assert stat.S_IMODE(pending.stat().st_mode) == 0o600
    assert cli.main(["keys", "rotate-pseudonym", "--stage", "cutover"]) == 1  # refused, explained
    loaded = keyring_from_json(json.loads(pending.read_text())["governance_keyring"])
    output = capsys.readouterr().out
    assert f"set AIRFLOW_VAR_GOVERNANCE_KEYRING (e.g. in the compose .env, single-quoted) to the governance_keyring " \
           f"value from {pending}" in output
    assert f"next pseudonym key {loaded.pseudonym_next} was prepared but is not in governance_keyring yet" in output
    assert_no_key_material(output, old, loaded)

    monkeypatch.setenv("AIRFLOW_VAR_GOVERNANCE_KEYRING", json.loads(pending.read_text())["governance_keyring"])
    pending.unlink()  # loaded into the Variable, file removed
    publish_all(warehouse, publish_raw, OLD_PEOPLE, keyring_for_masking(warehouse, catalogue, loaded), catalogue)
    assert cli.main(["keys", "status"]) == 0
    assert cli.main(["keys", "rotate-pseudonym", "--stage", "cutover"]) == 0
    output = capsys.readouterr().out
    assert "shared.public_security__resident_population.id_number  8 / 0 / 0" in output  # status: all mapped
    assert published_tokens(warehouse) == dict.fromkeys(
        COLUMNS, tokens(OLD_PEOPLE, loaded.pseudonym_keys[loaded.pseudonym_next]))
    assert pending.exists()  # the post-cutover keyring (next key active) waits to be loaded in turn
    assert_no_key_material(output, old, loaded)
