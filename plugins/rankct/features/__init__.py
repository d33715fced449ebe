"""Features built once in Spark, as of the end of a day, for training (offline) and serving
(online, through Feast). ``daily`` counts one day's interactions; ``windows`` turns the last 1, 7
and 30 daily counts into features; ``build`` reads the raw data and publishes a day's tables."""
