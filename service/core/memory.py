"""Give freed image memory back to the OS (glibc): decoded pixels are large, short-lived
buffers, and glibc's defaults keep them in the heap for reuse.

By default glibc serves allocations under a *dynamic* threshold (it rises to 32 MB after the
first large free) from heap arenas, one per thread that allocates, and rarely returns them: a
few large decodes on the decode threads left the service hundreds of MB larger for good. A
fixed 1 MB threshold puts every pixel buffer in its own mapping, unmapped when freed, and two
arenas keep the small allocations of many threads from spreading.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

logger = logging.getLogger("sguardo")

M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 1 << 20


def return_freed_memory() -> bool:
    """Tune glibc's malloc for this process; False where there is no glibc (musl, macOS)."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(M_ARENA_MAX, 2))
    if not ok:
        logger.warning("could not tune malloc: freed image memory may not return to the OS")
    return ok
