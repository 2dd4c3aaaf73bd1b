"""Data governance for a provincial data-sharing platform: standards, sources, validation,
masking, warehouse and oversight, wired into Apache Airflow by ``governance_plugin``."""

import logging

# GX logs a few hundred INFO lines while importing (its docs decorators and metric registry) into every
# validate task's log; its warnings and errors still show.
logging.getLogger("great_expectations").setLevel(logging.WARNING)
