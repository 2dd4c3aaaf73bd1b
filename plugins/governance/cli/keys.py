"""``governance keys status | rotate | rotate-pseudonym``: what the operator runs and reads.

Output names key ids, fingerprints, tables, counts and files, never key material or values. The keyring is
read exactly as the pipelines read it (the Airflow Variable through the configured secrets backend).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from governance.keys.audit import os_user
from governance.keys.keyring import KeyringError, fingerprint, load_keyring
from governance.keys.keystore import Saved
from governance.keys.published import encrypted_tables, key_usage, pseudonym_columns
from governance.keys.registry import keys_of, load_registry
from governance.keys.rotation import RotationError, rotate_encryption
from governance.settings import get_settings

OK, PROBLEMS = 0, 1
Print = Callable[[str], None]


def _context():
    from governance.standards.catalogue import load_catalogue
    from governance.warehouse import warehouse_engine

    settings = get_settings()
    return settings, warehouse_engine(settings.warehouse_url), load_catalogue(settings.standards_root)


def _report_saved(saved: Saved | None, out: Print, then: str) -> None:
    if saved is None:
        return
    if not saved.pending:
        out(f"keyring updated in {saved.path} (the pipelines use it from their next task)")
        return
    out(f"the updated keyring is in {saved.path} (mode 0600); load it into the Airflow Variable governance_keyring:")
    for step in saved.steps:
        out(f"  {step}")
    out(f"then {then}")


def status(_: argparse.Namespace, out: Print = print) -> int:
    _, engine, catalogue = _context()
    try:
        keyring = load_keyring()
    except KeyringError as error:
        keyring = None
        out(f"keyring: NOT READABLE: {error}")
    registry = load_registry(engine)
    in_keyring = {key_id: fingerprint(key) for _, key_id, key in keys_of(keyring)} if keyring else {}
    out(f"{'kind':<11} {'key id':<22} {'fingerprint':<13} {'status':<9} {'in keyring':<11} first seen (UTC)")
    for key_id, row in registry.items():
        present = ("NO" if key_id not in in_keyring else "yes" if in_keyring[key_id] == row.fingerprint
                   else "MISMATCH")
        out(f"{row.kind:<11} {key_id:<22} {row.fingerprint:<13} {row.status:<9} {present:<11} "
            f"{row.first_seen_at:%Y-%m-%d %H:%M}")
    for kind, key_id, key in keys_of(keyring) if keyring else ():
        if key_id not in registry:
            out(f"{kind:<11} {key_id:<22} {fingerprint(key):<13} {'unseen':<9} {'yes':<11} -")
    with engine.connect() as connection:
        usage = key_usage(connection, encrypted_tables(connection, catalogue))
        columns = pseudonym_columns(connection, catalogue)
        following = keyring.pseudonym_next if keyring else None
        readiness = None
        if following:
            from governance.keys.pseudonym_rotation import readiness as measure

            readiness = measure(connection, columns, following)
    out("encrypted values per key id:")
    for where, counts in usage.items():
        shown = ", ".join(f"{key_id}: {count}" for key_id, count in sorted(counts.items())) or "no values"
        out(f"  {where}  {shown}")
    if readiness is not None:
        out(f"pseudonym rotation to {following} prepared; per column (mapped / already next / unmapped):")
        for where, counts in readiness.items():
            out(f"  {where}  {counts['mapped']} / {counts['done']} / {counts['unmapped']}")
    else:
        out(f"pseudonym columns: {', '.join(column.name for column in columns) or 'none published'}")
    return OK


def rotate(_: argparse.Namespace, out: Print = print) -> int:
    settings, engine, catalogue = _context()
    keyring = load_keyring()
    try:
        result = rotate_encryption(engine, catalogue, keyring, secrets_dir=settings.var_root / "secrets",
                                   actor=os_user())
    except RotationError as error:
        out(f"rotation stopped: {error}")
        return PROBLEMS
    key = result.active
    if result.started:
        out(f"new encryption key {key}; the old keys stay in the keyring for decryption")
    else:
        out(f"resuming the rotation to encryption key {key}")
    _report_saved(result.saved, out, "run `governance keys rotate` again to re-encrypt the published values")
    if result.waiting:
        return OK
    for table, count in result.tables.items():
        out(f"  {table}: {count} value(s) re-encrypted to {key}")
    out(f"retired: {', '.join(result.retired) or 'none'}; every published ciphertext is under {key} "
        f"({result.seconds}s). Decryptions are audited in governance.decryption_audit")
    return OK


def rotate_pseudonym(arguments: argparse.Namespace, out: Print = print) -> int:
    from governance.keys import pseudonym_rotation as stages

    settings, engine, catalogue = _context()
    keyring, secrets_dir = load_keyring(), settings.var_root / "secrets"
    try:
        if arguments.stage == "prepare":
            result = stages.prepare(engine, keyring, secrets_dir=secrets_dir)
        elif arguments.stage == "cutover":
            result = stages.cutover(engine, catalogue, keyring, secrets_dir=secrets_dir)
        else:
            result = stages.finish(engine, keyring, secrets_dir=secrets_dir, mapping_days=arguments.mapping_days)
    except RotationError as error:
        out(str(error))
        return PROBLEMS
    if result.note:
        out(result.note)
    following = result.keyring.pseudonym_next
    if arguments.stage == "prepare" and following:
        out(f"next pseudonym key {following} (fingerprint {fingerprint(result.keyring.pseudonym_keys[following])}); "
            "from now on every mask step maps current to next tokens in governance.pseudonym_map")
        _report_saved(result.saved, out, "let the nightly runs fill the map; `governance keys status` shows "
                      "how much is mapped; then run --stage cutover")
    elif arguments.stage == "cutover":
        for column, count in result.columns.items():
            out(f"  {column}: {count} token(s) rewritten")
        out(f"pseudonym key {result.keyring.pseudonym_active} is active; the old key is retiring and the map "
            "stays for the mapping period")
        _report_saved(result.saved, out, "after the mapping period run --stage finish")
    elif arguments.stage == "finish" and not result.note:
        out(f"pseudonym map emptied ({result.map_rows} row(s)); old pseudonym key retired and removed")
        _report_saved(result.saved, out, "the rotation is complete")
    return OK
