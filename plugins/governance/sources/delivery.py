"""The delivery protocol (交付规范): when is a department's drop complete, and is it what was sent?

The nightly pull must never read a half-uploaded file: a drop cut at a line boundary parses cleanly and would
replace the shared table with fewer rows. So a drop is complete only when

* ``manifest`` (the default): the department writes ``MANIFEST.json`` *last*, naming every file with its size in
  bytes, its data rows and its SHA-256, the business date and the exporting system. Every figure is checked
  before a row is read (sizes, then hashes; rows as each file is read, before anything is landed); or
* ``quiet_period``: where a department cannot write a manifest, its standard declares how many minutes the
  folder must stay unchanged.

Errors name the file, the figure, and what was expected and found (counts and hashes, never data), and say
what to resend. ``governance delivery manifest <folder>`` writes a manifest for departments' scripts.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from governance.sources import files
from governance.sources.errors import SourceError
from governance.standards.models import Dataset

MANIFEST_NAME = "MANIFEST.json"
PROTOCOL = "governance-delivery/1"


class DeliveryError(SourceError):
    """The drop is incomplete or differs from its manifest: nothing was read or published; the department resends."""


@dataclass(frozen=True)
class FileEntry:
    name: str
    size: int
    rows: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    dataset: str
    business_date: str
    exporting_system: str
    files: tuple[FileEntry, ...]
    created_at: str = ""
    protocol: str = PROTOCOL

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            entries = tuple(FileEntry(name=str(item["name"]), size=int(item["size"]), rows=int(item["rows"]),
                                      sha256=str(item["sha256"]).lower()) for item in data["files"])
            return cls(dataset=str(data["dataset"]), business_date=str(data["business_date"]),
                       exporting_system=str(data["exporting_system"]), files=entries,
                       created_at=str(data.get("created_at", "")), protocol=str(data.get("protocol", "")))
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
            kind = f"missing field {error}" if isinstance(error, KeyError) else type(error).__name__
            raise DeliveryError(f"{path}: 交付清单无法读取 the manifest is not readable ({kind}); "
                                f"请重新生成并最后写入 write it again, last (governance delivery manifest)") from None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def count_rows(path: Path, dataset: Dataset) -> int:
    """Data rows as the nightly pull counts them (the same reader), so a manifest written here always agrees."""
    source = dataset.source
    if source.kind == "csv":
        return sum(len(block) for block in files.iter_csv(path, encoding=source.encoding, delimiter=source.delimiter))
    return len(files.read_excel(path, sheet=source.sheet))


def write_manifest(folder: Path, dataset: Dataset, day: date, exporting_system: str,
                   rows: dict[str, int] | None = None) -> Path:
    """Write ``MANIFEST.json`` for the drop files in ``folder``; call it after the last file is written.

    ``rows``: the exporting system's own counts per file name (otherwise each file is read and counted).
    The manifest is written to a hidden partial file and renamed, so it never appears half-written.
    """
    drop = drop_files(folder, dataset)
    if not drop:
        raise DeliveryError(f"{folder}: 没有可列入清单的文件 no {dataset.source.pattern} file to list")
    entries = tuple(FileEntry(path.name, path.stat().st_size,
                              rows[path.name] if rows and path.name in rows else count_rows(path, dataset),
                              sha256_of(path)) for path in drop)
    manifest = Manifest(dataset.key, day.isoformat(), exporting_system, entries,
                        created_at=datetime.now(UTC).isoformat(timespec="seconds"))
    target = folder / MANIFEST_NAME
    partial = folder / f".{MANIFEST_NAME}.part"
    partial.write_text(manifest.to_json(), encoding="utf-8")
    partial.replace(target)
    return target


def drop_files(folder: Path, dataset: Dataset) -> list[Path]:
    """The files of the drop: what the source's pattern matches (hidden partial files never do)."""
    return sorted(path for path in folder.glob(dataset.source.pattern)
                  if path.is_file() and not path.name.startswith("."))


def delivery_status(dataset: Dataset, landing_root: Path, day: date, *, now: float | None = None) -> tuple[bool, str]:
    """``(complete, why not)`` for the night's drop: what the nightly sensor and the landing watcher poll."""
    folder = landing_root / dataset.department / dataset.name / day.isoformat()
    if not folder.is_dir() or not drop_files(folder, dataset):
        return False, f"{dataset.key} {day}: 尚未收到交付 nothing delivered yet in {folder}"
    try:
        check_delivery(dataset, folder, day, now=now)
    except DeliveryError as incomplete:
        return False, str(incomplete)
    return True, ""


def delivered_at(dataset: Dataset, folder: Path) -> float:
    """When the delivery completed (epoch seconds): the manifest's write, else the folder's last change."""
    manifest = folder / MANIFEST_NAME
    if dataset.delivery.completeness == "manifest" and manifest.is_file():
        return manifest.stat().st_mtime
    return max([folder.stat().st_mtime, *(os.stat(path).st_mtime for path in folder.iterdir())])


def check_delivery(dataset: Dataset, folder: Path, day: date, *, now: float | None = None) -> Manifest | None:
    """Raise :class:`DeliveryError` unless the drop in ``folder`` is complete by the dataset's standard.

    Returns the verified manifest (its row counts are checked as the pull reads each file), or None for a
    quiet-period delivery. ``now`` (epoch seconds) is for tests and the trigger's clock.
    """
    if dataset.delivery.completeness == "quiet_period":
        check_quiet(dataset, folder, now=time.time() if now is None else now)
        return None
    return verify_manifest(dataset, folder, day)


def verify_manifest(dataset: Dataset, folder: Path, day: date) -> Manifest:
    path = folder / MANIFEST_NAME
    present = drop_files(folder, dataset)
    if not path.is_file():
        raise DeliveryError(
            f"{dataset.key} {day}: 未收到交付清单 {MANIFEST_NAME}（{folder} 中有 {len(present)} 个数据文件），"
            f"交付未完成，未读取、未发布。请在全部文件上传完成后最后写入清单。 / No {MANIFEST_NAME} in {folder} "
            f"({len(present)} data file(s)): the delivery is not complete; nothing was read or published. "
            f"Write the manifest last, once every file is uploaded (governance delivery manifest).")
    manifest = Manifest.read(path)
    problems, resend = [], set()
    if manifest.dataset != dataset.key:
        problems.append(f"清单的数据集 dataset: expected {dataset.key}, found {manifest.dataset}")
    if manifest.business_date != day.isoformat():
        problems.append(f"清单的业务日期 business_date: expected {day}, found {manifest.business_date}")
    listed = {entry.name: entry for entry in manifest.files}
    on_disk = {file.name: file for file in present}
    for name in sorted(listed.keys() - on_disk.keys()):
        problems.append(f"{name}: 清单列出但未收到 listed in the manifest, not delivered")
        resend.add(name)
    for name in sorted(on_disk.keys() - listed.keys()):
        problems.append(f"{name}: 已收到但不在清单中 delivered, not in the manifest")
    for name in sorted(listed.keys() & on_disk.keys()):
        entry, size = listed[name], on_disk[name].stat().st_size
        if size != entry.size:
            problems.append(f"{name}: 字节数 size expected {entry.size}, found {size}"
                            + ("（文件不完整 truncated?）" if size < entry.size else ""))
            resend.add(name)
        elif (found := sha256_of(on_disk[name])) != entry.sha256:
            problems.append(f"{name}: SHA-256 expected {entry.sha256}, found {found}")
            resend.add(name)
    if problems:
        raise DeliveryError(_mismatch(dataset, day, folder, problems, resend))
    return manifest


def check_rows(dataset: Dataset, day: date, folder: Path, entry: FileEntry, found: int) -> None:
    """Called by the pull once a file is read, before anything is landed."""
    if found != entry.rows:
        raise DeliveryError(_mismatch(dataset, day, folder,
                                      [f"{entry.name}: 行数 rows expected {entry.rows}, found {found}"], {entry.name}))


def check_quiet(dataset: Dataset, folder: Path, *, now: float) -> None:
    minutes = dataset.delivery.quiet_minutes or 0
    changed = max([folder.stat().st_mtime, *(os.stat(path).st_mtime for path in folder.iterdir())])
    quiet_for = (now - changed) / 60
    if quiet_for < minutes:
        raise DeliveryError(
            f"{dataset.key}: {folder} 在 {quiet_for:.0f} 分钟前仍有变动，标准要求静默 {minutes} 分钟，"
            f"文件可能仍在写入，未读取、未发布。 / The folder changed {quiet_for:.0f} min ago; the standard's "
            f"quiet period is {minutes} min: files may still be being written; nothing was read or published.")


def _mismatch(dataset: Dataset, day: date, folder: Path, problems: list[str], resend: set[str]) -> str:
    again = "、".join(sorted(resend)) if resend else "修正后的清单 a corrected manifest"
    return (f"{dataset.key} {day}: 交付与清单不符，未读取、未发布 the delivery does not match its manifest, nothing "
            f"was read or published ({folder}): " + "; ".join(problems)
            + f". 请重新报送 Please resend: {again}，然后最后写入 {MANIFEST_NAME} (then write the manifest last).")
