"""The clock of a spiking network: every group, connection and monitor of a network shares one
:func:`time_step_clock` (instead of a clock per object, Brian2's default when ``dt`` is given).
"""

from __future__ import annotations

import zlib

import brian2

from brainyolo.spiking.neurons import TIME_STEP_MS


class StableClock(brian2.Clock):
    """A Brian2 ``Clock`` whose hash is fixed by its name.

    Brian2's standalone device writes each clock's start values into ``main.cpp`` while iterating
    over a set of clocks. With Python's default, address-based hashes that order, hence
    ``main.cpp``, changes from one process to the next, and a cached build recompiles it for
    nothing. Hashed by name, the same network generates byte-identical sources.
    """

    # Brian2 lets a class's own properties override its variables mechanism: Clock's ``dt`` setter
    # must be visible in this class's __dict__ too.
    dt = brian2.Clock.dt
    dt_ = brian2.Clock.dt_

    def __new__(cls, *args, name: str, **kwargs):
        # Brian2 tracks every instance in a set as soon as it exists (Trackable.__new__), so the
        # hash must be known before __init__ has set the name.
        obj = object.__new__(cls)
        obj._stable_hash = zlib.crc32(name.encode())
        obj.__instancefollower__.add(obj)
        return obj

    def __hash__(self) -> int:
        return self._stable_hash


def time_step_clock() -> StableClock:
    """The network's clock: one tick per time step (:data:`TIME_STEP_MS`)."""
    return StableClock(dt=TIME_STEP_MS * brian2.ms, name="time_step")

