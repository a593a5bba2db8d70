# The cdiscflow image: Airflow 3.3.2 (official slim image, Python 3.11), every library pinned with its hash by
# deploy/requirements.txt, and the project installed in /opt/cdiscflow. One image for every
# Airflow service of docker-compose.yml. Build: `docker compose build`.
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM apache/airflow:slim-${AIRFLOW_VERSION}-python${PYTHON_VERSION}

USER root
RUN mkdir -p /opt/cdiscflow /data/landing /data/out \
    && chown -R airflow:0 /opt/cdiscflow /data \
    && chmod -R g+rwX /opt/cdiscflow /data
USER airflow

# Libraries first, so that a code change does not reinstall them: exactly the hash-pinned lock (it
# holds apache-airflow at the image's version, so pip cannot move it), nothing resolved at build time.
COPY --chown=airflow:0 deploy/requirements.txt /opt/cdiscflow/deploy/requirements.txt
RUN pip install --no-cache-dir --require-hashes --no-deps -r /opt/cdiscflow/deploy/requirements.txt \
    && pip check

COPY --chown=airflow:0 pyproject.toml README.md /opt/cdiscflow/
COPY --chown=airflow:0 transforms /opt/cdiscflow/transforms
COPY --chown=airflow:0 dags /opt/cdiscflow/dags
COPY --chown=airflow:0 studies /opt/cdiscflow/studies
# Editable, so the package finds studies/ (and each study's expectations/) beside transforms/ (compose
# mounts it over the copy baked in here); --no-deps: everything it needs is already pinned above.
RUN pip install --no-cache-dir --no-deps -e /opt/cdiscflow

ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/cdiscflow/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    CDISCFLOW_STUDIES=/opt/cdiscflow/studies \
    CDISCFLOW_LANDING=/data/landing/{study} \
    CDISCFLOW_OUT=/data/out/{study}
