"""Skyline: edge-cloud collaborative AI."""

__version__ = "0.1.0"
