"""The nightly steps, pull -> plan -> validate (in chunks) -> mask (in chunks) -> publish -> record.

DAG tasks are one-line calls into this package; tests call the same functions directly.
"""
