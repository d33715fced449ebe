"""The training objectives rankct knows, standard library only: the CLI's parsers name them, and
``python -S -m rankct deploy verify`` builds those parsers without any third-party package.

``click_model``: relevance through the position-based click model
(:mod:`rankct.training.click_model`); ``lambdarank_unbiased``: ``rank:ndcg`` with XGBoost's
Unbiased LambdaMART.
"""

OBJECTIVES = ("click_model", "rank:ndcg", "rank:pairwise", "lambdarank_unbiased")
