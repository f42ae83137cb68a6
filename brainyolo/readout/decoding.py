"""Offline decoding: output-layer recordings -> head maps -> detections, at every checkpoint.

The output layers (the convolutions feeding the heads) integrate their input; after ``t`` steps
their recorded state ``A(t)`` is the accumulated normalized input:

* ``vmem`` read-out: ``A(t) = V(t)``, the membrane of integrate-only neurons;
* ``spikes`` read-out: ``A(t) = net_count(t) * Vth``, what signed output neurons (symmetric
  thresholds) have emitted as spikes.

The bias (a constant current ``b~``) enters from the first step, the synaptic input only once the
first spikes have crossed the network: a layer fed by the image fires from step 1, and each
further spiking layer (convolution, pool, relay) adds one step of delay ``d``. The normalized
activation is estimated as::

    a~(t) = b~ + (A(t) - t * b~) / (t - d)        (t > d; a~ = b~ before)

and the head map as ``lambda_out * a~`` (channel-wise or layer-wise ``lambda`` of the output
layer), which is what the ANN's head sees.

* ``vmem-late`` read-out: the ``vmem`` read-out over the *late half* of the run only,
  ``a~(t) = b~ + (A(t) - A(t0) - (t - t0) * b~) / (t - t0)`` with ``t0`` the latest recorded
  checkpoint at or before ``t/2`` (and after ``d``; without one, the whole run as ``vmem``). The
  network needs many steps before its deep layers fire at their steady rates (each spiking layer
  integrates up to its threshold before its first spike), and that transient stays in ``A(t)``:
  discarding it trades half of the steps for an estimate free of the start-up
  (:func:`late_checkpoints` adds the half-way checkpoints the simulation must record).

Heads are then decoded exactly as for the ANN (:func:`brainyolo.ann.heads.detect_from_heads`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from brainyolo.ann.graph import INPUT, Graph
from brainyolo.ann.heads import EVAL_THRESHOLD, Detections, detect_from_heads
from brainyolo.ann.letterbox import Letterbox
from brainyolo.convert.model_file import ConvertedModel, load_model
from brainyolo.io.atomic import sha256_of, write_json
from brainyolo.io.errors import BrainyoloError, one_line
from brainyolo.io.integrity import verify
from brainyolo.readout.recordings_schema import READABLE_SCHEMA_VERSIONS, check_recordings
from brainyolo.registry import Registry
from brainyolo.spiking.input_kinds import input_kind
from brainyolo.spiking.schedule import SCHEDULES, model_schedule, spike_delays
from brainyolo.system.timing import stage


@dataclass(frozen=True)
class ReadOut:
    """One read-out: what it reads from an output layer's recording and how it estimates the activation.

    Attributes
    ----------
    output : {"vmem", "spikes"}
        The output layer it needs: integrate-only neurons, or signed spiking ones with a net spike count.
    accumulated : callable
        ``(record, v_th) -> A(t)``: the accumulated input at the checkpoints, shape (K, C, H, W).
    estimate : callable
        ``(accumulated, steps, bias, delay) -> a~(t)`` (:func:`estimate_activation` or its late-half form).
    late : bool
        The run must also record half of each checkpoint (:func:`late_checkpoints`).
    """

    output: str
    accumulated: Callable
    estimate: Callable
    late: bool = False


readout_rule = Registry("read-out")
"""The read-outs by name (``--decode``); :data:`DECODERS` lists them."""


def _membrane(record, v_th: float) -> np.ndarray:
    return np.asarray(record["v"], np.float64)


def _spike_count(record, v_th: float) -> np.ndarray:
    if "net_count" not in record:
        raise ValueError("the spike-count read-out needs recordings made with --output spikes")
    return np.asarray(record["net_count"], np.float64) * v_th


def output_mode(decode: str) -> str:
    """The output layer a read-out needs: ``spikes`` for the spike count, integrate-only otherwise."""
    return readout_rule.rule(decode).output


def late_checkpoints(checkpoints, steps: int, decode: str) -> tuple[int, ...]:
    """The checkpoints to record for ``decode``: with ``vmem-late`` also half of each (and of ``steps``).

    >>> late_checkpoints((100, 300), 300, "vmem-late")
    (50, 100, 150, 300)
    >>> late_checkpoints((100, 300), 300, "vmem")
    (100, 300)
    """
    if not readout_rule.rule(decode).late:
        return tuple(checkpoints)
    return tuple(sorted(set(checkpoints) | {t // 2 for t in (*checkpoints, steps) if t // 2 > 0} | {steps}))


def estimate_activation(accumulated: np.ndarray, steps, bias: np.ndarray, delay: int) -> np.ndarray:
    """Normalized activation estimates from accumulated input at several checkpoints.

    Parameters
    ----------
    accumulated : ndarray, shape (K, C, H, W)
        ``A(t)`` at the K checkpoints.
    steps : sequence of int, length K
    bias : ndarray, shape (C,)
        The layer's normalized bias ``b~`` (its constant current per step).
    delay : int
        Steps before synaptic input arrives.
    """
    steps = np.asarray(steps, np.float64)[:, None, None, None]
    bias = np.asarray(bias, np.float64)[None, :, None, None]
    synaptic = accumulated - steps * bias
    return bias + np.where(steps > delay, synaptic / np.maximum(steps - delay, 1), 0.0)


def estimate_activation_late(accumulated: np.ndarray, steps, bias: np.ndarray, delay: int) -> np.ndarray:
    """:func:`estimate_activation` over the late half: from the latest checkpoint ``t0 <= t/2`` (``t0 > delay``)."""
    steps = [int(s) for s in steps]
    full = estimate_activation(accumulated, steps, bias, delay)
    bias = np.asarray(bias, np.float64)[:, None, None]
    out = full.copy()
    for k, t in enumerate(steps):
        earlier = [j for j, s in enumerate(steps) if delay < s <= t / 2]
        if earlier:
            j = max(earlier, key=lambda i: steps[i])
            window = t - steps[j]
            out[k] = bias + (accumulated[k] - accumulated[j] - window * bias) / window
    return out


readout_rule.register("vmem")(ReadOut("vmem", _membrane, estimate_activation))
readout_rule.register("spikes")(ReadOut("spikes", _spike_count, estimate_activation))
readout_rule.register("vmem-late")(ReadOut("vmem", _membrane, estimate_activation_late, late=True))
DECODERS = readout_rule.kinds()
"""The read-outs' names (``--decode``)."""


@dataclass(frozen=True)
class Decoder:
    """What is needed to turn one image's output recordings into detections."""

    graph: Graph  # normalized graph (its output biases are b~)
    lambdas: list[np.ndarray]
    delays: list[int]
    decode: str = "vmem"
    threshold: float = EVAL_THRESHOLD
    v_th: float = 1.0
    schedule: str = "delayed"
    synaptic_delays: dict = field(default_factory=dict)  # {convolution: delay of the connections into it}

    @classmethod
    def for_model(cls, model: ConvertedModel, normalization: str | None = None, decode: str = "vmem",
                  spiking_input: bool = False, threshold: float = EVAL_THRESHOLD,
                  schedule: str = "delayed", synaptic_delays: dict[int, int] | None = None) -> Decoder:
        """``synaptic_delays``: the run's ``delay`` per convolution (steps; :mod:`brainyolo.spiking.synapses`)."""
        if decode not in DECODERS:
            raise ValueError(f"decode {decode!r} is not one of {DECODERS}")
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule {schedule!r} is not one of {SCHEDULES}")
        graph = model.normalized_graph(normalization)
        schedule = model_schedule(model, schedule)
        return cls(graph, model.lambdas(normalization), spike_delays(graph, spiking_input, schedule, synaptic_delays),
                   decode, threshold, schedule=schedule, synaptic_delays=dict(synaptic_delays or {}))

    def output_delay(self, index: int) -> int:
        """Steps before output layer ``index`` integrates synaptic input (one more for its spikes).

        Its input layer first spikes at step ``delay + 1`` and that spike reaches ``V`` in the same step;
        delayed, an output neuron's threshold runs before that step's input arrives (its spikes follow one
        step later); same-step, after it.
        """
        delay = max(self.delays[i] for i in self.graph.layers[index].inputs if i != INPUT)
        delay += self.synaptic_delays.get(index, 0)
        return delay + (1 if self.decode == "spikes" and self.schedule == "delayed" else 0)

    def head_maps(self, outputs: dict, steps) -> list[list[np.ndarray]]:
        """Per checkpoint, the head maps (one per head, ``(C, H, W)``) estimated from ``outputs``.

        ``outputs[index]`` holds ``v`` and (spike read-out) ``net_count``, shape (K, C, H, W).
        """
        maps = []
        for head in self.graph.heads():
            index = self.graph.layers[head].inputs[0]
            record = outputs[index]
            readout = readout_rule.rule(self.decode)
            estimate = readout.estimate(readout.accumulated(record, self.v_th), steps, self.graph.layers[index].bias,
                                        self.output_delay(index))
            maps.append(estimate * np.asarray(self.lambdas[index], np.float64)[None, :, None, None])
        return [[m[k] for m in maps] for k in range(len(steps))]

    def detections(self, outputs: dict, steps, box: Letterbox) -> dict[int, Detections]:
        """Detections at every checkpoint step."""
        return {int(step): detect_from_heads(self.graph, maps, box, self.threshold)
                for step, maps in zip(steps, self.head_maps(outputs, steps), strict=True)}


def output_problem(graph: Graph, outputs: dict, checkpoints: int, spikes: bool) -> str | None:
    """What keeps ``outputs`` (one image's output recordings) from being decoded with ``graph``, or None."""
    shapes = graph.shapes()
    for head in graph.heads():
        index = graph.layers[head].inputs[0]
        expected = (checkpoints, *shapes[index])
        if index not in outputs:
            return f"layer {index}, which feeds a head, was not recorded"
        for name in ("v", "net_count") if spikes else ("v",):
            if name not in outputs[index] or np.shape(outputs[index][name]) != expected:
                return f"output layer {index}: {name} is not of shape {expected}"
    return None


def find_model_file(run_dir: str | os.PathLike, attrs: dict, model_path=None) -> Path:
    """The model file a run simulated: ``model_path``, else the recorded path, else a file of the
    same name beside the run directory or in it (runs made in a staging folder, moved folders);
    checked against the recorded sha256."""

    recorded = Path(str(attrs["model_file"]))
    run_dir = Path(run_dir)
    candidates = [Path(model_path)] if model_path else [recorded, run_dir.parent / recorded.name,
                                                        run_dir / recorded.name]
    def usable(candidate: Path) -> bool:
        try:
            return candidate.is_file()
        except (OSError, ValueError):  # a recorded name too long, or with a NUL byte
            return False

    path = next((c for c in candidates if usable(c)), None)
    if path is None:
        raise BrainyoloError(candidates[0], "the run's model file is not there (pass --model)")
    if sha256_of(path) != attrs["model_sha256"]:
        raise BrainyoloError(path, "is not the model file this run simulated (sha256 differs)")
    return path


def open_recordings_file(run_dir: str | os.PathLike) -> h5py.File:
    """``RUN_DIR/recordings.h5`` opened for reading and checked, or one clear error naming the file.

    Checked before it is returned: the format and schema version, the content checksum (files
    written since it exists), and the structure (:func:`brainyolo.readout.recordings_schema.check_recordings`).
    """
    path = Path(run_dir) / "recordings.h5"
    if not path.is_file():
        raise BrainyoloError(path, "not found (is this a run directory of `brainyolo simulate`?)")
    try:
        f = h5py.File(path, "r")
    except Exception:  # noqa: BLE001 - h5py reports damage as OSError, sometimes as others
        raise BrainyoloError(path, "not a readable HDF5 file (damaged or truncated?)") from None
    try:
        if f.attrs.get("format") != "brainyolo-recordings":
            raise BrainyoloError(path, "not a brainyolo recordings file")
        version = f.attrs.get("schema_version", -1)
        if not isinstance(version, (int, np.integer)) or int(version) not in READABLE_SCHEMA_VERSIONS:
            raise BrainyoloError(path, f"recordings schema version {version} (this brainyolo reads "
                                       f"{', '.join(map(str, READABLE_SCHEMA_VERSIONS))})")
        if verify(f) is False:
            raise BrainyoloError(path, "damaged recordings: the content checksum does not match (changed or "
                                       "corrupted after it was written)")
        check_recordings(f)
    except BrainyoloError:
        f.close()
        raise
    except Exception as err:  # noqa: BLE001 - any failure to read a part of the file is damage
        f.close()
        raise BrainyoloError(path, f"damaged recordings: {one_line(err)}") from None
    return f


@contextlib.contextmanager
def reading_recordings(run_dir: str | os.PathLike):
    """Open and check ``RUN_DIR/recordings.h5`` (:func:`open_recordings_file`); a failure while the
    block reads it (an unchecked file's damaged chunk) becomes one error naming the file."""
    path = Path(run_dir) / "recordings.h5"
    f = open_recordings_file(run_dir)
    try:
        with f:
            yield f
    except (BrainyoloError, GeneratorExit, KeyboardInterrupt):
        raise
    except Exception as err:  # noqa: BLE001
        raise BrainyoloError(path, f"damaged recordings: {one_line(err)}") from None


def read_run(run_dir: str | os.PathLike):
    """Open ``RUN_DIR/recordings.h5``; yield ``(attrs, image attrs, outputs)`` per image."""
    with reading_recordings(run_dir) as f:
        attrs = dict(f.attrs)
        for name in sorted(f["images"]):
            image = f["images"][name]
            outputs = {int(k): {key: image["output"][k][key][()] for key in image["output"][k]}
                       for k in image["output"]}
            yield attrs, dict(image.attrs), outputs


def checkpoint_file(step: int) -> str:
    """Name of a checkpoint's detections file in ``OUT_DIR/checkpoints/``."""
    return f"detections_t{int(step)}.json"


def write_detections(out_dir: Path, per_step: dict[int, list[dict]]) -> None:
    """``OUT_DIR/detections.json`` (last step) and ``OUT_DIR/checkpoints/detections_t{STEP}.json``."""

    (out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    for step, records in per_step.items():
        write_json(out_dir / "checkpoints" / checkpoint_file(step), records)
    write_json(out_dir / "detections.json", per_step[max(per_step)])


def recorded_delays(attrs, where) -> dict[int, int]:
    """The synaptic delays of a recorded run (root attribute ``parameters``: JSON of every layer's values).

    Raises
    ------
    BrainyoloError
        Naming ``where``, if the attribute is not what a simulation writes.
    """
    import json

    text = attrs.get("parameters")
    if text is None:
        return {}
    try:
        values = json.loads(text) if isinstance(text, str) and len(text) < 1_000_000 else None
    except ValueError:
        values = None
    if not isinstance(values, dict) or not all(isinstance(v, dict) for v in values.values()):
        raise BrainyoloError(where, "attribute parameters is not a table of each layer's values")
    delays = {}
    for layer, table in values.items():
        delay = table.get("delay", 0)
        per_channel = delay if isinstance(delay, list) and delay else [delay]  # one per output channel: the longest
        if not layer.isdigit() or any(isinstance(d, bool) or not isinstance(d, (int, float)) or d != int(d)
                                      or not 0 <= d <= 1_000_000 for d in per_channel):
            raise BrainyoloError(where, f"attribute parameters: layer {layer!r} has no valid delay ({delay!r})")
        if max(per_channel):
            delays[int(layer)] = int(max(per_channel))
    return delays


def decode_run(run_dir, decode: str = "vmem", model_path=None,
               threshold: float = EVAL_THRESHOLD) -> tuple[dict[int, list[dict]], dict[str, dict[int, Detections]]]:
    """:func:`read_and_decode_run`, timed as the stage ``decoding``."""

    with stage("decoding"):
        return read_and_decode_run(run_dir, decode, model_path, threshold)


def read_and_decode_run(run_dir, decode: str = "vmem", model_path=None, threshold: float = EVAL_THRESHOLD
                        ) -> tuple[dict[int, list[dict]], dict[str, dict[int, Detections]]]:
    """Decode every image of a run directory at every checkpoint.

    Returns
    -------
    records : {step: [detection records of all images]} (the ANN's JSON format)
    detections : {file_name: {step: Detections}}
    """

    records: dict[int, list[dict]] = {}
    detections: dict[str, dict[int, Detections]] = {}
    decoder, decoders = None, {}
    where = Path(run_dir) / "recordings.h5"
    for attrs, image, outputs in read_run(run_dir):
        if decoder is None:
            path = find_model_file(run_dir, attrs, model_path)
            if decode == "spikes" and attrs["output"] != "spikes":
                raise BrainyoloError(where, "the spike-count read-out needs a run made with --output spikes")
            model = load_model(path)

            def decoder_of(delays: dict[int, int], model=model, attrs=attrs) -> Decoder:
                key = tuple(sorted(delays.items()))
                if key not in decoders:
                    decoders[key] = Decoder.for_model(model, str(attrs["normalization"]), decode,
                                                      spiking_input=input_kind(attrs["input"]).spikes,
                                                      threshold=threshold,
                                                      schedule=str(attrs.get("schedule", "delayed")),
                                                      synaptic_delays=delays)
                return decoders[key]

            decoder = decoder_of(recorded_delays(attrs, where))
            _, height, width = model.graph.input_shape
            names = model.graph.class_names
            steps = [int(s) for s in attrs["checkpoints"]]
        # a run with parameters of its own (the Python API's) records them with its image
        image_decoder = decoder_of(recorded_delays(image, where)) if "parameters" in image else decoder
        problem = output_problem(decoder.graph, outputs, len(steps), attrs["output"] == "spikes")
        if problem:
            raise BrainyoloError(Path(run_dir) / "recordings.h5", f"image {image['file_name']!r}: {problem} "
                                                                  f"(does the run belong to {path}?)")
        box = Letterbox((int(image["image_width"]), int(image["image_height"])), (width, height))
        found = image_decoder.detections(outputs, steps, box)
        detections[str(image["file_name"])] = found
        for step, dets in found.items():
            records.setdefault(step, []).extend(dets.records(str(image["file_name"]), names))
    if decoder is None:
        raise BrainyoloError(Path(run_dir) / "recordings.h5", "holds no images")
    return records, detections
