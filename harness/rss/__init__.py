"""RSS: the Toeplitz oracle and spread verdicts (model), harness/native/rss.c (native), capture runs (run)."""
from harness.area import exports

__getattr__ = exports(__name__, ("model", "native", "run"))
