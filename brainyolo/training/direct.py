"""Train the directly trained spiking detector with spikingjelly (the ``train`` extra).

::

    python -m brainyolo.training --spiking -o brainyolo/data

Surrogate-gradient training through time (BPTT) at T = 4 of the EMS-ResNet-style network of
:mod:`brainyolo.training.direct_graph`, on the same generated scenes, letterboxing, anchors and YOLOv3 loss as
the embedded ANN (:mod:`brainyolo.training.ann`). Why spikingjelly: its ``LIFNode`` is a documented
discrete update (``H = V + (X - (V - V_reset)) / tau``, spike ``H >= V_th``, hard or soft reset)
that a Brian2 neuron file can state exactly, its multi-step mode trains [T, N, C, H, W] tensors
through ordinary PyTorch layers, and its surrogate functions are library code; snnTorch's
``Leaky`` neuron updates the membrane with the reset subtracted from the decayed value, which
Brian2 can state too, but it has no multi-step layer containers.

The network trains with batch-norm after every convolution; the export folds it (running
statistics) into the convolutions, writes the model file (schema 2: ``/spiking`` holds T, the
neuron file and each layer's tau, threshold and reset) and reports the trained network's mAP,
computed by spikingjelly on the folded network (what Brian2 runs), on 200 fresh scenes.

Nothing else in brainyolo imports this module, PyTorch or spikingjelly.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np

from brainyolo.ann.graph import INPUT, Conv, ConvAdd, Graph, YoloHead
from brainyolo.ann.heads import detect_from_heads
from brainyolo.ann.letterbox import iterate_letterboxed
from brainyolo.convert.model_file import DIRECT, ConvertedModel, SpikingSpec, save_model
from brainyolo.data import scenes
from brainyolo.io.atomic import write_json
from brainyolo.io.errors import BrainyoloError
from brainyolo.pipeline import EVAL_THRESHOLD
from brainyolo.readout.evaluation import coco_map, read_yolo_labels
from brainyolo.training import direct_graph as direct
from brainyolo.training.yolo_training import (
    EVAL_SEED,
    event_set_map,
    kmeans_anchors,
    letterboxed_scenes,
    load_event_set,
    yolo_loss,
)

BN_EPSILON = 1e-5


def framework_version() -> str:
    import spikingjelly

    version = getattr(spikingjelly, "__version__", None)
    if version is None:
        from importlib.metadata import version as dist_version

        version = dist_version("spikingjelly")
    return f"spikingjelly {version}"


def lif_node(params: dict):
    """spikingjelly's multi-step ``LIFNode`` with ``params`` (tau, v_th, v_reset, hard_reset)."""
    from spikingjelly.activation_based import neuron
    from spikingjelly.activation_based import surrogate as surrogates

    return neuron.LIFNode(tau=float(params["tau"]), decay_input=True, v_threshold=float(params["v_th"]),
                          v_reset=float(params["v_reset"]) if params["hard_reset"] else None,
                          surrogate_function=surrogates.ATan(), detach_reset=True, step_mode="m")


def spiking_module(graph: Graph, params: dict[int, dict], torch, batch_norm: bool):
    """A PyTorch module running ``graph`` as a spiking network for T steps.

    ``forward(x, steps)``: ``x`` (N, 3, H, W) images, repeated at every step into the first
    convolution, or (T, N, 3, H, W) one input per step (event frames). Returns the head maps
    averaged over the steps, and (``record=True``) every spiking layer's spikes ``[T, N, C, H, W]``.
    With ``batch_norm`` every spiking layer's convolutions are followed by batch-norm (training);
    without, the convolutions carry the folded weights and biases (what the model file holds and Brian2 runs).
    """
    nn = torch.nn

    class SpikingDetector(nn.Module):
        def __init__(self):
            super().__init__()
            self.convs, self.norms, self.neurons = nn.ModuleDict(), nn.ModuleDict(), nn.ModuleDict()
            shapes = graph.shapes()
            for index, layer in enumerate(graph.layers):
                if isinstance(layer, (Conv, ConvAdd)):
                    branches = ([(layer.inputs[0], layer.weight, layer.size, layer.stride, layer.pad)]
                                if isinstance(layer, Conv) else layer.branches())
                    for k, (source, _, size, stride, pad) in enumerate(branches):
                        channels = graph.input_shape[0] if source == INPUT else shapes[source][0]
                        spiking = layer.activation == "spike"
                        bias = not (batch_norm and spiking) and k == 0
                        self.convs[f"{index}_{k}"] = nn.Conv2d(channels, layer.filters, size, stride, pad, bias=bias)
                        if batch_norm and spiking:
                            self.norms[f"{index}_{k}"] = nn.BatchNorm2d(layer.filters, eps=BN_EPSILON, momentum=0.03)
                    if layer.activation == "spike":
                        self.neurons[str(index)] = lif_node(params[index])

        def _conv(self, index: int, k: int, x):
            """Branch ``k`` of layer ``index`` on ``x`` [T, N, C, H, W] (or [N, C, H, W], step-invariant)."""
            conv = self.convs[f"{index}_{k}"]
            norm = self.norms[f"{index}_{k}"] if f"{index}_{k}" in self.norms else None
            lead = x.shape[:-3]
            y = conv(x.reshape(-1, *x.shape[-3:]))
            if norm is not None:
                y = norm(y)
            return y.reshape(*lead, *y.shape[1:])

        def forward(self, x, steps: int, record: bool = False):
            from spikingjelly.activation_based import functional

            functional.reset_net(self)
            outputs, heads, spikes = {}, [], {}
            for index, layer in enumerate(graph.layers):
                if isinstance(layer, (Conv, ConvAdd)):
                    sources = [layer.inputs[0]] if isinstance(layer, Conv) else list(layer.inputs)
                    current = 0
                    for k, source in enumerate(sources):
                        if source == INPUT:
                            y = self._conv(index, k, x)
                            if x.dim() == 4:  # the image at every step: one convolution, repeated
                                y = y.unsqueeze(0).expand(steps, *y.shape)
                        else:
                            y = self._conv(index, k, outputs[source])
                        current = current + y
                    if layer.activation == "spike":
                        out = self.neurons[str(index)](current.contiguous())
                        if record:
                            spikes[index] = out
                    else:
                        out = current
                    outputs[index] = out
                elif isinstance(layer, YoloHead):
                    heads.append(outputs[layer.inputs[0]].mean(dim=0))
                else:
                    raise ValueError(f"layer kind {layer.kind} is not part of the direct detector")
            return (heads, spikes) if record else heads

    return SpikingDetector()


def fold(module, graph: Graph) -> Graph:
    """The trained module's weights in ``graph``, batch-norm folded into the convolutions."""
    layers = list(graph.layers)
    for index, layer in enumerate(graph.layers):
        if not isinstance(layer, (Conv, ConvAdd)):
            continue
        weights, bias = [], 0.0
        for k in range(1 if isinstance(layer, Conv) else 2):
            conv = module.convs[f"{index}_{k}"]
            w = conv.weight.detach().double().numpy()
            b = conv.bias.detach().double().numpy() if conv.bias is not None else np.zeros(layer.filters)
            if f"{index}_{k}" in module.norms:
                bn = module.norms[f"{index}_{k}"]
                scale = bn.weight.detach().double().numpy() / np.sqrt(bn.running_var.double().numpy() + bn.eps)
                w = w * scale[:, None, None, None]
                b = (b - bn.running_mean.double().numpy()) * scale + bn.bias.detach().double().numpy()
            weights.append(w.astype(np.float32))
            bias = bias + b
        changes = {"weight": weights[0], "bias": np.asarray(bias, np.float32)}
        if isinstance(layer, ConvAdd):
            changes["shortcut_weight"] = weights[1]
        layers[index] = dataclasses.replace(layer, **changes)
    return Graph(graph.input_shape, layers, list(graph.class_names))


def folded_module(graph: Graph, params: dict[int, dict], torch, dtype=None):
    """A batch-norm-free module carrying ``graph``'s (folded) weights: what Brian2 runs, in spikingjelly."""
    module = spiking_module(graph, params, torch, batch_norm=False)
    with torch.no_grad():
        for index, layer in enumerate(graph.layers):
            if isinstance(layer, (Conv, ConvAdd)):
                module.convs[f"{index}_0"].weight.copy_(torch.from_numpy(layer.weight))
                module.convs[f"{index}_0"].bias.copy_(torch.from_numpy(layer.bias))
                if isinstance(layer, ConvAdd):
                    module.convs[f"{index}_1"].weight.copy_(torch.from_numpy(layer.shortcut_weight))
    if dtype is not None:
        module = module.to(dtype)
    return module.eval()


def evaluate(graph: Graph, params, steps: int, count: int, seed: int, torch) -> dict:
    """COCO-style mAP of the folded network run by spikingjelly on ``count`` fresh scenes."""
    import tempfile


    module = folded_module(graph, params, torch)
    _, height, width = graph.input_shape
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        paths = scenes.write_scenes(work, count, seed)
        truths = read_yolo_labels(paths, work / "labels", len(scenes.CLASS_NAMES))
        records = []
        with torch.no_grad():
            for path, chw, box in iterate_letterboxed(paths, width, height):
                heads = module(torch.from_numpy(chw[None].astype(np.float32)), steps)
                maps = [h[0].numpy() for h in heads]
                records += detect_from_heads(graph, maps, box, EVAL_THRESHOLD).records(path.name, scenes.CLASS_NAMES)
    return coco_map(truths, records, len(scenes.CLASS_NAMES))






def evaluate_events(graph: Graph, params, steps: int, count: int, seed: int, torch) -> dict:
    """COCO-style mAP of the folded network run by spikingjelly on ``count`` fresh event scenes
    (EMS frames, ``steps`` bins of the 250 ms before each box time)."""
    module = folded_module(graph, params, torch)

    def head_maps_of(frames):
        with torch.no_grad():
            return [h[0].numpy() for h in module(event_input(frames, torch), steps)]

    return event_set_map(graph, count, seed, steps, head_maps_of)


def event_input(frames: np.ndarray, torch):
    """EMS frames ``(N, T, H, W)`` uint8 as the network's per-step input ``(T, N, 3, H, W)`` in [0, 1]."""
    x = torch.from_numpy(frames.astype(np.float32) / 255.0).transpose(0, 1).unsqueeze(2)
    return x.expand(-1, -1, 3, -1, -1).contiguous()






def train_direct(out_dir: Path, iterations: int, batch: int, train_scenes: int, seed: int, threads: int,
                 learning_rate: float = 2e-3, steps: int = direct.TIME_STEPS, width: int = 16,
                 log_every: int = 50, init_state: Path | None = None, events: Path | None = None) -> dict:
    """Train, export ``direct.h5`` and ``training-direct.json`` into ``out_dir``; return the report.

    The trained module's state (batch-norm unfolded) goes to ``out_dir/direct-state.pt``; ``init_state``
    starts from such a file (to train on: a longer schedule, another learning rate).

    ``events``: train on event scenes instead (a set saved by :func:`save_event_set`: EMS-YOLO frames,
    one per step, ``steps`` bins of the 250 ms before each box time); writes ``direct-events.h5``,
    ``direct-events-state.pt`` and ``training-direct-events.json``, and evaluates on fresh event scenes.
    """
    import torch


    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    started = time.perf_counter()
    net_w, net_h = direct.NETWORK_SIZE
    if events is not None:
        images, labels = load_event_set(events)
        train_scenes = len(images)
        if images.shape[1] != steps:
            raise BrainyoloError(events, f"holds {images.shape[1]} frames per scene, not T = {steps}")
    else:
        images, labels = letterboxed_scenes(train_scenes, seed, (net_w, net_h))
    anchors = kmeans_anchors(np.concatenate([lab[:, 3:5] for lab in labels]), 6, seed)
    anchors = np.round(anchors)
    graph = direct.direct_graph(anchors, scenes.CLASS_NAMES, width)
    params = {i: dict(direct.LIF) for i in direct.spiking_layers(graph)}
    heads = [graph.layers[i] for i in graph.heads()]
    print(f"{train_scenes} scenes in {time.perf_counter() - started:.0f} s; anchors {anchors.astype(int).tolist()}; "
          f"T = {steps}, {framework_version()}", flush=True)
    module = spiking_module(graph, params, torch, batch_norm=True)
    if init_state is not None:
        module.load_state_dict(torch.load(init_state, weights_only=True))
        print(f"starting from {init_state}", flush=True)
    optimizer = torch.optim.AdamW(module.parameters(), lr=learning_rate, weight_decay=5e-4)
    warmup = max(iterations // 20, 1)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda k: min((k + 1) / warmup, 0.5 * (1 + math.cos(math.pi * k / iterations))))
    rng = np.random.default_rng(seed + 1)
    history, rates = [], []
    module.train()
    for step in range(iterations):
        chosen = rng.choice(train_scenes, batch, replace=False)
        if events is not None:
            x = event_input(images[chosen], torch)
        else:
            x = torch.from_numpy(images[chosen].astype(np.float32) / 255.0)
        batch_labels = [labels[i].copy() for i in chosen]
        flip = rng.random(batch) < 0.5
        flipped = torch.from_numpy(flip)
        if events is not None:
            x[:, flipped] = x[:, flipped].flip(-1)
        else:
            x[flipped] = x[flipped].flip(-1)
        for k in np.flatnonzero(flip):
            batch_labels[k][:, 1] = net_w - batch_labels[k][:, 1]
        maps, spikes = module(x, steps, record=True)
        loss = yolo_loss(maps, batch_labels, heads, (net_w, net_h), torch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        history.append(loss.item())
        rates.append(float(np.mean([s.detach().mean().item() for s in spikes.values()])))
        if step % log_every == 0 or step == iterations - 1:
            print(f"step {step:5d}/{iterations}  loss {np.mean(history[-log_every:]):8.3f}  "
                  f"spike rate {np.mean(rates[-log_every:]):.3f}  lr {schedule.get_last_lr()[0]:.2e}  "
                  f"{time.perf_counter() - started:6.0f} s", flush=True)
    module.eval()
    folded = fold(module, graph)
    spec = SpikingSpec(steps, direct.NEURON, params, framework_version())
    name = "direct-events" if events is not None else "direct"
    trained_by = "python -m brainyolo.training --spiking" + (" --events" if events is not None else "")
    model = ConvertedModel(folded, None, DIRECT, {"trained_by": trained_by, "train_scenes": train_scenes,
                                                  "seed": seed, "input": "events" if events is not None else "image"},
                           spec)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_model(model, out_dir / f"{name}.h5")
    torch.save(module.state_dict(), out_dir / f"{name}-state.pt")
    score = evaluate_events if events is not None else evaluate
    metrics = {t: score(folded, params, t, 200, EVAL_SEED, torch) for t in (steps,)}
    report = {"iterations": iterations, "batch": batch, "train_scenes": train_scenes, "seed": seed,
              "learning_rate": learning_rate, "time_steps": steps, "width": width,
              "init_state": str(init_state) if init_state else None,
              "framework": framework_version(), "torch": torch.__version__,
              "anchors": anchors.astype(int).tolist(), "seconds": round(time.perf_counter() - started, 1),
              "final_loss": round(float(np.mean(history[-log_every:])), 4),
              "loss_every_50": [round(float(np.mean(history[k:k + 50])), 4) for k in range(0, iterations, 50)],
              "spike_rate_every_50": [round(float(np.mean(rates[k:k + 50])), 4) for k in range(0, iterations, 50)],
              "eval": {"scenes": 200, "seed": EVAL_SEED, "steps": steps,
                       **{k: round(v, 4) if isinstance(v, float) else v for k, v in metrics[steps].items()}}}
    write_json(out_dir / f"training-{name}.json", report)
    print(f"{name} SNN (T = {steps}) on 200 fresh scenes: mAP@0.5 {metrics[steps]['mAP50']:.3f}, "
          f"mAP {metrics[steps]['mAP']:.3f}", flush=True)
    return report
