"""Driving Airflow from the outside: the environment of rankct's Airflow (home, DAG and plugin
folders, metadata database, Spark connection), `airflow dags test` runs with live progress,
the end-to-end run behind `make run` / `rankct run` and its summary, and the UIs of `make ui`.
"""
