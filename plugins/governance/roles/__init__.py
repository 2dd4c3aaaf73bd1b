"""Who may see what: the platform's roles, derived from the standards, decided by Airflow's auth manager."""
