"""Google Cloud: the ``gcp`` profile's settings, BigQuery and Cloud Storage clients, the raw
tables in BigQuery (``rankct bq load``), and the local emulators for tests and demos.

Every module defers ``google.cloud`` imports to the functions that use them: the CLI and the DAG
files import this package without paying for the client libraries.
"""
