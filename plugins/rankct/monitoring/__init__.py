"""The daily monitoring checks of the serving side, none of them aware of Airflow.

``freshness``: raw data, feature tables, the online store and the champion are recent enough.
``drift``: served features against the same tables a week earlier, and batch scores against the
last scores of the same model. ``skew`` (in :mod:`rankct.online.skew`) is wrapped here as a check.
Every check writes ``<home>/monitoring/dt=D/<check>.json`` and raises
:class:`rankct.errors.CheckFailed`, naming what is wrong and what to do, when it fails.
"""
