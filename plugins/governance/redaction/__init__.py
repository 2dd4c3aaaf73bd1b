"""Strings that must not carry a person: identifiers redacted from text, JSON and exceptions, department
column names described by their shape, and the leak guard that scans every outgoing column."""
