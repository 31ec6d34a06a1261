"""Tools for plugin authors: the package scaffold (:mod:`.scaffold`); the
conformance kit is the public :mod:`kerakit.testing`."""
