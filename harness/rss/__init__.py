"""RSS: the Toeplitz oracle and spread statistics (model), their verdicts (verdicts), harness/native/rss.c
(native), capture runs (run)."""
from harness.area import exports

__getattr__ = exports(__name__, ("model", "verdicts", "native", "run"))
