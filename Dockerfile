# syntax=docker/dockerfile:1
# The Airflow image of the governance pipelines: the official Airflow image, every dependency exactly as
# requirements.lock pins it, and this project baked in (library, DAGs, plugin, standards, expectations).
# Built by `docker compose build` (docker-compose.yml); see docs/deployment.md for upgrades.
FROM apache/airflow:3.3.2-python3.11

# The Airflow version of the base image. pip is told to keep it, so if requirements.lock ever pins another
# Airflow, the build stops with a conflict instead of silently replacing the image's Airflow.
# tests/deployment checks that this, the FROM tag and the lock agree.
ARG AIRFLOW_VERSION=3.3.2

# The shared data volume's mount point (landing, work, reports), owned by the airflow user: Docker copies
# this ownership into a fresh named volume, so every service can write there without running as root.
USER root
RUN mkdir -p /data/governance/landing /data/governance/work /data/governance/reports \
 && chown -R airflow:0 /data/governance \
 && chmod -R g+rwX /data/governance
USER airflow

# 1. Dependencies, exactly as locked (the lock includes apache-airflow itself, at the image's version).
#    A layer of its own: rebuilt only when the lock changes. pip installs as the airflow user, as the
#    official image requires.
RUN --mount=type=bind,source=requirements.lock,target=/tmp/requirements.lock \
    pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /tmp/requirements.lock

# 2. The governance library and its `governance` command, without dependencies (all came from the lock).
#    Built from a throw-away read-write bind of the build context (filtered by .dockerignore).
RUN --mount=type=bind,source=.,target=/tmp/governance-src,rw \
    pip install --no-cache-dir --no-deps /tmp/governance-src

# 3. What Airflow and the library read at run time. The paths are the ones deployment_environment()
#    gives docker-compose.yml (code_root=/opt/airflow).
COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 plugins /opt/airflow/plugins
COPY --chown=airflow:0 standards /opt/airflow/standards
COPY --chown=airflow:0 expectations /opt/airflow/expectations
