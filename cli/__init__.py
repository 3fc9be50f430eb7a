"""The leadflow command line."""

from leadflow.cli._app import app, main

__all__ = ["app", "main"]
