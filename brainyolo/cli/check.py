"""``brainyolo check``."""

from __future__ import annotations

from pathlib import Path

from brainyolo.cli.options import existing
from brainyolo.io.errors import BrainyoloError


def add_parser(commands) -> None:
    p = commands.add_parser("check", help="validate input files without running anything",
                            description="Read each file with the reader brainyolo uses for its kind and report "
                                        "'ok' or the first problem: Darknet cfg and weights (--cfg), model files "
                                        "(detectors' and spiking models'), NIR files (.nir, as import-nir reads "
                                        "them), "
                                        "run directories (recordings), neuron and run files (.toml), images. "
                                        "Exit status 2 at the first bad file.")
    p.add_argument("paths", nargs="+", help="files or run directories")
    p.add_argument("--cfg", help="the cfg that .weights files belong to")
    p.set_defaults(run=run)


def _check_one(path: Path, cfg: Path | None) -> str:
    """Validate one file with the reader brainyolo uses for its kind; return a one-line description."""
    from brainyolo.ann.letterbox import IMAGE_SUFFIXES

    suffix = path.suffix.lower()
    if path.is_dir() or path.name == "recordings.h5":
        from brainyolo.readout.decoding import reading_recordings

        with reading_recordings(path if path.is_dir() else path.parent) as f:
            per_channel = ", spike counts per channel" if f.attrs.get("counts") == "channels" else ""
            return f"recordings, {len(f['images'])} images x {int(f.attrs['steps'])} steps{per_channel}"
    if suffix == ".cfg":
        from brainyolo.ann.darknet import graph_from_sections, read_cfg

        graph = graph_from_sections(read_cfg(path), path)
        return f"Darknet cfg, {len(graph.layers)} layers, input {'x'.join(map(str, graph.input_shape))}"
    if suffix == ".weights":
        from brainyolo.ann.darknet import load_darknet

        if cfg is None:
            raise BrainyoloError(path, "checking weights needs their cfg (--cfg)")
        darknet = load_darknet(cfg, path)
        header = darknet.header
        return f"Darknet weights {header.major}.{header.minor}.{header.revision}, {len(darknet.params)} convolutions"
    if path.name.endswith("_td.dat"):
        from brainyolo.io.gen1 import read_td

        events, width, height = read_td(path)
        span = f", {events['t'][0]}..{events['t'][-1]} us" if len(events) else ""
        return f"Gen1 events (Prophesee DAT), {width}x{height} sensor, {len(events)} events{span}"
    if path.name.endswith("_bbox.npy"):
        from brainyolo.io.gen1 import read_bbox

        boxes = read_bbox(path)
        return f"Gen1 boxes, {len(boxes)} boxes at {len(set(boxes['ts'].tolist()))} times"
    if suffix == ".nir":
        from brainyolo.nir.nir_import import import_nir

        snn = import_nir(path)
        kinds = ", ".join(f"{layer.name} ({layer.kind})" for layer in snn.layers)
        return f"NIR graph brainyolo import-nir reads: input {'x'.join(map(str, snn.input_shape))}, {kinds}"
    if suffix in (".h5", ".hdf5"):
        from brainyolo.convert.model_file import load_model
        from brainyolo.nir.model_file import is_spiking_model_file, read_spiking_model

        if is_spiking_model_file(path):
            snn = read_spiking_model(path)
            kinds = ", ".join(layer.kind for layer in snn.layers)
            shapes = snn.shapes()
            neurons = ", ".join(f"{snn.layers[i].name} {'x'.join(map(str, shapes[i]))}" for i in snn.neuron_layers())
            return (f"spiking model file, {len(snn.layers)} layers ({kinds}), input "
                    f"{'x'.join(map(str, snn.input_shape))}, dt = {snn.dt:g}; neuron layers: {neurons}")

        model = load_model(path)
        if model.direct:
            return (f"model file, {len(model.graph.layers)} layers, directly trained SNN (T = "
                    f"{model.spiking.time_steps}, {model.spiking.neuron}, {model.spiking.framework})")
        return f"model file, {len(model.graph.layers)} layers, {model.normalization}-norm"
    if suffix == ".toml":
        from brainyolo.experiments.run_file import load_run_file
        from brainyolo.io.atomic import read_toml
        from brainyolo.spiking.layer_models import hidden_neuron_model

        data = read_toml(path, "neuron model, synapse model, run or parameter file")
        synapse_like = "target" in data or not str(data.get("model", "x")).strip()
        if isinstance(data.get("model"), str) and "threshold" not in data and synapse_like:
            from brainyolo.spiking.synapses import load_synapse_model

            synapse = load_synapse_model(path)
            return (f"synapse model ({'instant' if synapse.instant else 'into ' + synapse.target}), parameters "
                    f"{', '.join([*synapse.parameters, 'delay', 'release', 'seed'])}")
        if isinstance(data.get("model"), str):
            model = hidden_neuron_model(path)
            kind = ", ".join([*(["signed"] if model.signed else []),
                              *([f"bursts of up to {model.burst} spikes"] if model.burst > 1 else []),
                              *(["sent as weighted spikes: one synaptic event per binary digit"]
                                if model.weighted_spikes else []),
                              *([f"a -1 spike worth 1/{model.negative_divisions} of a +1 spike"]
                                if model.negative_divisions > 1 else [])])
            return f"neuron model{f' ({kind})' if kind else ''}, parameters {', '.join(model.parameters)}"
        if data and all(key == "all" or key.isdigit() for key in data):
            from brainyolo.spiking.parameters import read_parameter_file

            settings = read_parameter_file(path)
            return f"parameter file, {len(settings.entries)} settings (checked against a model when used)"
        spec = load_run_file(path)
        return f"run file {spec.name!r}, {len(spec.configurations())} configurations x {spec.steps} steps"
    if suffix in IMAGE_SUFFIXES:
        from brainyolo.ann.letterbox import load_image

        height, width, _ = load_image(path).shape
        return f"image {width}x{height}"
    raise BrainyoloError(path, "unknown kind of file (cfg, weights, .h5, .nir, .toml, an image or a run directory)")


def run(args) -> int:
    cfg = existing(args.cfg) if args.cfg else None
    for text in args.paths:
        path = existing(text)
        print(f"{path}: ok: {_check_one(path, cfg)}")
    return 0
