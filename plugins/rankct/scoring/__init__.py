"""Batch scoring: top-K recommendations per active user from the offline feature tables.

``candidates`` picks what to score (affinities, popular, fresh; never a sold item), ``lookup``
holds the day's feature tables in each Python worker and gathers the pairs' model rows from them,
``frame`` assembles the same rows by joins in Spark (for tables too large to hold) and the
request-time features, ``score`` runs the native booster on Spark partitions and keeps the top K,
``job`` reads the day's tables and publishes the partition.
pyspark and xgboost are imported inside functions: DAG files may import this package.
"""
