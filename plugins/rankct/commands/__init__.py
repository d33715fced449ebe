"""The ``rankct`` commands, one module per group, each command's parser beside its handler.

Every module has ``register(commands)``, which adds its commands to the ``rankct`` parser's
subparsers; a command's handler takes the parsed arguments and returns the exit code (2 for
unusable input, 3 for a failed gate or check). :mod:`rankct.cli` lists the groups in the order
``rankct --help`` shows them: a new group is a module here with a ``register`` and one line
there. Handlers import the library inside themselves, so ``rankct --help`` stays fast.
"""
