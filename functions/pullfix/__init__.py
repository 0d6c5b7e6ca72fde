"""pullfix: event-driven remediation of GKE image-pull failures."""

__version__ = "0.1.0"
