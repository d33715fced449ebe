# One image for every rankct process of the production profile (docker-compose.yaml): the
# Airflow components, the Spark master and workers (pyspark ships Spark), the MLflow server and
# the Evidently UI. The locked environment is the one `make setup` installs.
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps curl \
    && rm -rf /var/lib/apt/lists/*

ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 \
    RANKCT_HOME=/opt/rankct/var \
    AIRFLOW_HOME=/opt/rankct/var/airflow \
    PYTHONUNBUFFERED=1

WORKDIR /opt/rankct
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir uv==0.13.8 \
    && uv pip install --system --no-cache -r requirements.lock
COPY plugins plugins
COPY dags dags
COPY jobs jobs
COPY feature_repo feature_repo
COPY config config
RUN uv pip install --system --no-cache --no-deps -e .

# Spark workers run the batch-scoring UDFs with this interpreter.
ENV PYSPARK_PYTHON=/usr/local/bin/python PYSPARK_DRIVER_PYTHON=/usr/local/bin/python
