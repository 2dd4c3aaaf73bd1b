"""Data governance for a provincial data-sharing platform: standards, sources, validation,
masking, warehouse and oversight, wired into Apache Airflow by ``governance_plugin``."""
