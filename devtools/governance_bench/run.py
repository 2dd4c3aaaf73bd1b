"""``make bench``: generate the reference dataset at ``ROWS``, run the three variants against one fresh
PostgreSQL database, and write ``var/bench/results.json`` (plus ``details.json`` with step timings).

Each variant is a subprocess (``variants``) so each peak RSS is that variant's own. ``BASELINE_ROWS`` caps
the baseline (the naive path takes minutes per million rows): its rate is then measured on that sample
and the JSON says so (``baseline.rows``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from governance.keys import generate_keyring, keyring_to_json
from governance.settings import REPO_ROOT
from governance.standards.catalogue import load_catalogue

DATASET = "public_security/resident_population"
ADMIN_URL = os.environ.get("GOVERNANCE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TARGET_ROWS = 120_000_000
DAY = date(2026, 11, 27)


def _variant(name: str, environment: dict[str, str], **arguments: object) -> dict:
    done = subprocess.run([sys.executable, "-m", "governance_bench.variants", name, json.dumps(arguments)],
                          env=environment, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH ")]
    if done.returncode or not lines:
        raise RuntimeError(f"bench variant {name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
    return json.loads(lines[-1].removeprefix("BENCH "))


def _sample(csv_path: Path, rows: int, folder: Path) -> Path:
    """The first ``rows`` data rows of the drop (the baseline's sample when capped), outside the landing
    folder so the pipeline never pulls it as part of the drop."""
    sample = folder / f"baseline_sample_{rows}.csv"
    with csv_path.open("rb") as source, sample.open("wb") as target:
        for index, line in enumerate(source):
            if index > rows:
                break
            target.write(line)
    return sample


def bench(rows: int, baseline_rows: int | None, out: Path, work: Path) -> dict:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    keyring = generate_keyring()
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    database = f"gov_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{database}"')
    url = admin.url.set(database=database).render_as_string(hide_password=False)
    environment |= {"GOVERNANCE_VAR_ROOT": str(work), "GOVERNANCE_WAREHOUSE_URL": url,
                    "AIRFLOW_VAR_GOVERNANCE_KEYRING": keyring_to_json(keyring), "PYTHONUNBUFFERED": "1"}
    try:
        catalogue = load_catalogue(REPO_ROOT / "standards")
        only = dataclasses.replace(catalogue, datasets={DATASET: catalogue.dataset(DATASET)})
        from governance_demo import write_demo_data

        started = time.monotonic()
        drop = write_demo_data(only, work / "landing", work, DAY, rows=rows)[0]
        print(f"generated {drop.rows} rows ({drop.defect_rows} planted defects) in {time.monotonic() - started:.0f} s")
        sample_rows = min(baseline_rows or drop.rows, drop.rows)
        csv_path = drop.path if sample_rows >= drop.rows else _sample(drop.path, sample_rows, work)
        results = {"pipeline": _variant("pipeline", environment, day=DAY.isoformat(), run_id="bench__pipeline")}
        print(f"pipeline: {results['pipeline']['seconds']:.1f} s {results['pipeline']['steps']}")
        results["copy_only"] = _variant("copy_only", environment, masked=results["pipeline"]["masked"], url=url)
        print(f"copy_only: {results['copy_only']['seconds']:.1f} s")
        results["baseline"] = _variant("baseline", environment, csv_path=str(csv_path), url=url)
        print(f"baseline: {results['baseline']['seconds']:.1f} s on {results['baseline']['rows']} rows")
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.dispose()
    return report(drop.rows, results, out, capped=sample_rows < drop.rows)


def report(rows: int, results: dict[str, dict], out: Path, *, capped: bool) -> dict:
    figures = {name: {"rows_per_s": round(result["rows"] / result["seconds"], 1),
                      "peak_rss_mb": round(result["peak_rss_mb"], 1)} for name, result in results.items()}
    if capped:
        figures["baseline"] = {"rows": results["baseline"]["rows"], **figures["baseline"]}
    rate = figures["pipeline"]["rows_per_s"]
    summary = {"rows": rows, "baseline": figures["baseline"], "pipeline": figures["pipeline"],
               "copy_only": figures["copy_only"],
               "ratio_pipeline_baseline": round(rate / figures["baseline"]["rows_per_s"], 2),
               "ratio_pipeline_copy_only": round(rate / figures["copy_only"]["rows_per_s"], 2),
               "projected_hours_120m": round(TARGET_ROWS / rate / 3600, 2)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    (out / "details.json").write_text(json.dumps(results, indent=1))
    print(f"\n{'variant':<10} {'rows':>10} {'rows/s':>12} {'peak RSS MB':>12}")
    for name in ("baseline", "pipeline", "copy_only"):
        shown = results[name]["rows"]
        print(f"{name:<10} {shown:>10} {figures[name]['rows_per_s']:>12,.0f} {figures[name]['peak_rss_mb']:>12,.0f}")
    if capped:
        print(f"(baseline rate measured on a {results['baseline']['rows']}-row sample: BASELINE_ROWS)")
    print(f"pipeline / baseline: {summary['ratio_pipeline_baseline']}x   pipeline / copy_only: "
          f"{summary['ratio_pipeline_copy_only']}x   projected 1.2e8 rows: {summary['projected_hours_120m']} h")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=int(os.environ.get("ROWS") or 1_000_000))
    parser.add_argument("--baseline-rows", type=int, default=int(os.environ.get("BASELINE_ROWS") or 0) or None)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "var" / "bench")
    parser.add_argument("--work", type=Path, default=REPO_ROOT / "var" / "bench" / "work")
    arguments = parser.parse_args(argv)
    bench(arguments.rows, arguments.baseline_rows, arguments.out, arguments.work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
