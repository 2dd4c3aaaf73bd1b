"""Writing an updated keyring back to where the pipelines read it.

Airflow reads Variables through whatever secrets backend the deployment configured; most of them (Vault,
a cloud secret manager, the metastore on another host) cannot, or should not, be written by this command.
Only the demo's ``LocalFilesystemBackend`` file is updated in place: it is found through
``AIRFLOW__SECRETS__BACKEND_KWARGS``'s ``variables_file_path`` and replaced atomically (a private temporary
file renamed over it), so a crash leaves either the old or the new keyring, never half of one.

Anywhere else the new keyring is written to a pending file readable by its owner only, and the operator is
shown the step that loads it (``airflow variables import``, or the backend's own tool). Key material is
never printed: the output names files, key ids and fingerprints.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from governance.keys.keyring import VARIABLE, Keyring, KeyringError, create_private_file, keyring_to_json

LOCAL_BACKEND = "airflow.secrets.local_filesystem.LocalFilesystemBackend"
PENDING_NAME = f"{VARIABLE}.pending.json"


@dataclass(frozen=True)
class Saved:
    """Where a keyring went: ``written`` (the pipelines use it now) or ``pending`` (an operator must load it)."""

    path: Path
    pending: bool
    steps: list[str] = field(default_factory=list)


def local_variables_file() -> Path | None:
    """The LocalFilesystemBackend variables file holding the keyring, if that is where it lives."""
    if os.environ.get("AIRFLOW__SECRETS__BACKEND", "").strip() != LOCAL_BACKEND:
        return None
    try:
        kwargs = json.loads(os.environ.get("AIRFLOW__SECRETS__BACKEND_KWARGS") or "{}")
    except json.JSONDecodeError:
        return None
    path = kwargs.get("variables_file_path") if isinstance(kwargs, dict) else None
    if not path or not str(path).endswith(".json"):
        return None
    target = Path(path)
    try:
        holds = VARIABLE in json.loads(target.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return None
    return target if holds else None


def pending_file(secrets_dir: Path) -> Path:
    return secrets_dir / PENDING_NAME


def check_can_save(secrets_dir: Path) -> None:
    """Refuse early (before a rotation changes the warehouse) if the new keyring could not be saved."""
    target = pending_file(secrets_dir)
    if local_variables_file() is None and target.exists():
        raise KeyringError(f"{target} holds a keyring from an earlier step that was never loaded: load it "
                           "(and delete the file), or delete it to abandon that step, then rerun")


def save_keyring(keyring: Keyring, secrets_dir: Path) -> Saved:
    """Update the local variables file, or write a pending file and say how to load it."""
    local = local_variables_file()
    if local is not None:
        document = json.loads(local.read_text(encoding="utf-8"))
        document[VARIABLE] = keyring_to_json(keyring)
        _replace_private(local, json.dumps(document) + "\n")
        return Saved(local, pending=False)
    target = pending_file(secrets_dir)
    _create_private(target, json.dumps({VARIABLE: keyring_to_json(keyring)}) + "\n")
    return Saved(target, pending=True, steps=[*load_steps(target), f"shred -u {target}   # it holds keys"])


def load_steps(target: Path) -> list[str]:
    """How to load a pending keyring, for where the Variable comes from now (Airflow asks the configured
    backend, then ``AIRFLOW_VAR_*``, then the metastore: loading it anywhere later would be shadowed)."""
    environment = f"AIRFLOW_VAR_{VARIABLE.upper()}"
    if os.environ.get("AIRFLOW__SECRETS__BACKEND", "").strip():
        return [f"store the {VARIABLE} value from {target} in your secrets backend "
                f"({os.environ['AIRFLOW__SECRETS__BACKEND'].strip().rsplit('.', 1)[-1]}) under the same name"]
    if os.environ.get(environment):
        return [f"set {environment} (e.g. in the compose .env, single-quoted) to the {VARIABLE} value from {target}",
                "restart the Airflow services so every process gets it (docker compose up -d)"]
    return [f"airflow variables import --action-on-existing-key overwrite {target}"]


def _create_private(target: Path, text: str) -> None:
    """Create ``target`` mode 0600, refusing to overwrite (an unloaded pending keyring must not be lost)."""
    create_private_file(target, text, exists="an earlier rotation's keyring is waiting to be loaded. "
                        "Load it (and delete the file), then rerun the command")


def _replace_private(target: Path, text: str) -> None:
    """Atomically replace ``target``: a fresh 0600 file beside it, fsynced, renamed over it."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    _create_private(temporary, text)
    try:
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
