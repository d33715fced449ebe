"""Assets the DAGs chain through, defined once."""

from __future__ import annotations

from airflow.sdk import Asset

# Updated by the training DAG's promote task; its event's ``extra`` carries the champion's
# ``version`` and the ``day`` it was trained for, which the batch-scoring DAG scores.
CHAMPION = Asset(name="rankct_champion", uri="rankct://registry/marketplace_ranker/champion",
                 group="model")
