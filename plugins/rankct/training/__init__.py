"""Training the XGBoost ranker: time split by request, fit with early stopping, LETOR files,
budgeted hyper-parameter search. Metrics come from :mod:`rankct.evaluation.metrics` only.

Modules here import xgboost at the top: they are used by jobs, the CLI and tests, never at a DAG
file's import time.
"""
