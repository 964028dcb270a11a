"""tiledlog core: byte-exact C2SP transparency-log primitives (no I/O in the pure modules)."""

__version__ = "0.1.0"
