"""Zero-copy verdicts from a traced run (model) and the address of a view's bytes (native)."""
from harness.area import exports

__getattr__ = exports(__name__, ("model", "native"))
