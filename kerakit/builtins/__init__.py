"""The built-in components: the plugin named ``kerakit``, one module per kind."""
