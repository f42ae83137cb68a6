"""What a layer's neurons get besides their neuron file: the spike counters every spiking layer keeps,
the output layer's net counter, the per-run lesion switch, and the checks a hidden-layer model passes
(Brian2 itself tries its equations) before anything is built."""

from __future__ import annotations

import dataclasses
import gc
import warnings

import brian2
import numpy as np

from brainyolo.io.errors import BrainyoloError, one_line
from brainyolo.spiking import to_neuron_order
from brainyolo.spiking.counters import EVENT_COUNTERS, SPIKE_COUNTERS
from brainyolo.spiking.input_kinds import INPUT_KINDS
from brainyolo.spiking.neurons import (
    TIME_STEP_MS,
    Event,
    NeuronModel,
    load_neuron_model,
    neuron_group,
)
from brainyolo.spiking.thresholder import fuse_thresholders

OUTPUT_MODES = ("vmem", "spikes")
CONNECTIVITIES = ("shared", "unrolled")
INPUT_MODES = tuple(INPUT_KINDS)


_TRIED: set = set()


def layer_parameters(model: NeuronModel, alpha: float) -> dict:
    names = set(model.parameters) | set(brian2.Equations(model.model).names)
    values = {}
    if "v_th" in names:
        values["v_th"] = 1.0
    if "alpha" in names:
        values["alpha"] = alpha
    return values


def _counted(model: NeuronModel, positive: str, negative: str) -> NeuronModel:
    """``model`` whose every spike-carrying event also runs ``positive`` (on a spike) or ``negative`` (on a negative
    spike) in its reset, with ``{k}`` read as the spikes the event carries (a burst's event of ``k`` spikes)."""
    def add(reset, statement):
        return (reset + "\n" if reset else "") + statement

    events = dict(model.events)
    for name, value in model.spike_events:
        if name != "spike":
            statement = (positive if value > 0 else negative).format(k=abs(value))
            events[name] = Event(events[name].condition, add(events[name].reset, statement))
    return dataclasses.replace(model, reset=add(model.reset, positive.format(k=1)), events=events)


def with_net_counter(model: NeuronModel) -> NeuronModel:
    """``model`` plus ``net_count``: +1 on each spike, -1 on each negative spike (a burst: each of its spikes; a
    negative spike of a finer negative grid: its ``negative_value``), so that ``net_count`` times ``v_th`` is what
    the neuron sent."""
    negative = "net_count -= {k}" if model.negative_value is None else "net_count -= {k} * negative_value"
    counted = _counted(model, "net_count += {k}", negative)
    return dataclasses.replace(counted, model=model.model + "\nnet_count : 1\n")


def lesion_mask(shape, chosen, index: int) -> np.ndarray:
    """1 for the neurons of ``chosen`` (channels, or ``(c, y, x)`` tuples) of a layer of ``shape``, in neuron order."""
    c, h, w = shape
    mask = np.zeros((c, h, w), np.int32)
    for item in chosen:
        where = (item,) if np.isscalar(item) else tuple(item)
        if len(where) not in (1, 3) or any(not 0 <= int(v) < n for v, n in zip(where, shape, strict=False)):
            raise ValueError(f"layer {index} of shape {shape} has no channel or neuron {item}")
        mask[tuple(int(v) for v in where)] = 1
    return to_neuron_order(mask)


def with_spike_counters(model: NeuronModel) -> NeuronModel:
    """``model`` plus :data:`SPIKE_COUNTERS`, incremented by its resets.

    Counting in the resets costs one increment per spike inside Brian2's (OpenMP-parallel)
    reset code, where a ``SpikeMonitor(record=False)`` per layer would be a second, serial pass. A model that sends
    weighted spikes also counts its events (:data:`EVENT_COUNTERS`, one per event).
    """
    if not model.spiking:
        return model
    counters = SPIKE_COUNTERS + (EVENT_COUNTERS if model.weighted_spikes else ())
    clash = set(counters) & set(brian2.Equations(model.model).names)
    if clash:
        raise BrainyoloError(model.source or model.name,
                             f"variable name {sorted(clash)[0]!r} is reserved for brainyolo's spike counters")
    positive, negative = SPIKE_COUNTERS
    counted = _counted(model, f"{positive} += {{k}}", f"{negative} += {{k}}")
    if model.weighted_spikes:
        counted = _counted(counted, f"{EVENT_COUNTERS[0]} += 1", f"{EVENT_COUNTERS[1]} += 1")
    declared = "".join(f"\n{name} : integer" for name in counters)
    return dataclasses.replace(counted, model=model.model + declared + "\n")


LESION = "silenced"


def with_lesions(model: NeuronModel) -> NeuronModel:
    """``model`` whose neurons fire no event (spike or negative spike) while their :data:`LESION` is 1.

    The switch is a per-neuron constant of each run (``run_args``): silencing a channel needs no new build.
    """
    if not model.spiking:
        return model
    if LESION in brian2.Equations(model.model).names:
        raise BrainyoloError(model.source or model.name, f"variable name {LESION!r} is reserved for lesions")
    events = {name: Event(f"({event.condition}) and {LESION} == 0", event.reset)
              for name, event in model.events.items()}
    levels = {name: f"({condition}) and {LESION} == 0" for name, condition in model.levels.items()}
    return dataclasses.replace(model, model=model.model + f"\n{LESION} : integer (constant)\n",
                               threshold=f"({model.threshold}) and {LESION} == 0", events=events, levels=levels)


def with_channel_parameters(model: NeuronModel) -> NeuronModel:
    """``model`` whose shared parameters (``v_th : 1 (shared, constant)``) are per-neuron constants: a run
    sets them per channel or per neuron (``BuildOptions.channel_parameters``). Shared subexpressions become
    per-neuron too (they may read the parameters).

    >>> with_channel_parameters(NeuronModel("m", "v_th : 1 (shared, constant)\\nh = 2 * v_th : 1 (shared)")).model
    'v_th : 1 (constant)\\nh = 2 * v_th : 1\\n'
    """
    return dataclasses.replace(model, model="\n".join(map(_unshared, model.model.splitlines())) + "\n")


def _unshared(line: str) -> str:
    """An equation line without its ``shared`` flag (the flags follow the unit, after the last colon)."""
    code, hash_mark, comment = line.partition("#")
    head, colon, unit = code.rpartition(":")
    if not colon or "(" not in unit:
        return line
    unit, _, flags = unit.partition("(")
    names = [f.strip() for f in flags.strip().rstrip(")").split(",")]
    if "shared" not in names:
        return line
    kept = [f for f in names if f != "shared"]
    return (f"{head}:{unit.rstrip()}" + (f" ({', '.join(kept)})" if kept else "")
            + (f"  #{comment}" if hash_mark else ""))


HIDDEN_VARIABLES = ("v", "I")


def hidden_neuron_model(name_or_path) -> NeuronModel:
    """A neuron model fit for the hidden layers, checked by Brian2 itself before any work.

    Beyond :func:`~brainyolo.spiking.neurons.load_neuron_model`'s checks: the model spikes, has the
    variables :data:`HIDDEN_VARIABLES`, and Brian2 accepts its equations, threshold, events and
    resets (with the spike counters and the net counter brainyolo adds) in a two-neuron group run
    for one step on the numpy target. Brian2's own error, whatever it is, becomes one line naming
    the file. The trial runs once per file content.

    Raises
    ------
    BrainyoloError
    """
    model = load_neuron_model(name_or_path)
    where = model.source or model.name
    if not model.spiking:
        raise BrainyoloError(where, "has no 'threshold': a hidden-layer neuron must spike")
    _brian2_trial(model)
    return model


def _brian2_trial(model: NeuronModel) -> None:
    from brian2.utils.logger import catch_logs

    key = (model.model, model.threshold, model.reset, tuple(model.events.items()), tuple(model.parameters.items()))
    if key in _TRIED:
        return
    where = model.source or model.name
    try:
        equations = brian2.Equations(model.model)
    except Exception as err:  # noqa: BLE001 - Brian2's parser raises many kinds
        raise BrainyoloError(where, f"model: Brian2 cannot read the equations: {_brian2_problem(err)}") from None
    missing = [name for name in HIDDEN_VARIABLES if name not in equations.names]
    if missing:
        raise BrainyoloError(where, f"model: a hidden-layer neuron needs the variables {list(HIDDEN_VARIABLES)}; "
                                    f"{missing[0]!r} is missing")
    if model.input not in equations.names:
        raise BrainyoloError(where, f"input: {model.input!r} is not a variable of the model")
    trial = with_spike_counters(with_net_counter(model))
    if not isinstance(brian2.get_device(), brian2.devices.RuntimeDevice):
        return  # a standalone device is being set up: the build itself reports any error
    previous, problem = brian2.prefs.codegen.target, None
    # Brian2's warnings (also of objects collected after a failure) and numpy's stay quiet
    with catch_logs(), warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            brian2.prefs.codegen.target = "numpy"
            group = neuron_group(trial, 2, name="brainyolo_neuron_check*", **layer_parameters(model, 0.1))
            network = brian2.Network(group)
            if model.signed and not model.refractory:
                fuse_thresholders(group)
            network.run(TIME_STEP_MS * brian2.ms, namespace={})
            _TRIED.add(key)
        except BrainyoloError as err:
            problem = err.problem
        except Exception as err:  # noqa: BLE001 - whatever Brian2 rejects is a problem of the file
            problem = f"Brian2 rejects the model: {_brian2_problem(err)}"
        finally:
            brian2.prefs.codegen.target = previous
            group = network = None
            gc.collect()
    if problem is not None:
        raise BrainyoloError(where, problem)


def _brian2_problem(err: Exception) -> str:
    """Brian2's error in one line (a ``BrianObjectException`` by the error it wraps)."""
    cause = err.__cause__ or err.__context__
    return one_line(cause if type(err).__name__ == "BrianObjectException" and cause is not None else err)
