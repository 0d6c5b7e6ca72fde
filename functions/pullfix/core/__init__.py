"""The pure core: event intake, image references, GKE versions, classification, guardrails.

No I/O here: everything is a function of its arguments.
"""
