"""Vision components for kerakit (plugin name ``vision``)."""

__version__ = "0.1.0"
