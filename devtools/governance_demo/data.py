"""Realistic synthetic drops from the six departments, with a known share of real-world defects.

One synthetic province (Zhejiang by default, ``world``) is generated once per seed, and every department's
file is cut from it (``datasets``), so the same people and companies appear in every department. The world
depends on ``seed`` and ``rows`` only; what a given night changes (``updated_at``, remarks, which rows carry
the planted ``defects``) depends on ``day`` too, so successive nights look like successive exports.
``writers`` puts each drop where and how its department's source says; a file drop's manifest is written
last, as the delivery protocol asks of departments (``sources.delivery``).
"""

from __future__ import annotations

import zlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from governance.sources.delivery import write_manifest
from governance.standards.catalogue import Catalogue
from governance_demo import writers
from governance_demo.datasets import dataset_frame
from governance_demo.defects import Defects
from governance_demo.world import World
from governance_demo.writers import write_drop

DEFAULT_PROVINCE = "33"


@dataclass(frozen=True)
class DemoDrop:
    """One dataset's demo drop: where it went, how many rows, which defects (kind -> rows) were planted.

    ``leaks`` counts rows whose free text embeds a valid identifier (the leak guard's test case; those
    values are valid, so they are not defects). ``files`` lists every file when a workbook had to be
    split at Excel's row limit; ``path`` is the first (for the SQL source: the SQLite database).
    """

    dataset: str
    path: Path
    rows: int
    defects: dict[str, int] = field(default_factory=dict)
    leaks: dict[str, int] = field(default_factory=dict)
    files: tuple[Path, ...] = ()

    @property
    def defect_rows(self) -> int:
        return sum(self.defects.values())


def write_demo_data(catalogue: Catalogue, landing_root: Path, var_root: Path, day: date, rows: int = 2000,
                    defect_share: float = 0.03, seed: int = 20261128, *,
                    province: str = DEFAULT_PROVINCE, datasets: Collection[str] | None = None,
                    defect_shares: Mapping[str, float] | None = None) -> list[DemoDrop]:
    """Write one drop per dataset for the night of ``day``; return what was written.

    ``datasets`` limits the drops to those dataset keys (the history of ``governance demo`` delivers weekly and
    monthly datasets on their own days); ``defect_shares`` sets a dataset's defect share apart from the others
    (a night of poor quality, a corrected resubmission with none). A dataset's rows do not depend on its
    defect share: a drop written again with share 0 is the same night's rows, corrected.

    Files land in ``landing_root/<department>/<dataset>/<YYYY-MM-DD>/<dataset>_<YYYYMMDD>.<csv|xlsx>``;
    SQL sources become tables in ``var_root/departments/<department>.db`` (SQLite, replaced on each
    call) registered as Airflow connections in ``var_root/secrets/connections.json``. ``rows`` is the
    size of the resident population (50 .. 5,000,000); the other datasets are sized from it.
    """
    shares = {key: defect_share for key in catalogue.datasets} | dict(defect_shares or {})
    for share in shares.values():
        if not 0 <= share < 0.5:
            raise ValueError(f"defect_share must be in [0, 0.5): defects are never the majority, got {share}")
    if rows < 50:
        raise ValueError(f"rows must be at least 50, got {rows}")
    world = World.build(catalogue, rows, seed, day, province)
    drops = []
    for dataset in catalogue.datasets.values():
        if datasets is not None and dataset.key not in datasets:
            continue
        columns = catalogue.columns(dataset)
        stable = np.random.default_rng([seed, zlib.crc32(dataset.key.encode())])
        daily = np.random.default_rng([seed, day.toordinal(), zlib.crc32(dataset.key.encode())])
        frame, leaks = dataset_frame(world, dataset, columns, stable, daily)
        frame, defects = Defects(world, columns, daily, spreadsheet=dataset.source.kind == "excel").inject(
            frame, shares[dataset.key])
        paths = write_drop(frame, dataset, columns, landing_root, var_root, day)
        if dataset.source.kind != "sql" and dataset.delivery.completeness == "manifest":
            # The exporter's own counts: workbooks are split at Excel's row limit, CSV is one file.
            limit = writers.EXCEL_MAX_ROWS
            rows_per_file = {path.name: min(limit, len(frame) - part * limit)
                             for part, path in enumerate(paths)} if dataset.source.kind == "excel" else {
                                 paths[0].name: len(frame)}
            write_manifest(paths[0].parent, dataset, day, f"{dataset.department} 演示导出 demo export", rows_per_file)
        drops.append(DemoDrop(dataset.key, paths[0], len(frame), defects, leaks, tuple(paths)))
    return drops
