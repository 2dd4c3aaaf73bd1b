"""Baseline: the ``governance`` schema as release 0.1.0 left it, adopted from any earlier state.

Before Alembic the schema was made by ``create_all`` calls plus hand-written ``ALTER``s, so a database
may hold any subset of these tables, a ``run_record`` without the standards-version and delivery columns
or a ``quarantine`` without ``key_token``. This revision therefore creates only what is missing, adds
those columns (NULL for existing rows: unknown) and (re)creates the append-only guards; every later
revision is a plain Alembic migration. The tables are frozen here, not imported: the live definitions
may move on, this revision must not.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

metadata = sa.MetaData(schema="governance")
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only

run_record = sa.Table(
    "run_record", metadata,
    sa.Column("dag_id", sa.String(250), primary_key=True),
    sa.Column("run_id", sa.String(250), primary_key=True),
    sa.Column("dataset_key", sa.String(200)),
    sa.Column("department", sa.String(100)),
    sa.Column("logical_date", sa.Date()),
    sa.Column("started_at", sa.DateTime()),
    sa.Column("finished_at", sa.DateTime()),
    sa.Column("duration_s", sa.Float()),
    sa.Column("rows_received", sa.BigInteger()),
    sa.Column("rows_passed", sa.BigInteger()),
    sa.Column("rows_quarantined", sa.BigInteger()),
    sa.Column("rows_published", sa.BigInteger()),
    sa.Column("verdict", sa.String(32)),
    sa.Column("masked_columns", sa.Text(), comment="JSON list of the columns masked before publishing"),
    sa.Column("leak_findings", sa.Text(), comment="JSON list of the leak scan's findings"),
    sa.Column("quarantined_by_rule", sa.Text(), comment="JSON object: rows quarantined per rule"),
    sa.Column("published_table", sa.String(250)),
    sa.Column("message", sa.Text()),
    sa.Column("delivered_at", sa.DateTime(), comment="when the department's delivery completed (manifest written)"),
    sa.Column("standard_version", sa.String(64), comment="content hash of the standard, elements and code tables"),
    sa.Column("suite_version", sa.String(64), comment="content hash of the expectation suite"),
    sa.Column("standards_commit", sa.String(64), comment="git commit of the standards, where there is one"),
    sa.Column("standards_versions", sa.Text(), comment="JSON: every hash, the rules' business date, rules deferred"),
    sa.Index("ix_run_record_dataset", "dataset_key", "started_at"),
    comment="每次数据治理运行的记录",
)

quarantine = sa.Table(
    "quarantine", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("dataset_key", sa.String(200), nullable=False),
    sa.Column("source_file", sa.Text()),
    sa.Column("source_line", sa.BigInteger()),
    sa.Column("rules", sa.Text(), comment="the rules the row broke"),
    sa.Column("masked_row", sa.Text(), comment="JSON of the row with sensitive values masked"),
    sa.Column("raw_row_encrypted", sa.Text(), comment="ciphertext of the raw row (never plain text)"),
    sa.Column("status", sa.String(10), nullable=False, server_default="open"),
    sa.Column("closed_by_run", sa.String(250)),
    sa.Column("key_token", sa.String(64),
              comment="keyed pseudonym of the row's primary key: a later run publishing that key closes the entry"),
    sa.CheckConstraint("status IN ('open', 'closed')", name="ck_quarantine_status"),
    sa.Index("ix_quarantine_run", "run_id", "dataset_key"),
    sa.Index("ix_quarantine_open", "dataset_key", "status"),
    sa.Index("ix_quarantine_key", "dataset_key", "key_token"),
    comment="隔离区: 未通过校验的记录",
)

key_registry = sa.Table(
    "key_registry", metadata,
    sa.Column("key_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False, comment="first 12 hex digits of the key's SHA-256"),
    sa.Column("first_seen_at", sa.DateTime(), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("status_changed_at", sa.DateTime()),
    sa.CheckConstraint("kind IN ('pseudonym', 'encryption')", name="ck_key_registry_kind"),
    sa.CheckConstraint("status IN ('next', 'active', 'retiring', 'retired')", name="ck_key_registry_status"),
    comment="密钥登记: 密钥标识、指纹与状态(不含密钥)",
)

decryption_audit = sa.Table(
    "decryption_audit", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("purpose", sa.String(200), nullable=False),
    sa.Column("table_name", sa.String(250)),
    sa.Column("column_name", sa.String(250)),
    sa.Column("element", sa.String(200)),
    sa.Column("rows", sa.BigInteger()),
    sa.Column("key_ids", sa.Text(), comment="JSON list of the key ids the values were under"),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text()),
    sa.Index("ix_decryption_audit_at", "at"),
    comment="解密审计: 谁、为何、解密了多少值(不含值)",
)

pseudonym_map = sa.Table(
    "pseudonym_map", metadata,
    sa.Column("element_key", sa.String(200), primary_key=True),
    sa.Column("current_token", sa.String(64), primary_key=True),
    sa.Column("next_token", sa.String(64), nullable=False),
    sa.Column("next_key_id", sa.String(64), nullable=False),
    sa.Index("ix_pseudonym_map_next", "element_key", "next_token"),
    comment="假名映射: 轮换期间当前假名与新假名的对应(只有假名, 不含原值)",
)

report_view = sa.Table(
    "report_view", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(), nullable=False),
    sa.Column("viewer", sa.String(250), nullable=False, comment="the Airflow user name"),
    sa.Column("department", sa.String(100), nullable=False),
    sa.Column("dataset_key", sa.String(200), nullable=False),
    sa.Column("report", sa.String(250), nullable=False, comment="the report's file name"),
    sa.Column("decision", sa.String(10), nullable=False),
    sa.CheckConstraint("decision IN ('allowed', 'denied')", name="ck_report_view_decision"),
    sa.Index("ix_report_view_at", "at"),
    comment="原始隔离报告查看日志(只增不改)",
)

freshness_history = sa.Table(
    "freshness_history", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("checked_at", sa.DateTime(), nullable=False, comment="naive UTC"),
    sa.Column("dataset_key", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("pipeline_age_h", sa.Float()),
    sa.Column("data_age_h", sa.Float()),
    sa.Column("notified", sa.Boolean(), nullable=False, server_default=sa.true(),
              comment="false when this status changed and the alert could not be delivered"),
    sa.Index("ix_freshness_history_dataset", "dataset_key", "checked_at"),
    sa.Index("ix_freshness_history_checked", "checked_at"),
    comment="数据时效性检查记录(每小时)",
)

api_token = sa.Table(
    "api_token", metadata,
    sa.Column("token_id", sa.String(32), primary_key=True),
    sa.Column("department", sa.String(100), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, comment="hex SHA-256 of the token; never the token"),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("expires_at", sa.DateTime()),
    sa.Column("revoked_at", sa.DateTime()),
    comment="共享接口调用令牌(仅存哈希)",
)

access_log = sa.Table(
    "access_log", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(), nullable=False),
    sa.Column("request_id", sa.String(32), nullable=False),
    sa.Column("consumer", sa.String(100), nullable=False),
    sa.Column("token_id", sa.String(32)),
    sa.Column("method", sa.String(10), nullable=False),
    sa.Column("endpoint", sa.String(200), nullable=False, comment="route template, never the raw path"),
    sa.Column("dataset_key", sa.String(200)),
    sa.Column("columns", sa.Text(), comment="JSON list of the columns served"),
    sa.Column("filter_shape", sa.Text(), comment="JSON list of filter NAMES (never values)"),
    sa.Column("rows_returned", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("decision", sa.String(10), nullable=False),
    sa.Column("reason", sa.String(200)),
    sa.Column("status_code", sa.SmallInteger(), nullable=False),
    sa.Column("latency_ms", sa.Float()),
    sa.CheckConstraint("decision IN ('allowed', 'denied', 'blocked')", name="ck_access_log_decision"),
    sa.Index("ix_access_log_consumer_dataset", "consumer", "dataset_key", "at"),
    sa.Index("ix_access_log_at", "at"),
    comment="共享接口访问日志(只增不改)",
    implicit_returning=False,  # the service may INSERT, not SELECT: no RETURNING id
)

security_event = sa.Table(
    "security_event", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(), nullable=False),
    sa.Column("request_id", sa.String(32)),
    sa.Column("consumer", sa.String(100), nullable=False),
    sa.Column("dataset_key", sa.String(200)),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("detail", sa.Text(), comment="counts and thresholds only, never data values"),
    sa.Column("alerted", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.CheckConstraint("kind IN ('quota_exceeded', 'scan_pattern')", name="ck_security_event_kind"),
    sa.Index("ix_security_event_at", "at"),
    comment="共享接口安全事件(批量下载拦截)",
)

row_quota_usage = sa.Table(
    "row_quota_usage", metadata,
    sa.Column("consumer", sa.String(100), primary_key=True),
    sa.Column("dataset_key", sa.String(200), primary_key=True),
    sa.Column("day", sa.Date(), primary_key=True, comment="the platform's calendar day (Asia/Shanghai)"),
    sa.Column("rows_served", sa.BigInteger(), nullable=False),
    comment="每日按消费部门和数据集计的已提供行数(配额)",
)

scan_usage = sa.Table(
    "scan_usage", metadata,
    sa.Column("consumer", sa.String(100), primary_key=True),
    sa.Column("dataset_key", sa.String(200), primary_key=True),
    sa.Column("bucket", sa.DateTime(), primary_key=True, comment="start of the time bucket (naive UTC)"),
    sa.Column("rows_served", sa.BigInteger(), nullable=False),
    comment="敏感数据集按时间段计的已提供行数(批量下载识别)",
)

scan_requests = sa.Table(
    "scan_requests", metadata,
    sa.Column("consumer", sa.String(100), primary_key=True),
    sa.Column("dataset_key", sa.String(200), primary_key=True),
    sa.Column("bucket", sa.DateTime(), primary_key=True, comment="start of the time bucket (naive UTC)"),
    sa.Column("cursor_pages", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("misses", sa.Integer(), nullable=False, server_default="0"),
    comment="敏感数据集按时间段计的翻页次数和未命中查询次数(遍历识别)",
)

_REPORT_VIEW_POSTGRES = (
    """CREATE OR REPLACE FUNCTION governance.report_view_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'governance.report_view is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
    END $$""",
    "REVOKE UPDATE, DELETE, TRUNCATE ON governance.report_view FROM PUBLIC",
    """CREATE OR REPLACE TRIGGER report_view_append_only BEFORE UPDATE OR DELETE ON governance.report_view
    FOR EACH ROW EXECUTE FUNCTION governance.report_view_refuse()""",
    """CREATE OR REPLACE TRIGGER report_view_no_truncate BEFORE TRUNCATE ON governance.report_view
    FOR EACH STATEMENT EXECUTE FUNCTION governance.report_view_refuse()""",
)

_REPORT_VIEW_SQLITE = (
    """CREATE TRIGGER IF NOT EXISTS governance.report_view_no_update BEFORE UPDATE ON report_view
    BEGIN SELECT RAISE(ABORT, 'governance.report_view is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS governance.report_view_no_delete BEFORE DELETE ON report_view
    BEGIN SELECT RAISE(ABORT, 'governance.report_view is append-only'); END""",
)

_SHARING_POSTGRES = (
    """CREATE OR REPLACE FUNCTION governance.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'governance.% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
    END $$""",
    """CREATE OR REPLACE FUNCTION governance.security_event_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND (to_jsonb(NEW) - 'alerted') = (to_jsonb(OLD) - 'alerted') THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION 'governance.security_event is append-only (only alerted may change): % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
    END $$""",
    "REVOKE UPDATE, DELETE, TRUNCATE ON governance.access_log FROM PUBLIC",
    "REVOKE DELETE, TRUNCATE ON governance.security_event FROM PUBLIC",
    """CREATE OR REPLACE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON governance.access_log
    FOR EACH ROW EXECUTE FUNCTION governance.refuse_change()""",
    """CREATE OR REPLACE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON governance.access_log
    FOR EACH STATEMENT EXECUTE FUNCTION governance.refuse_change()""",
    """CREATE OR REPLACE TRIGGER security_event_append_only BEFORE UPDATE OR DELETE ON governance.security_event
    FOR EACH ROW EXECUTE FUNCTION governance.security_event_guard()""",
    """CREATE OR REPLACE TRIGGER security_event_no_truncate BEFORE TRUNCATE ON governance.security_event
    FOR EACH STATEMENT EXECUTE FUNCTION governance.refuse_change()""",
)

_SHARING_SQLITE = (
    """CREATE TRIGGER IF NOT EXISTS governance.access_log_no_update BEFORE UPDATE ON access_log
    BEGIN SELECT RAISE(ABORT, 'governance.access_log is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS governance.access_log_no_delete BEFORE DELETE ON access_log
    BEGIN SELECT RAISE(ABORT, 'governance.access_log is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS governance.security_event_no_update
    BEFORE UPDATE OF id, at, request_id, consumer, dataset_key, kind, detail ON security_event
    BEGIN SELECT RAISE(ABORT, 'governance.security_event is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS governance.security_event_no_delete BEFORE DELETE ON security_event
    BEGIN SELECT RAISE(ABORT, 'governance.security_event is append-only'); END""",
)

# Columns earlier releases added by hand-written ALTERs, so an older table may lack them.
_LATE_COLUMNS = (
    ("run_record", ("delivered_at", "standard_version", "suite_version", "standards_commit", "standards_versions")),
    ("quarantine", ("key_token",)),
)


def upgrade() -> None:
    bind = op.get_bind()
    metadata.create_all(bind, checkfirst=True)
    for table_name, names in _LATE_COLUMNS:
        present = {column["name"] for column in sa.inspect(bind).get_columns(table_name, schema="governance")}
        for column in metadata.tables[f"governance.{table_name}"].c:
            if column.name in names and column.name not in present:
                op.add_column(table_name, sa.Column(column.name, column.type, comment=column.comment),
                              schema="governance")
    for table in metadata.sorted_tables:  # indexes of the late columns
        existing = {index["name"] for index in sa.inspect(bind).get_indexes(table.name, schema="governance")}
        for index in table.indexes:
            if index.name not in existing:
                index.create(bind)
    postgres = bind.dialect.name == "postgresql"
    for statement in (*_REPORT_VIEW_POSTGRES, *_SHARING_POSTGRES) if postgres else (*_REPORT_VIEW_SQLITE,
                                                                                    *_SHARING_SQLITE):
        op.execute(sa.text(statement))


def downgrade() -> None:
    raise NotImplementedError("compliance records are never dropped by a downgrade; restore a backup instead")
