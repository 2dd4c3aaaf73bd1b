"""The warehouse: published datasets in schema ``shared``, the platform's records in ``governance``.

Works on PostgreSQL (production) and SQLite (local demo, tests) with the same table names.
"""

from governance.warehouse.engine import (
    GOVERNANCE_SCHEMA,
    SHARED_SCHEMA,
    is_postgres,
    warehouse_engine,
    write_transaction,
)
from governance.warehouse.publish import PublishError, PublishResult, WarehouseUnavailable, publish, staging_table
from governance.warehouse.records import (
    ensure_governance_tables,
    latest_runs,
    previous_rows_received,
    quarantine,
    run_record,
    write_quarantine,
    write_run_record,
)
from governance.warehouse.schema import (
    LINEAGE_COLUMNS,
    Drift,
    SchemaDriftError,
    TableSync,
    check_frame_columns,
    column_type,
    dataset_table,
    detect_drift,
    ensure_table,
    published_columns,
    qualified_name,
    table_name,
)

__all__ = [
    "GOVERNANCE_SCHEMA",
    "LINEAGE_COLUMNS",
    "SHARED_SCHEMA",
    "Drift",
    "PublishError",
    "PublishResult",
    "SchemaDriftError",
    "TableSync",
    "WarehouseUnavailable",
    "check_frame_columns",
    "column_type",
    "dataset_table",
    "detect_drift",
    "ensure_governance_tables",
    "ensure_table",
    "is_postgres",
    "latest_runs",
    "previous_rows_received",
    "publish",
    "published_columns",
    "qualified_name",
    "quarantine",
    "run_record",
    "staging_table",
    "table_name",
    "warehouse_engine",
    "write_quarantine",
    "write_run_record",
    "write_transaction",
]
