"""Marketplace simulator: users, sellers and second-hand items, ranked traffic and interactions.

``simulate`` writes the raw-data contract day by day and, apart from it, the hidden true utility of
every impression. See ``world`` (who and what exists), ``traffic`` (requests, the logging policy,
examination and events) and ``faults`` (named data faults for tests and demos).
"""

from rankct.simulate.run import SCALES, SimulationSummary, simulate

__all__ = ["SCALES", "SimulationSummary", "simulate"]
