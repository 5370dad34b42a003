"""The zero-copy area's only use of the probe's cffi module: where a view's bytes live."""
from __future__ import annotations

from harness.probe import ffi, require_lib


def buffer_address(view: memoryview) -> int:
    """The address of the first byte of ``view`` (a view over an mbuf's data, say)."""
    require_lib()
    return int(ffi.cast("uintptr_t", ffi.from_buffer(view)))
