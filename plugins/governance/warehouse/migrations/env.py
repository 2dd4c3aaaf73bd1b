"""Alembic's environment: always run by :mod:`governance.warehouse.migrate` on a connection it holds.

The caller has opened a write transaction and taken the schema lock, so the migrations join that
transaction (no transaction of their own) and the version table lives in the ``governance`` schema.
"""

from alembic import context

from governance.warehouse.engine import GOVERNANCE_SCHEMA

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table_schema=GOVERNANCE_SCHEMA,
                  target_metadata=context.config.attributes.get("target_metadata"),
                  include_schemas=True,
                  include_name=lambda name, kind, _parent: kind != "schema" or name == GOVERNANCE_SCHEMA)
with context.begin_transaction():
    context.run_migrations()
