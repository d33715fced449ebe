-- docker-compose.yaml: the Postgres service creates the airflow database; MLflow gets its own.
CREATE DATABASE mlflow OWNER rankct;
