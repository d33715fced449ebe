"""The production profile's services as processes of one machine (``rankct stack``)."""
