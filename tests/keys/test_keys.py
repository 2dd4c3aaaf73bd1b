"""The keyring: parsing, errors that never show key material, the local variables file, and loading
through Airflow's secrets backends (environment variable and LocalFilesystemBackend, in this process
and in a plain CLI subprocess)."""

import base64
import datetime
import json
import os
import re
import stat
import subprocess
import sys

import pytest

from governance.keys import keyring as keys
from governance.keys.keyring import (
    Keyring,
    KeyringError,
    fingerprint,
    generate_keyring,
    keyring_from_json,
    keyring_to_json,
    load_keyring,
    write_local_keyring,
)

ENV_VAR = "AIRFLOW_VAR_GOVERNANCE_KEYRING"
BACKEND_ENV = ("AIRFLOW__SECRETS__BACKEND", "AIRFLOW__SECRETS__BACKEND_KWARGS")


def encoded(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def secrets_of(keyring: Keyring) -> list[str]:
    """Every representation of the keys someone could leak: base64 (with and without padding), hex."""
    raw = [*keyring.pseudonym_keys.values(), *keyring.encryption_keys.values()]
    return [form for key in raw for form in (encoded(key), encoded(key).rstrip("="), key.hex())]


def assert_no_secret(text: str, keyring: Keyring) -> None:
    for secret in secrets_of(keyring):
        assert secret not in text


@pytest.fixture
def keyring():
    return generate_keyring(datetime.date(2026, 11, 28))


@pytest.fixture
def clean_airflow_env(monkeypatch):
    """No keyring in the environment, no configured backend, and Airflow's memoised backends dropped
    before and after (the SDK caches the backend list per process once a custom backend is configured)."""
    from airflow.sdk.configuration import clear_secrets_backends_cache

    for name in (ENV_VAR, *BACKEND_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(keys, "_metastore_configured", lambda: False)
    clear_secrets_backends_cache()
    yield monkeypatch
    clear_secrets_backends_cache()


def test_generated_ids_and_round_trip(keyring):
    assert re.fullmatch(r"ps-20261128-[0-9a-f]{4}", keyring.pseudonym_active)
    assert re.fullmatch(r"enc-20261128-[0-9a-f]{4}", keyring.encryption_active)
    assert len(keyring.pseudonym_key) == len(keyring.encryption_key) == 32
    assert keyring.pseudonym_key != keyring.encryption_key
    again = keyring_from_json(keyring_to_json(keyring))
    assert dict(again.pseudonym_keys) == dict(keyring.pseudonym_keys)
    assert again.encryption_active == keyring.encryption_active


def test_repr_shows_ids_and_fingerprints_not_keys(keyring):
    text = repr(keyring)
    assert keyring.pseudonym_active in text and fingerprint(keyring.pseudonym_key) in text
    assert_no_secret(text + str(keyring), keyring)
    with pytest.raises(TypeError):
        keyring.pseudonym_keys["x"] = b"0" * 32


def document(keyring: Keyring) -> dict:
    return json.loads(keyring_to_json(keyring))


@pytest.mark.parametrize("breakage", ["json", "active", "short", "base64", "section", "not_object"])
def test_errors_never_contain_key_material(keyring, breakage):
    doc = document(keyring)
    [enc_id] = doc["encryption"]["keys"]
    if breakage == "json":
        text = keyring_to_json(keyring)[:-5]  # truncated: the parser sees the keys
    else:
        if breakage == "active":
            doc["pseudonym"]["active"] = "ps-19990101-dead"
        elif breakage == "short":
            doc["encryption"]["keys"][enc_id] = encoded(keyring.encryption_key[:16])
        elif breakage == "base64":
            doc["encryption"]["keys"][enc_id] = doc["encryption"]["keys"][enc_id][:-2] + "!!"
        elif breakage == "section":
            del doc["encryption"]["active"]
        elif breakage == "not_object":
            doc = [doc]
        text = json.dumps(doc)
    with pytest.raises(KeyringError) as error:
        keyring_from_json(text)
    message = str(error.value)
    assert_no_secret(message + repr(error.value), keyring)
    # no chained parser error (whose traceback could quote the document) travels with it
    assert error.value.__cause__ is None
    assert error.value.__context__ is None or error.value.__suppress_context__
    expected = {"json": "not valid JSON", "active": "ps-19990101-dead", "short": "16 bytes",
                "base64": "not valid urlsafe base64", "section": "'encryption'", "not_object": "JSON object"}
    assert expected[breakage] in message


def test_keyring_checks_in_code(keyring):
    with pytest.raises(KeyringError, match="32 bytes"):
        Keyring({"ps-1": b"short"}, "ps-1", dict(keyring.encryption_keys), keyring.encryption_active)
    with pytest.raises(KeyringError, match="key ids"):
        Keyring({"ps:1": b"0" * 32}, "ps:1", dict(keyring.encryption_keys), keyring.encryption_active)


def test_write_local_keyring_is_private_and_never_overwrites(tmp_path, keyring):
    path = tmp_path / "secrets" / "variables.json"
    written = write_local_keyring(path, keyring)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert list(stored) == ["governance_keyring"]
    assert keyring_from_json(stored["governance_keyring"]).pseudonym_active == written.pseudonym_active
    before = path.read_text()
    with pytest.raises(KeyringError, match="refusing to overwrite") as error:
        write_local_keyring(path)
    assert path.read_text() == before
    assert_no_secret(str(error.value), keyring)


def test_missing_variable_says_how_to_create_it(clean_airflow_env):
    with pytest.raises(KeyringError) as error:
        load_keyring()
    assert "governance_keyring" in str(error.value) and "governance keys init" in str(error.value)


def test_load_from_environment_variable(clean_airflow_env, keyring):
    clean_airflow_env.setenv(ENV_VAR, keyring_to_json(keyring))
    loaded = load_keyring()
    assert dict(loaded.encryption_keys) == dict(keyring.encryption_keys)
    assert loaded.pseudonym_active == keyring.pseudonym_active


def test_load_malformed_environment_variable(clean_airflow_env, keyring):
    clean_airflow_env.setenv(ENV_VAR, keyring_to_json(keyring).replace('"active"', '"activ"', 1))
    with pytest.raises(KeyringError, match="Airflow Variable governance_keyring needs 'pseudonym'") as error:
        load_keyring()
    assert_no_secret(str(error.value), keyring)


def test_load_from_local_filesystem_backend(clean_airflow_env, tmp_path, keyring):
    path = tmp_path / "variables.json"
    write_local_keyring(path, keyring)
    clean_airflow_env.setenv(BACKEND_ENV[0], "airflow.secrets.local_filesystem.LocalFilesystemBackend")
    clean_airflow_env.setenv(BACKEND_ENV[1], json.dumps({"variables_file_path": str(path)}))
    loaded = load_keyring()
    assert dict(loaded.pseudonym_keys) == dict(keyring.pseudonym_keys)


@pytest.mark.parametrize("via", ["env", "file"])
def test_load_in_a_plain_cli_process(tmp_path, keyring, via):
    """Outside any task: a fresh interpreter with nothing but the deployment's environment."""
    env = {k: v for k, v in os.environ.items() if k not in (ENV_VAR, *BACKEND_ENV)}
    env["AIRFLOW_HOME"] = str(tmp_path / "airflow_home")  # no metadata database here
    if via == "env":
        env[ENV_VAR] = keyring_to_json(keyring)
    else:
        write_local_keyring(tmp_path / "x" / "variables.json", keyring)
        env[BACKEND_ENV[0]] = "airflow.secrets.local_filesystem.LocalFilesystemBackend"
        env[BACKEND_ENV[1]] = json.dumps({"variables_file_path": str(tmp_path / "x" / "variables.json")})
    script = ("from governance.keys import load_keyring; k = load_keyring(); "
              "print(k.pseudonym_active, k.encryption_active)")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [keyring.pseudonym_active, keyring.encryption_active]
    assert_no_secret(done.stdout + done.stderr, keyring)
    assert not (tmp_path / "airflow_home" / "airflow.db").exists()  # looking did not create a database


def test_next_pseudonym_key_round_trips_and_is_checked(keyring):
    prepared = keyring.with_next_pseudonym("ps-20270301-beef", b"n" * 32)
    again = keyring_from_json(keyring_to_json(prepared))
    assert (again.pseudonym_active, again.pseudonym_next) == (keyring.pseudonym_active, "ps-20270301-beef")
    assert "pseudonym_next='ps-20270301-beef'" in repr(again)
    promoted = again.with_next_active()
    assert (promoted.pseudonym_active, promoted.pseudonym_next) == ("ps-20270301-beef", None)
    assert set(promoted.without_pseudonym(keyring.pseudonym_active).pseudonym_keys) == {"ps-20270301-beef"}
    doc = document(prepared)
    doc["pseudonym"]["next"] = keyring.pseudonym_active  # the active key cannot also be next
    with pytest.raises(KeyringError, match="next pseudonym key id"):
        keyring_from_json(json.dumps(doc))
    with pytest.raises(KeyringError, match="in use"):
        promoted.without_pseudonym("ps-20270301-beef")
