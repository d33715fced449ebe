"""rankct: continuous training for learning-to-rank models.

The library needs no Airflow: DAGs in ``dags/`` and the operators in ``rankct.airflow`` only wire
these functions together.
"""

__version__ = "0.1.0"
