"""The bench harness end to end on 20k rows: three variants, results.json in the documented shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_bench_writes_results_in_the_documented_shape(tmp_path: Path, postgres_admin) -> None:
    from governance_bench.run import bench

    bench(20_000, 5_000, tmp_path / "out", tmp_path / "work")
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert list(results) == ["rows", "baseline", "pipeline", "copy_only", "ratio_pipeline_baseline",
                             "ratio_pipeline_copy_only", "projected_hours_120m"]
    assert results["rows"] >= 20_000 and results["baseline"]["rows"] == 5_000
    for variant in ("pipeline", "copy_only"):
        assert set(results[variant]) == {"rows_per_s", "peak_rss_mb"} and results[variant]["rows_per_s"] > 0
    assert results["projected_hours_120m"] > 0
