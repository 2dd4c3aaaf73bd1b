"""The three measured variants; each runs in its own process (``python -m governance.bench.variants``), so
its peak RSS is its own (``ru_maxrss``), and prints one JSON line: rows, seconds, peak_rss_mb.

``baseline`` is what the GX and pandas docs lead to: one ``read_csv``, one checkpoint over the whole frame
with ``result_format=COMPLETE``, a Python function per value for masking, ``DataFrame.to_sql``.
``pipeline`` is this project's steps as the DAG runs them, chunks on a ``ProcessPoolExecutor(2)`` as mapped
tasks run on a 2-slot worker; workers' peaks are added to the parent's. ``copy_only`` is a bare ``COPY`` of
the pipeline's masked rows: the floor for any load.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import multiprocessing
import os
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

DATASET = "public_security/resident_population"


def _peak_mb() -> float:
    """This process's own peak RSS: ``VmHWM`` (``ru_maxrss`` would carry over the forking parent's peak
    across ``exec``, so every variant would report at least the data generator's memory)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def baseline(csv_path: str, url: str) -> dict:
    import great_expectations as gx
    import pandas as pd
    import sqlalchemy as sa
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    import governance.validation.expectations  # noqa: F401  (the suite's custom expectations)
    from governance.masking import load_keyring
    from governance.settings import get_settings
    from governance.standards.catalogue import load_catalogue
    from governance.validation import load_suite, suite_path
    from governance.validation.runner import to_gx_suite

    settings = get_settings()
    catalogue = load_catalogue(settings.standards_root)
    dataset = catalogue.dataset(DATASET)
    keyring = load_keyring()
    started = time.monotonic()
    frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False).replace("", None)
    context = gx.get_context(mode="ephemeral")
    batch = context.data_sources.add_pandas("p").add_dataframe_asset("a").add_batch_definition_whole_dataframe("b")
    suite = context.suites.add(to_gx_suite(load_suite(suite_path(dataset, settings.expectations_root))))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name="v", data=batch, suite=suite))
    checkpoint = context.checkpoints.add(gx.Checkpoint(name="c", validation_definitions=[definition],
                                                       result_format={"result_format": "COMPLETE"}))
    result = checkpoint.run(batch_parameters={"dataframe": frame})
    failing: set[int] = set()
    for run_result in result.run_results.values():
        for item in run_result.results:
            failing.update((item.result or {}).get("unexpected_index_list") or [])
    passed = frame.drop(index=sorted(failing))
    aead = AESGCM(keyring.encryption_key)

    def pseudonym(value):
        if not isinstance(value, str):
            return None
        return hmac.new(keyring.pseudonym_key, value.encode(), hashlib.sha256).hexdigest()

    def encrypt(value):
        nonce = os.urandom(12)
        return (nonce + aead.encrypt(nonce, value.encode(), None)).hex() if isinstance(value, str) else None

    per_rule = {"pseudonym": pseudonym, "encrypt": encrypt,
                "partial": lambda v: v[:1] + "*" * max(len(v) - 1, 0) if isinstance(v, str) else None,
                "generalize": lambda v: v[:4] if isinstance(v, str) else None}
    out = {}
    for column in catalogue.columns(dataset):
        if not column.published:
            continue
        function = per_rule.get(column.masking.rule)
        out[column.name] = passed[column.name].map(function) if function else passed[column.name]
    masked = pd.DataFrame(out)
    engine = sa.create_engine(url)
    masked.to_sql("baseline_resident_population", engine, if_exists="replace", index=False, method=None)
    engine.dispose()
    return {"rows": len(frame), "seconds": time.monotonic() - started, "peak_rss_mb": _peak_mb()}


def _noop(_: int) -> int:
    return os.getpid()


def _chunk(task: tuple[str, str, str, int]) -> tuple[int, float]:
    """One mapped task in a pool worker: the same function the DAG's mapped task calls."""
    from governance.pipeline import chunked, steps

    step, run_id, day, chunk = task
    run = steps.Run.create(DATASET, run_id, date.fromisoformat(day))
    getattr(chunked, step)(run, chunk)
    return os.getpid(), _peak_mb()


def pipeline(day: str, run_id: str, workers: int = 2) -> dict:
    from governance.pipeline import chunked, steps

    run = steps.Run.create(DATASET, run_id, date.fromisoformat(day))
    timings, peaks = {}, {}
    started = time.monotonic()
    # spawn, not fork: each worker is its own process with its own imports, as an Airflow task is, and its
    # peak is its own (a forked worker's would count the parent's pages too).
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_noop, range(workers)))  # workers started before the clock runs
        for name, action in (("pull", lambda: steps.pull(run)), ("plan", lambda: chunked.plan(run)),
                             ("validate", lambda: _mapped(pool, "validate_chunk", run, peaks)),
                             ("finish_validate", lambda: chunked.finish_validate(run)),
                             ("mask", lambda: _mapped(pool, "mask_chunk", run, peaks)),
                             ("finish_mask", lambda: chunked.finish_mask(run)),
                             ("publish", lambda: steps.publish(run))):
            mark = time.monotonic()
            action()
            timings[name] = round(time.monotonic() - mark, 2)
    seconds = time.monotonic() - started
    mark = time.monotonic()
    steps.record(run)
    timings["record (not in the rate)"] = round(time.monotonic() - mark, 2)
    rows = run.area.read_step("validate")["rows_received"]
    return {"rows": rows, "seconds": seconds, "peak_rss_mb": _peak_mb() + sum(peaks.values()),
            "parent_peak_rss_mb": _peak_mb(), "worker_peak_rss_mb": sorted(peaks.values()), "steps": timings,
            "rows_published": run.area.read_step("publish")["rows_published"], "masked": str(run.area.masked)}


def _mapped(pool: ProcessPoolExecutor, step: str, run, peaks: dict[int, float]) -> None:
    chunks = run.area.read_step("plan")["chunks"]
    tasks = [(step, run.run_id, run.logical_date.isoformat(), chunk) for chunk in chunks]
    for pid, peak in pool.map(_chunk, tasks):
        peaks[pid] = max(peaks.get(pid, 0.0), peak)


def copy_only(masked: str, url: str) -> dict:
    """COPY the masked rows from a CSV file prepared beforehand (not timed): the load floor."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    import sqlalchemy as sa

    from governance.pipeline.chunks import iter_parts

    csv_path = Path(masked).with_name("copy_only.csv")
    names = pq.ParquetFile(iter_parts(Path(masked))[0]).schema_arrow.names
    names = [name for name in names if not name.startswith("_")]
    with pacsv.CSVWriter(csv_path, pq.ParquetFile(iter_parts(Path(masked))[0]).schema_arrow.empty_table()
                         .select(names).schema, write_options=pacsv.WriteOptions(
                             include_header=False, quoting_style="all_valid")) as writer:
        for part in iter_parts(Path(masked)):
            writer.write_table(pq.read_table(part, columns=names))
    engine = sa.create_engine(url)
    columns = ", ".join(f'"{name}" text' for name in names)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS copy_only; CREATE TABLE copy_only ({columns})")
    started = time.monotonic()
    with engine.begin() as connection:
        driver = connection.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy("COPY copy_only FROM STDIN WITH (FORMAT csv)") as copy, \
                csv_path.open("rb") as handle:
            while block := handle.read(1 << 20):
                copy.write(block)
        rows = connection.exec_driver_sql("SELECT count(*) FROM copy_only").scalar()
    seconds = time.monotonic() - started
    engine.dispose()
    csv_path.unlink()
    return {"rows": rows, "seconds": seconds, "peak_rss_mb": _peak_mb()}


if __name__ == "__main__":
    variant, arguments = sys.argv[1], json.loads(sys.argv[2])
    outcome = {"baseline": baseline, "pipeline": pipeline, "copy_only": copy_only}[variant](**arguments)
    print("BENCH " + json.dumps(outcome))
