"""A small client of the ``/v1`` API: the ``upload``, ``list``, ``tag``, ``visibility`` and ``delete`` commands.

It talks HTTP to an origin like any user would (an API key, the documented endpoints), so it
depends on nothing in the server but the published contract.
"""
