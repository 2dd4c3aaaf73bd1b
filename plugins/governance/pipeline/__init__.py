"""The nightly steps, pull -> validate -> mask -> publish -> record, each a plain function.

DAG tasks are one-line calls into this package; tests call the same functions directly.
"""
