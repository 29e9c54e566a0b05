"""Held-out pools: which problems no training stage ever sees, as a fixed hash of the problem's content.

The pool depends only on what the problem is (a GeneralPoints value multiset, a V-IRL route), never on a seed, an
index or a dataset config, so no test problem of any config is a training problem of any config, and the study's
pretraining corpus can skip the same problems (`is_heldout_hand`, `is_heldout_route` build the keys).
"""

from __future__ import annotations

import hashlib

__all__ = ["in_heldout_pool"]


def in_heldout_pool(salt: str, key: str, heldout_fraction: float) -> bool:
    """Whether `key` falls in the held-out pool: the first 8 bytes of `sha256(f"{salt}:{key}")`, read as a number in
    [0, 1), lie below `heldout_fraction`. Fixed across seeds, configs and runs.

    >>> in_heldout_pool("demo-v1", "1,2,3,4", 0.0), in_heldout_pool("demo-v1", "1,2,3,4", 1.0)
    (False, True)
    """
    u = int.from_bytes(hashlib.sha256(f"{salt}:{key}".encode()).digest()[:8], "big") / 2**64
    return u < heldout_fraction
