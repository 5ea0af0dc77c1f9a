"""shared.serve: what every service's process does before it serves."""

import gc

from shared.serve import settle_heap


def test_settle_heap_moves_the_objects_alive_now_out_of_the_collectors_reach() -> None:
    gc.unfreeze()
    kept = [[] for _ in range(1000)]  # containers the collector tracks
    try:
        settle_heap()
        assert gc.get_freeze_count() >= len(kept)
        assert all(not any(o is k for o in gc.get_objects(generation=2)) for k in kept[:3])
    finally:
        gc.unfreeze()
