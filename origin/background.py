"""Helpers for the app's long-running background loops."""

from __future__ import annotations

import asyncio


def stop_if_cancelled() -> None:
    """Raise ``CancelledError`` if this task was asked to stop.

    On Python 3.11 a cancellation that races with an internal timeout (``asyncio.timeout``, used
    by redis-py reads and ``asyncio.wait_for``) can be turned into a ``TimeoutError`` and
    swallowed; the task stays marked as cancelling. Loops that must end on shutdown check this
    every turn instead of trusting the exception to arrive.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
