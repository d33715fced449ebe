"""Batch scoring: top-K recommendations per active user from the offline feature tables.

``candidates`` picks what to score (affinities, popular, fresh; never a sold item), ``frame``
assembles the model's feature rows as of the scoring time, ``score`` runs the native booster on
Spark partitions and keeps the top K, ``job`` reads the day's tables and publishes the partition.
pyspark and xgboost are imported inside functions: DAG files may import this package.
"""
