"""The online store: the Feast repository opened for a configuration, and what rankct adds to it.

``feast_repo`` opens the profile's FeatureStore and runs the ``feast`` command line.
``columnar`` encodes arrow batches column by column in Feast's online encodings.
``sqlite_store`` is the local profile's wide SQLite online store (one row per entity, laid out
by ``wide_row``) with its bulk writer; ``redis_store`` bulk-writes Feast's own Redis layout.
``materialize`` loads a day's feature partitions through one of those writers, or Feast's own
path. ``retrieval`` serves the feature matrix of one ranking request; ``skew`` compares what the
online store serves with the offline tables. ``historical`` is the training set's retrieval:
Feast's job, whose feature views' rows ``point_in_time`` joins from the daily partitions.

Feast is imported inside functions everywhere except in ``sqlite_store`` and ``wide_row``,
which Feast itself loads as the online store's class.
"""
