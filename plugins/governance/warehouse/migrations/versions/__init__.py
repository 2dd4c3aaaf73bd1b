"""One file per revision of the ``governance`` schema; ``governance db revision -m "..."`` writes the next one."""
