"""Burst spikes as binary-weighted Brian2 events: the text of their conditions and resets.

A neuron file's ``burst = k`` lets a neuron send up to ``k`` spikes of one sign in one step (burst spikes, Li and
Zeng 2022). The file's threshold (the negative event's condition) reads the name :data:`LEVEL`: the neuron sends as
many spikes as there are levels ``j`` = 1 ... ``k`` whose condition holds with ``level`` read as ``j`` (a level's
condition must hold whenever a higher level's does), and its reset runs once per spike.

The spikes travel as Brian2 events, one per bit of the count: the event ``spike`` carries 1 spike, ``spike_x2``
2, ``spike_x4`` 4, ... (``negative_spike``, ``negative_spike_x2``, ... for the negative sign). A burst of up to 64
is 7 events of each sign instead of 64: every event space is an array of the layer's size, so this is what a
burst costs in memory, and its thresholder fills 7 spaces instead of 64. Every condition is tested on the same
state before any reset runs, and the reset of the event of ``2**b`` spikes is the file's reset run ``2**b`` times
(:func:`repeated_reset`), so the state after a step is the same as if each spike had been its own event.
Consumers count an event of ``k`` spikes as ``k`` spikes: connections add ``k w`` (``k`` synaptic events per
synapse; one where the neuron file says ``weighted_spikes = true``: weighted spikes), counters count ``k``
(:func:`spike_events` gives each event's signed number of spikes).
"""

from __future__ import annotations

import re

LEVEL = "level"
"""The name a burst neuron's conditions read as the burst level (1, 2, ...)."""

MAX_BURST = 512
"""Most spikes of one sign a neuron may send in one step (the weighted neuron, which fires in one step of a 16-step
run, sends up to 32 a step's worth at once: analysis/fast-and-frugal, *Weighted spikes*; 128 before 0.13, 64 before
0.11). A fused thresholder finds a neuron's count by binary search over the levels (:func:`burst_search`: 10
conditions for 512) at every step it may fire; the count's bits are its events (10 of each sign)."""

_DIGIT_EVENT = re.compile(r"(spike|negative_spike)(?:_x([0-9]+))?\Z")

_STATEMENT = re.compile(r"\s*([A-Za-z_]\w*)\s*(\+=|-=|=)\s*(.+?)\s*\Z")


def is_spike_event(name: str) -> bool:
    """Whether ``name`` is a spike-carrying event's (``spike``, ``negative_spike``, ``spike_x2``, ...)."""
    return _DIGIT_EVENT.match(name) is not None


def digit_event(event: str, weight: int) -> str:
    """The event of ``event`` (``spike`` or ``negative_spike``) that carries ``weight`` spikes (a power of two).

    >>> digit_event("spike", 1), digit_event("negative_spike", 4)
    ('spike', 'negative_spike_x4')
    """
    return event if weight == 1 else f"{event}_x{weight}"


def spike_events(events) -> list[tuple[str, int]]:
    """Of the event names ``events``, those that carry spikes, with the signed number of spikes each carries.

    ``spike`` carries ``+1``, a burst's ``spike_xK`` ``+K``, ``negative_spike`` ``-1`` and ``negative_spike_xK``
    ``-K``; positive first, each by weight. Any other event carries nothing downstream.

    >>> spike_events(["negative_spike", "spike_x2", "spike", "other"])
    [('spike', 1), ('spike_x2', 2), ('negative_spike', -1)]
    """
    found = []
    for name in events:
        match = _DIGIT_EVENT.match(name)
        if match:
            sign = 1 if match.group(1) == "spike" else -1
            weight = int(match.group(2) or 1)
            found.append((-sign, weight, name, sign * weight))
    return [(name, value) for _, _, name, value in sorted(found)]


def with_level(text: str | None, level: int) -> str | None:
    """``text`` with the name :data:`LEVEL` read as ``level``."""
    return None if text is None else re.sub(rf"\b{LEVEL}\b", f"({level})", text)


_SUBEXPRESSION = re.compile(r"\s*([A-Za-z_]\w*)\s*=\s*(.+?)\s*:[^:]*\Z")


def subexpressions(model: str) -> dict[str, str]:
    """A model's subexpressions (``name = expression : unit`` lines), by name.

    >>> subexpressions("dv/dt = -v / tau : 1\\ns = v - 1 : 1")
    {'s': 'v - 1'}
    """
    found = (_SUBEXPRESSION.match(line.split("#", 1)[0]) for line in model.splitlines())
    return {m.group(1): m.group(2) for m in found if m}


def _reads(expression: str, definitions: dict[str, str]) -> set[str]:
    """The names ``expression`` reads, through the subexpressions of ``definitions`` too."""
    names, todo = set(), re.findall(r"[A-Za-z_]\w*", expression)
    while todo:
        name = todo.pop()
        if name not in names:
            names.add(name)
            todo += re.findall(r"[A-Za-z_]\w*", definitions.get(name, ""))
    return names


def repeated_reset(reset: str, times: int, where: str = "the reset", definitions: dict[str, str] | None = None) -> str:
    """``reset`` run ``times`` times in a row, as one reset: each ``x += e`` (``x -= e``) adds ``times * (e)``,
    each ``x = e`` runs once.

    That is exact when no right-hand side reads a variable the reset changes (directly or through the model's
    subexpressions, ``definitions``: :func:`subexpressions`), which is required.

    >>> repeated_reset("q += 1\\nlast = 1", 4)
    'q += 4 * (1)\\nlast = 1'

    Raises
    ------
    ValueError
        A statement that is not ``x += e``, ``x -= e`` or ``x = e``, or one whose value depends on what the reset
        changes.
    """
    lines = [line.split("#", 1)[0] for line in reset.splitlines()]
    statements = [_STATEMENT.match(line) for line in lines if line.strip()]
    if not all(statements):
        raise ValueError(f"{where} of a burst may only add (x += e), subtract (x -= e) or assign (x = e)")
    changed = {m.group(1) for m in statements}
    for m in statements:
        read = _reads(m.group(3), definitions or {}) & changed
        if read:
            raise ValueError(f"{where} of a burst runs once per spike: its value {m.group(3).strip()!r} cannot "
                             f"read {sorted(read)[0]!r}, which the reset changes")
    return "\n".join(f"{m.group(1)} {m.group(2)} {times} * ({m.group(3)})" if m.group(2) != "=" and times != 1
                     else f"{m.group(1)} {m.group(2)} {m.group(3)}" for m in statements)


def burst_count(condition: str, burst: int) -> str:
    """How many of the levels 1 to ``burst`` of ``condition`` (which reads :data:`LEVEL`) hold: an expression, the
    sum of one ``int(...)`` per level, summed in pairs (so that its depth is ``log2(burst)``: Brian2 parses a burst
    of 512 too).

    >>> burst_count("v >= level", 2)
    '(int(v >= (1)) + int(v >= (2)))'
    >>> burst_count("v >= level", 3)
    '((int(v >= (1)) + int(v >= (2))) + int(v >= (3)))'
    """
    terms = [f"int({with_level(condition, level)})" for level in range(1, burst + 1)]
    while len(terms) > 1:
        terms = [f"({terms[k]} + {terms[k + 1]})" if k + 1 < len(terms) else terms[k] for k in range(0, len(terms), 2)]
    return terms[0]


def burst_search(event: str, condition: str, burst: int) -> tuple[list[tuple[str, str]], str]:
    """The number of levels 1 to ``burst`` of ``condition`` that hold (what :func:`burst_count` sums), found by binary
    search where a level's condition holds whenever a higher level's does: ``log2(burst)`` conditions per neuron
    instead of ``burst`` (what :class:`~brainyolo.spiking.thresholder.SignedThresholder` evaluates instead of the sum).

    Returns
    -------
    statements : list of (str, str)
        ``(name, expression)`` to run in order, one per binary digit from the highest, each adding its digit where
        the level it reaches still holds (at most ``burst``).
    count : str
        The name of the last statement, which holds the count.

    >>> statements, count = burst_search("spike", "v >= level", 3)
    >>> statements[0]
    ('_levels_spike_2', '2 * int(v >= (2))')
    >>> statements[1]
    ('_levels_spike_1', '_levels_spike_2 + int(_levels_spike_2 + 1 <= 3 and v >= (_levels_spike_2 + 1))')
    >>> count
    '_levels_spike_1'
    """
    statements, previous = [], None
    for bit in reversed(range(burst.bit_length())):
        weight, name = 1 << bit, f"_levels_{event}_{1 << bit}"
        if previous is None:  # the highest digit's level is at most burst
            statements.append((name, f"{weight} * int({with_level(condition, weight)})"))
        else:
            reached = f"{previous} + {weight}"
            times = f"{weight} * " if weight > 1 else ""
            statements.append((name, f"{previous} + {times}int({reached} <= {burst} and "
                                     f"{with_level(condition, reached)})"))
        previous = name
    return statements, previous


def digit_condition(first: str, count: str, weight: int) -> str:
    """The condition of the event of ``weight`` spikes: level 1's condition ``first`` holds and the digit ``weight``
    of ``count`` (an expression or a name) is set."""
    digit = f"int({count}) % 2 == 1" if weight == 1 else f"int(({count}) / {weight}) % 2 == 1"
    return f"({first}) and {digit}"


def digit_events(event: str, condition: str, reset: str | None, burst: int, where: str = "the reset",
                    definitions: dict[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """The binary-weighted events of ``event`` (``spike`` or ``negative_spike``) of a burst of up to ``burst``:
    ``{name: (condition, reset)}``.

    The event of ``2**b`` spikes (:func:`digit_event`) happens when bit ``b`` of the number of levels of
    ``condition`` that hold (:func:`burst_count`) is set, and level 1's condition holds too (what a thresholder's
    gate reads: :func:`~brainyolo.spiking.thresholder.common_gate`). Its reset is ``reset`` run ``2**b`` times
    (:func:`repeated_reset`; ``definitions``: the model's subexpressions).

    >>> digit_events("spike", "v >= level", "v -= 1", 2)["spike_x2"]
    ('(v >= (1)) and int(((int(v >= (1)) + int(v >= (2)))) / 2) % 2 == 1', 'v -= 2 * (1)')

    Raises
    ------
    ValueError
        ``condition`` does not read :data:`LEVEL` (every level would hold together), ``reset`` does, or
        ``reset`` cannot be repeated.
    """
    if not re.search(rf"\b{LEVEL}\b", condition):
        raise ValueError(f"a burst's threshold reads '{LEVEL}' (level j fires while it holds for j: e.g. "
                         f"\"v >= {LEVEL} * v_th\"); this one does not, so every level would fire together")
    if reset and re.search(rf"\b{LEVEL}\b", reset):
        raise ValueError(f"{where} of a burst runs once per spike and cannot read '{LEVEL}'")
    first, count = with_level(condition, 1), burst_count(condition, burst)
    events = {}
    for bit in range(burst.bit_length()):
        weight = 1 << bit
        events[digit_event(event, weight)] = (digit_condition(first, count, weight),
                                                 repeated_reset(reset or "", weight, where, definitions))
    return events
