"""Alembic migrations of the ``governance`` schema, applied by :mod:`governance.warehouse.migrate`."""
