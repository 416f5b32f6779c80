"""`lexkit._gc.paused_gc`: the collector is off inside and back as it was after, errors included."""

from __future__ import annotations

import gc

import pytest

from lexkit._gc import paused_gc


def test_paused_gc_restores_the_collector_as_it_was():
    assert gc.isenabled()
    with pytest.raises(ZeroDivisionError), paused_gc():
        assert not gc.isenabled()
        with paused_gc():  # nested: the inner block must not turn it back on
            pass
        assert not gc.isenabled()
        _ = 1 / 0
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # it was off before: stays off
    finally:
        gc.enable()
