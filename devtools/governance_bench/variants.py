"""The three measured variants; each runs in its own process (``python -m governance_bench.variants``) and
prints one JSON line: rows, seconds, peak_rss_mb. Imports happen before each clock starts.

``baseline`` is what the GX and pandas docs lead to: one ``read_csv``, one checkpoint over the whole frame
with ``result_format=COMPLETE``, a Python function per value for masking, ``DataFrame.to_sql``.
``pipeline`` is this project's steps as the DAG runs them: every task (the mapped chunks too) in a fresh
process on a ``ProcessPoolExecutor(2)``, as on a 2-slot Airflow worker; its memory is the proportional set
size of the whole process tree, sampled while it runs. ``copy_only`` is a bare ``COPY`` of the pipeline's
masked rows: the floor for any load.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import multiprocessing
import os
import resource
import sys
import threading
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
    from governance.keys import load_keyring
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


# What a worker holds before it runs a task (Airflow's SDK, the library, GX and the suite's custom expectations),
# imported once by the fork server; the baseline too imports GX before its clock starts.
_PRELOAD = ["airflow.sdk", "airflow.models", "governance.pipeline.chunked", "governance.pipeline.steps"]


def _task(task: tuple[str, str, str, int | None]) -> dict:
    """One Airflow task in a fresh process forked from the warm fork server, as a worker forks one per task:
    the same function the DAG's task calls, on the run's work area."""
    from governance.pipeline import chunked, contracts, steps

    name, run_id, day, chunk = task
    run = steps.Run.create(DATASET, run_id, date.fromisoformat(day))
    module = chunked if hasattr(chunked, name) else steps
    step = getattr(module, name)
    return contracts.as_json(step(run) if chunk is None else step(run, chunk))  # as the task returns it (XCom)


class _MemorySampler:
    """The pipeline's memory as the machine sees it: the proportional set size (shared pages counted once) of
    this process and all its descendants, summed every 50 ms, and the largest sum seen in each step."""

    def __init__(self) -> None:
        self.peak_mb, self.step, self.step_peaks = 0.0, "", {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            total = sum(_pss_mb(pid) for pid in _tree(os.getpid()))
            self.peak_mb = max(self.peak_mb, total)
            self.step_peaks[self.step] = round(max(self.step_peaks.get(self.step, 0.0), total), 1)


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def _pss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def pipeline(day: str, run_id: str, workers: int = 2) -> dict:
    """Every step as a task on a ``workers``-slot worker: pull, plan, the mapped validate and mask chunks
    (``workers`` at a time), the two finishing steps, publish. Each task is a fresh process forked from a fork
    server that preloaded what a worker holds; the parent only hands out tasks."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    timings: dict[str, float] = {}
    with ProcessPoolExecutor(workers, mp_context=context, max_tasks_per_child=1) as pool, \
            _MemorySampler() as memory:
        pool.submit(int).result()  # the fork server is up and warm before the clock runs

        def run(step: str, chunks: list[int | None]) -> list[dict]:
            memory.step, mark = step, time.monotonic()
            results = list(pool.map(_task, [(step, run_id, day, chunk) for chunk in chunks]))
            timings[step] = round(time.monotonic() - mark, 2)
            return results

        started = time.monotonic()
        run("pull", [None])
        chunks = run("plan", [None])[0]["chunks"]
        run("validate_chunk", chunks)
        validated = run("finish_validate", [None])[0]
        run("mask_chunk", chunks)
        run("finish_mask", [None])
        published = run("publish", [None])[0]
        seconds = time.monotonic() - started
        peak = memory.peak_mb
        run("record", [None])
        timings["record (not in the rate)"] = timings.pop("record")
        masked = pool.submit(_masked_path, run_id, day).result()
    return {"rows": validated["rows_received"], "seconds": seconds, "peak_rss_mb": peak,
            "memory": "proportional set size of the process tree, sampled every 50 ms",
            "step_peak_mb": memory.step_peaks, "chunks": len(chunks), "steps": timings,
            "rows_published": published["rows_published"], "masked": masked}


def _masked_path(run_id: str, day: str) -> str:
    """Where the run's masked parts are (asked of a worker: the parent keeps out of the library's imports)."""
    from governance.pipeline import steps

    return str(steps.Run.create(DATASET, run_id, date.fromisoformat(day)).area.masked)


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
