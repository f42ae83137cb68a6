"""brainyolo: Spiking-YOLO in Brian2.

Subpackages, in the order of the pipeline::

    ann          Darknet cfg + weights -> graph (batch-norm folded); numpy reference; heads; letterbox
    convert      calibration, normalization, threshold balancing and tuning, the HDF5 model file
    spiking      neuron and synapse files, presets, run parameters, input kinds, the Brian2 network,
                 its device and templates, simulation (C++ standalone compiled once)
    readout      recordings, decoding into detections at every checkpoint, ground truth and mAP
    analysis     spike statistics and energy, figures, annotated pictures, benchmarks
    experiments  run files, the demo, Dask farming
    data         shipped detectors, generated scenes and event scenes, the DVS emulator, downloads
    io           one error type, atomic output, checksums, the parameter-value grammar, Gen1 files
    training     retraining the shipped detectors (optional: PyTorch, spikingjelly)
    system       usable cores, the --profile stopwatch
    nir          NIR graphs (snnTorch, Norse, ...) <-> spiking models simulated in Brian2
    cli          the ``brainyolo`` command, one module per command

``registry`` holds the rule registries every stage uses; ``pipeline`` the steps the commands call;
``detector`` the Python API (``brainyolo.SpikingDetector``); ``stimuli`` what a run shows the network.
"""

__version__ = "0.15.5"

_API = ("SpikingDetector", "Layer", "DetectorRun", "neuron_index", "neuron_at", "simulate")
"""The Python API (:mod:`brainyolo.detector`), imported on first use: ``import brainyolo`` stays light."""

_NIR_API = {"import_nir": "brainyolo.nir.nir_import", "export_nir": "brainyolo.nir.nir_export",
            "run_spiking_model": "brainyolo.nir.simulate", "read_spiking_model": "brainyolo.nir.model_file",
            "save_spiking_model": "brainyolo.nir.model_file"}
"""The NIR bridge's API (:mod:`brainyolo.nir`, docs/nir.md), imported on first use."""


def __getattr__(name: str):
    if name in _API:
        from brainyolo import detector

        return getattr(detector, name)
    if name in _NIR_API:
        import importlib

        return getattr(importlib.import_module(_NIR_API[name]), name)
    raise AttributeError(f"module 'brainyolo' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API, *_NIR_API])
