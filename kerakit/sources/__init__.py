"""Data, read once: the formats table, tables, image folders, splits and folds, facts.

Nothing here imports the engine or takes a plan: a source hands plain facts
(kind, columns, task, classes, outputs, rows, input shape) to the plan.
"""
