"""Precision List (精準名單): the engine and the file shell.

The analytics are pure functions over pandas DataFrames; the CLI, the drop-folder
service and the Excel add-in are thin shells over :mod:`processor.pipeline`.
"""

__version__ = "0.1.0"
