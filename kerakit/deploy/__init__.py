"""Leaving kerakit: export formats with verification, predictions from an export, serving."""
