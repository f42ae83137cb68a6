"""Threshold balancing by Bayesian optimization: ``brainyolo tune`` (Kim et al., IEEE Access 9, 2021).

Every trial runs the already compiled network on the tuning images with other per-layer neuron
parameters (:mod:`brainyolo.spiking.parameters`) and scores two objectives at step ``T``:

* **accuracy**: by default the *agreement* AP@0.5 of the SNN's detections with the ANN's own
  detections (ANN boxes with score >= 0.25 taken as ground truth), which needs no labels; with
  ``labels`` the mAP@0.5 against them;
* **cost**: synaptic events per image (every spike times its real fan-out) over the ``T`` steps.

Optuna's multi-objective TPE sampler searches (its Gaussian-process sampler would need PyTorch,
which the core install keeps out); the study lives in ``TUNE_DIR/study.db`` (SQLite): an
interrupted ``tune`` resumes with every finished trial kept, and a trial cut off mid-run is run
again with its parameters. The Pareto front is ``pareto.png``, every trial is a row of
``trials.csv``, and the chosen point is ``params.toml`` (``--params`` format).

Search space (``space``): ``thresholds`` (per hidden layer, ``v_th`` log-uniform in
:data:`THRESHOLD_RANGE`), ``relative`` (per hidden layer, a factor in :data:`RELATIVE_RANGE` of the run's own
``v_th``: the balanced thresholds of ``--preset fast``, times ``short``'s factor where a run of 24 steps or fewer
runs ``short``, so that the search starts from them) or ``scale`` (one
``v_th`` for every hidden layer, in :data:`THRESHOLD_RANGE`: one dimension instead of one per layer, for short
studies), ``init`` (one ``v_init`` for all layers in
[0, 1]), ``two_phase`` (neuron files with ``v_th_early`` and ``t_switch``: the early threshold as a
fraction of ``v_th`` and the switch step). Trial 0 is the neuron file's own values (the baseline); the next ones are
:func:`warm_start` points, then :data:`RANDOM_TRIALS` random ones, then TPE.
"""

from __future__ import annotations

import csv
import dataclasses
import fcntl
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from brainyolo import __version__
from brainyolo.ann.letterbox import list_images
from brainyolo.convert.model_file import load_model
from brainyolo.experiments import farm
from brainyolo.experiments.farm import client_for, share
from brainyolo.io.atomic import atomic_path, sha256_of, write_json
from brainyolo.io.errors import BrainyoloError, one_line
from brainyolo.pipeline import ann_detections
from brainyolo.readout.decoding import late_checkpoints
from brainyolo.readout.evaluation import GroundTruth, read_ground_truth, score
from brainyolo.spiking.parameters import ALL, INITIAL, ParameterSettings, runtime_names, write_parameter_file

SPACES = ("thresholds", "relative", "scale", "init", "two_phase")
THRESHOLD_SPACES = ("thresholds", "relative", "scale")
"""The spaces of ``v_th``: a study takes one of them."""
THRESHOLD_RANGE = (0.5, 2.0)
"""The range of every layer's ``v_th`` (log-uniform), around the normalized default 1: with λ-normalized
activations mostly in [0, 1], a threshold outside it either floods the network or starves it (random
per-layer thresholds in [0.25, 4] lost most detections in a first study on yolov3-tiny)."""

WARM_START = (1.25, 1.5, 2.0)
"""Uniform thresholds (every layer the same) tried right after the baseline, before the sampler's own
(1.25: where yolov3-tiny's rate-code ceiling passes 98 % of its ANN, ``analysis/fast-and-frugal/rate_ceiling.py``)."""

RELATIVE_RANGE = (0.5, 2.0)
"""The factor (log-uniform) of each hidden layer's own ``v_th`` in the ``relative`` space."""

RELATIVE_WARM_START = (0.8, 1.25)
"""Uniform factors of the run's own thresholds tried right after the baseline in the ``relative`` space."""

RANDOM_TRIALS = 5
"""Random trials before TPE models the objectives (optuna's default is 10)."""

EARLY_RANGE = (0.1, 1.0)
"""The early threshold of two-phase neurons, as a fraction of ``v_th``."""

ANN_TRUTH_SCORE = 0.25
"""ANN detections at least this confident are the ground truth of the agreement AP."""

PICKS = ("frugal", "accuracy")
STUDY = "brainyolo-tune"


@dataclass(frozen=True)
class TuneSettings:
    """What a tuning study optimizes (pinned in the study: a resumed study must match)."""

    steps: int
    trials: int
    space: tuple[str, ...] = ("thresholds",)
    pick: str = "frugal"
    keep: float = 0.98
    seed: int = 2021


def check_space(space, neuron, settings: TuneSettings) -> None:
    """Refuse a search space the neuron file cannot take, or settings out of range (one error line)."""

    names = runtime_names(neuron)
    unknown = [s for s in space if s not in SPACES]
    if unknown or not space:
        raise BrainyoloError(None, f"--space {','.join(space)}: choose from {', '.join(SPACES)}")
    if len(set(space) & set(THRESHOLD_SPACES)) > 1:
        raise BrainyoloError(None, f"--space {','.join(space)}: one of thresholds (per layer), relative (per layer, "
                                   "a factor of the run's own) or scale (one for all layers)")
    if "two_phase" in space and not {"v_th_early", "t_switch"} <= set(names):
        raise BrainyoloError(neuron.source or neuron.name, "--space two_phase needs a neuron file with the "
                                                           "shared parameters v_th_early and t_switch "
                                                           "(if_signed_ibt_two_phase)")
    if settings.steps < 1 or settings.trials < 1 or not 0 < settings.keep <= 1 or settings.pick not in PICKS:
        raise BrainyoloError(None, "--steps and --trials must be positive, --keep in (0, 1], --pick one of "
                                   f"{', '.join(PICKS)}")


def suggest(trial, layers: list[int], space: tuple[str, ...], steps: int,
            own_v_th: dict[int, float] | None = None) -> ParameterSettings:
    """The trial's parameters: optuna's suggestions in the search space; ``own_v_th``: each hidden layer's
    threshold in the run's own settings (what the ``relative`` space multiplies)."""
    entries = []
    if "thresholds" in space:
        for index in layers:
            entries.append((str(index), "v_th", trial.suggest_float(f"v_th_{index}", *THRESHOLD_RANGE, log=True)))
    if "relative" in space:
        for index in layers:
            factor = trial.suggest_float(f"factor_{index}", *RELATIVE_RANGE, log=True)
            entries.append((str(index), "v_th", factor * own_v_th[index]))
    if "scale" in space:
        entries.append((ALL, "v_th", trial.suggest_float("v_th", *THRESHOLD_RANGE, log=True)))
    if "init" in space:
        entries.append((ALL, INITIAL, trial.suggest_float(INITIAL, 0.0, 1.0)))
    if "two_phase" in space:
        fraction = trial.suggest_float("early_fraction", *EARLY_RANGE, log=True)
        switch = trial.suggest_int("t_switch", 1, max(1, steps))
        for index in layers:
            v_th = dict((n, v) for s, n, v in entries if s in (ALL, str(index))).get("v_th", 1.0)
            entries.append((str(index), "v_th_early", fraction * v_th))
        entries.append((ALL, "t_switch", switch * 1e-3))  # steps are 1 ms
    return ParameterSettings(tuple(entries))


def baseline(layers: list[int], space: tuple[str, ...], steps: int, v_th: float = 1.0, v_init: float = 0.0) -> dict:
    """Optuna parameters of the neuron file's own values (trial 0), or of uniform ``v_th`` and ``v_init``."""
    params = {f"v_th_{index}": v_th for index in layers} if "thresholds" in space else {}
    if "relative" in space:  # v_th: the factor of each layer's own threshold
        params.update({f"factor_{index}": v_th for index in layers})
    if "scale" in space:
        params["v_th"] = v_th
    if "init" in space:
        params[INITIAL] = v_init
    if "two_phase" in space:
        params.update(early_fraction=1.0, t_switch=1)
    return params


def warm_start(layers: list[int], space: tuple[str, ...], steps: int) -> list[dict]:
    """The first trials: the baseline, then (with ``init``) V(0) = v_th/2, then uniform thresholds."""
    points = [baseline(layers, space, steps)]
    if "init" in space:
        points.append(baseline(layers, space, steps, v_init=0.5))
    uniform = RELATIVE_WARM_START if "relative" in space else WARM_START if set(space) & {"thresholds", "scale"} else ()
    points += [baseline(layers, space, steps, v_th, 0.5 if "init" in space else 0.0) for v_th in uniform]
    return points


def agreement_truths(ann: dict, paths, class_count: int):
    """Ground truth from the ANN's own detections (score >= :data:`ANN_TRUTH_SCORE`)."""

    truths = []
    for path in paths:
        detections, (width, height) = ann[Path(path).name]
        keep = [d for d in detections if d["score"] >= ANN_TRUTH_SCORE]
        truths.append(GroundTruth(Path(path).name, width, height,
                                  np.asarray([d["bbox"] for d in keep], np.float64).reshape(-1, 4),
                                  np.asarray([d["category_id"] for d in keep], np.int64)))
    return truths


def ann_agreement_truths(graph, image_paths):
    """The ANN's own detections of ``image_paths`` (score >= :data:`ANN_TRUTH_SCORE`) as ground truth."""
    from PIL import Image

    ann = {}
    for path, detections in ann_detections(graph, image_paths):
        with Image.open(path) as image:
            ann[path.name] = (detections.records(path.name, graph.class_names), image.size)
    return agreement_truths(ann, image_paths, len(graph.class_names))


def pareto_front(points: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows of ``points`` (columns: accuracy to maximize, cost to minimize)."""
    front = []
    for i, (accuracy, cost) in enumerate(points):
        dominated = np.any((points[:, 0] >= accuracy) & (points[:, 1] <= cost)
                           & ((points[:, 0] > accuracy) | (points[:, 1] < cost)))
        if not dominated:
            front.append(i)
    return np.asarray(front, int)


def pick(points: np.ndarray, how: str, keep: float) -> int:
    """The chosen row: ``accuracy`` the most accurate (fewest events among ties); ``frugal`` the fewest
    events among those within ``keep`` of the best accuracy."""
    best = points[:, 0].max()
    if how == "accuracy":
        candidates = np.flatnonzero(points[:, 0] == best)
    else:
        candidates = np.flatnonzero(points[:, 0] >= keep * best)
    return int(candidates[np.argmin(points[candidates, 1])])


def labelled_truths(image_paths: list[Path], names: list[str], labels):
    """Ground truth of tuning images from ``labels``: a COCO instances ``.json``, else a YOLO labels folder."""

    kind = "coco" if Path(labels).suffix.lower() == ".json" else "labels"
    return read_ground_truth(image_paths, names, **{kind: labels})


def same_images(a: list[Path], b: list[Path]) -> list[str]:
    """Names of images present in both lists by content (sha256), whatever their folders."""

    seen = {sha256_of(p): p.name for p in a}
    return sorted(seen[h] for h in (sha256_of(p) for p in b) if h in seen)


def run_tune(model_path, image_paths: list[Path], tune: TuneSettings, simulation, out_dir,
             labels=None, progress: bool = True, farm=None, decode: str | None = None) -> dict:
    """Run (or resume) a tuning study into ``out_dir``; return its summary.

    Parameters
    ----------
    simulation : SimulationSettings
        How every trial simulates (steps, device, threads, neuron file); its parameters are the
        starting point that trials override.
    labels : path, optional
        Ground truth of the tuning images, a folder of YOLO labels or a COCO instances ``.json``:
        mAP@0.5 instead of the agreement with the ANN.
    farm : brainyolo.experiments.farm.Farm, optional
        Trials as tasks of a Dask cluster (as many at once as the cluster has worker threads).
    decode : str, optional
        The read-out scored at step T (:data:`brainyolo.readout.decoding.DECODERS`; default: the output
        layer's own, ``vmem`` or ``spikes``).
    """

    import optuna
    from tqdm import tqdm

    from brainyolo.detector import SpikingDetector
    from brainyolo.spiking.builder import hidden_layers
    from brainyolo.spiking.layer_models import hidden_neuron_model
    from brainyolo.spiking.simulate import run_parameters

    model = load_model(model_path)
    neuron = hidden_neuron_model(simulation.build.neuron)
    check_space(tune.space, neuron, tune)

    decode = decode or simulation.build.output
    simulation = dataclasses.replace(simulation, steps=tune.steps,
                                     checkpoints=late_checkpoints((tune.steps,), tune.steps, decode))
    layers = hidden_layers(model.graph)
    names = model.graph.class_names
    pinned = {"model_sha256": sha256_of(model_path), "images": [p.name for p in image_paths],
              "labels": bool(labels), "tune": {k: v for k, v in asdict(tune).items() if k not in ("trials", "pick",
                                                                                                   "keep")},
              "neuron": Path(neuron.source).read_text() if neuron.source else neuron.name,
              "simulation": {k: v for k, v in asdict(simulation).items() if k != "counts"}}  # (no recordings)
    if decode != simulation.build.output:  # (studies made before other read-outs pinned none)
        pinned["decode"] = decode
    pinned = json.loads(json.dumps(pinned, default=str))  # as the study stores it (lists, not tuples)
    if labels:
        truths = labelled_truths(image_paths, names, labels)
    else:
        truths = ann_agreement_truths(model.graph, image_paths)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = open(out_dir / ".tune.lock", "a+")  # noqa: SIM115 - held for the whole study
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise BrainyoloError(out_dir, "another 'brainyolo tune' is running in this folder") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(f"sqlite:///{out_dir / 'study.db'}")
    study = optuna.create_study(study_name=STUDY, storage=storage, directions=["maximize", "minimize"],
                                sampler=optuna.samplers.TPESampler(seed=tune.seed, multivariate=True,
                                                                   n_startup_trials=RANDOM_TRIALS),
                                load_if_exists=True)
    if study.user_attrs.get("pinned") not in (None, pinned):
        raise BrainyoloError(out_dir, "holds a study with other settings (model, images, steps, space, neuron or "
                                      "simulation options): use another folder")
    study.set_user_attr("pinned", pinned)
    # With the lock held no other process runs trials here: a RUNNING trial was cut off. It never
    # finished, so it is run again with the same parameters (nothing lost, nothing counted twice).
    for stale in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        storage.set_trial_state_values(stale._trial_id, optuna.trial.TrialState.FAIL)
        study.enqueue_trial(stale.params)
    if not study.trials:
        for point in warm_start(layers, tune.space, tune.steps):
            study.enqueue_trial(point)
    done = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))

    bar = tqdm(total=tune.trials, initial=min(done, tune.trials), desc="tune", unit="trial",
               disable=None if progress else True)

    count = [done]  # finished trials, the resumed ones included

    def shown(number: int, accuracy: float, events: float, started: float) -> None:
        """A finished trial on the bar (or one line of a log)."""
        count[0] += 1
        bar.update(1)
        best = study.best_trials
        bar.set_postfix(front=len(best), best_ap=f"{max(t.values[0] for t in best):.3f}")
        if progress and bar.disable:  # no terminal (a log file): one line per trial instead of the bar
            print(f"tune: trial {number} ({count[0]}/{tune.trials}): accuracy {accuracy:.4f}, "
                  f"{events:.4g} events/image, {time.perf_counter() - started:.0f} s; Pareto front "
                  f"{len(best)} trials", flush=True)

    own = run_parameters(model, simulation)  # the run's own thresholds (balanced under fast, x 0.4 under short)
    own_v_th = {index: float(own[index]["v_th"]) for index in layers if "v_th" in own.get(index, {})}

    def settings_of(trial):
        settings = simulation.parameters + suggest(trial, layers, tune.space, tune.steps, own_v_th)
        # (quantities such as a --set tau = 20*ms are kept as their text: the study stores JSON)
        trial.set_user_attr("parameters", json.loads(json.dumps(settings.as_dict(), default=repr)))
        return settings

    if farm is not None and farm.active:
        resolved_base = own
        _trials_on_farm(study, model_path, image_paths, simulation, decode, tune, farm, settings_of, truths, names,
                        shown, count)
    else:
        with SpikingDetector.from_settings(model_path, dataclasses.replace(simulation, decode=decode),
                                           progress=progress) as detector:
            resolved_base = detector.parameters

            def objective(trial) -> tuple[float, float]:
                records, events = [], 0
                for path in image_paths:
                    run = detector.run(path, settings_of(trial))
                    records += run.detections[tune.steps].records(path.name, names)
                    events += run.result.synaptic_events
                return float(score(truths, records, len(names))["mAP50"]), events / len(image_paths)

            finished = []  # the trials run here, in order (optuna's callback)
            while count[0] < tune.trials:
                started = time.perf_counter()
                study.optimize(objective, n_trials=1, catch=(),
                               callbacks=[lambda _, trial: finished.append(trial)])
                shown(finished[-1].number, *finished[-1].values, started)
    bar.close()
    summary = write_results(study, tune, out_dir, resolved_base, labels is not None, simulation.preset,
                            simulation.build.neuron)
    fcntl.flock(lock, fcntl.LOCK_UN)
    lock.close()
    return summary


def trial_task(model_data, model_sha256: str, version: str, simulation, decode: str, images,
               item) -> tuple[list, int]:
    """A cluster task: one trial's parameters ``item`` (:class:`ParameterSettings`) on every tuning
    image ``images`` (``[(file name, bytes)]``); returns the detection records at the last step and
    the synaptic events of all images."""

    farm.check_version(version)
    with farm.worker_lock():
        detector, names = farm.worker_detector(model_data, model_sha256, simulation, decode)
        records, events = [], 0
        for name, data in images:
            with farm.image_file(name, data) as path:
                run = detector.run(path, item)
            records += run.detections[simulation.steps].records(name, names)
            events += run.result.synaptic_events
        return records, events


def _trials_on_farm(study, model_path, image_paths, simulation, decode, tune, farm, settings_of, truths, names,
                    shown, count) -> None:
    """Trials as cluster tasks, one per worker at a time (optuna's ask and tell); a trial whose task
    failed is asked again with the same parameters (at most ``farm.retries`` times in all)."""
    import hashlib

    import optuna
    from distributed import wait


    model_data = Path(model_path).read_bytes()
    sha = hashlib.sha256(model_data).hexdigest()
    failures = 0
    with client_for(farm) as client:
        model = share(client, model_data)
        images = share(client, [(p.name, p.read_bytes()) for p in image_paths])
        slots = max(1, sum(client.nthreads().values()))
        running: dict = {}
        while count[0] < tune.trials:
            while len(running) < slots and count[0] + len(running) < tune.trials:
                trial = study.ask()
                future = client.submit(trial_task, model, sha, __version__, simulation, decode, images,
                                       settings_of(trial),
                                       key=f"brainyolo-trial-{trial.number}-{os.urandom(4).hex()}", pure=False)
                running[future] = (trial, time.perf_counter())
            finished, _ = wait(list(running), return_when="FIRST_COMPLETED")
            for future in finished:
                trial, started = running.pop(future)
                try:
                    records, events = future.result()
                except Exception as err:  # noqa: BLE001 - the trial is asked again, or the study stops
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    study.enqueue_trial(trial.params)
                    failures += 1
                    if failures > farm.retries:
                        raise BrainyoloError(None, f"trial {trial.number} failed on the cluster: {one_line(err)} "
                                                   "(the finished trials are kept: run again to go on)") from None
                    continue
                accuracy = float(score(truths, records, len(names))["mAP50"])
                events_per_image = events / len(image_paths)
                study.tell(trial, [accuracy, events_per_image])
                shown(trial.number, accuracy, events_per_image, started)


def write_results(study, tune: TuneSettings, out_dir: Path, base: dict, labelled: bool, preset: str = "",
                  neuron: str = "") -> dict:
    """``trials.csv``, ``pareto.png``, ``params.toml`` and ``summary.json`` from the finished trials."""
    import optuna


    trials = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    points = np.asarray([t.values for t in trials], np.float64)
    front = pareto_front(points)
    chosen = pick(points, tune.pick, tune.keep)
    baseline_row = min(range(len(trials)), key=lambda i: trials[i].number)  # trial 0, the neuron file's values
    metric = "mAP@0.5" if labelled else "agreement AP@0.5"
    keys = sorted({k for t in trials for k in t.params})
    with atomic_path(out_dir / "trials.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["trial", metric.replace(" ", "_"), "events_per_image", "pareto", *keys])
        for i, t in enumerate(trials):
            writer.writerow([t.number, f"{t.values[0]:.6f}", f"{t.values[1]:.6g}", int(i in front),
                             *(f"{t.params[k]:.6g}" if k in t.params else "" for k in keys)])
    settings = ParameterSettings(tuple((selector, name, value)
                                       for selector, values in trials[chosen].user_attrs["parameters"].items()
                                       for name, value in values.items()))
    accuracy, events = points[chosen]
    base_accuracy, base_events = points[baseline_row]
    header = (f"brainyolo tune: trial {trials[chosen].number} of {len(trials)} ({tune.pick}, keep {tune.keep:g}), "
              f"{tune.steps} steps, preset {preset or '-'}, neuron {neuron or '-'}\n{metric} {accuracy:.4f} "
              f"(baseline {base_accuracy:.4f}), synaptic events per "
              f"image {events:.4g} ({events / base_events:.2f}x the baseline's)")
    write_parameter_file(out_dir / "params.toml", settings, header)
    _plot(points, front, chosen, baseline_row, metric, tune, out_dir / "pareto.png")
    summary = {"trials": len(trials), "steps": tune.steps, "preset": preset, "neuron": neuron,
               "space": list(tune.space), "metric": metric,
               "pareto_trials": [trials[i].number for i in front], "chosen_trial": trials[chosen].number,
               "chosen": {"accuracy": accuracy, "events_per_image": events},
               "baseline": {"accuracy": base_accuracy, "events_per_image": base_events},
               "events_ratio": events / base_events if base_events else None,
               "parameters": settings.as_dict(), "base_parameters": {str(k): v for k, v in base.items()}}
    write_json(out_dir / "summary.json", summary)
    return summary


def _plot(points, front, chosen, baseline_row, metric, tune, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.scatter(points[:, 1], points[:, 0], s=14, color="0.65", label="trials")
    order = front[np.argsort(points[front, 1])]
    ax.plot(points[order, 1], points[order, 0], "o-", color="C0", ms=5, label="Pareto front")
    ax.scatter(*points[baseline_row, ::-1], marker="s", s=60, color="C3", label="baseline (neuron file)", zorder=3)
    ax.scatter(*points[chosen, ::-1], marker="*", s=160, color="C2", label=f"chosen ({tune.pick})", zorder=4)
    ax.set_xlabel(f"synaptic events per image over {tune.steps} steps")
    ax.set_ylabel(metric)
    ax.set_xscale("log")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title(f"brainyolo tune: {len(points)} trials, space {'+'.join(tune.space)}")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def tuning_images(model, images: str | os.PathLike | None, count: int | None) -> tuple[Path, list[Path]]:
    """The tuning images: ``images``, else the model's calibration folder (from its provenance)."""

    folder = images or model.provenance.get("calibration_source")
    if not folder or not Path(str(folder)).is_dir():
        raise BrainyoloError(None, "no tuning images: pass --images (the model's calibration folder is not "
                                   f"available: {folder!r})")
    paths = list_images(str(folder))[:count or None]
    if not paths:
        raise BrainyoloError(folder, "holds no images")
    return Path(str(folder)), paths
