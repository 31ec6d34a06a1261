"""Tabular components for kerakit (plugin name ``tabular``)."""

__version__ = "0.1.0"
