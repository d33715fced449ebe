"""The only Airflow-aware code of rankct: the operator that runs a pipeline stage for a DAG
run's day, the task links to MLflow / Evidently / decision records, the Spark job factory, the
failure-alert callback and the Asset the DAGs chain through. The DAG files in ``dags/`` wire
these; the work itself lives in the Airflow-free library (``rankct.pipeline``,
``rankct.monitoring``)."""
