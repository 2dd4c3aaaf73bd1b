"""``governance db``: the ``governance`` schema's migrations from the command line (docs/operations.md).

Lives beside the CLI, not in ``warehouse/``, because the schema's tables are declared by the steps that
own them (warehouse, oversight, sharing) and only this top layer may import them all.
"""

from __future__ import annotations

import argparse

import sqlalchemy as sa

from governance.oversight import history
from governance.sharing import tables as sharing_tables
from governance.warehouse import records, report_views
from governance.warehouse.engine import warehouse_engine
from governance.warehouse.migrate import current, head, new_revision, upgrade


def governance_metadata() -> sa.MetaData:
    """Every table of the ``governance`` schema as the code declares it: what ``head`` must equal."""
    combined = sa.MetaData()
    for metadata in (records.metadata, report_views.metadata, history.metadata, sharing_tables.metadata):
        for table in metadata.tables.values():
            table.to_metadata(combined)
    return combined


def upgrade_command(arguments: argparse.Namespace) -> int:
    engine = warehouse_engine()
    before = current(engine)
    after = upgrade(engine, arguments.revision)
    print(f"governance schema: {before or 'empty'} -> {after}" if before != after
          else f"governance schema already at {after}")
    return 0


def current_command(_: argparse.Namespace) -> int:
    print(f"warehouse: {current(warehouse_engine()) or 'none (run governance db upgrade)'}; head: {head()}")
    return 0


def revision_command(arguments: argparse.Namespace) -> int:
    engine = warehouse_engine()
    upgrade(engine)
    print(f"wrote {new_revision(engine, arguments.message, governance_metadata())}")
    return 0
