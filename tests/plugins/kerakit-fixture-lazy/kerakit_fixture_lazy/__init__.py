"""Fixture plugins for the component index tests."""
