"""edge: an on-device intent runtime for Raspberry Pi-class hardware."""

__version__ = "0.1.0"
