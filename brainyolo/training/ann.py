"""Train the embedded default detector on generated scenes (the ``train`` extra: PyTorch).

::

    python -m brainyolo.training -o brainyolo/data

The architecture is the committed ``data/tiny-yolov3.cfg`` (a reduced yolov3-tiny). The script

1. generates training scenes with :mod:`brainyolo.data.scenes` (fixed seed) and letterboxes them with
   :func:`brainyolo.ann.letterbox.letterbox`, exactly as inference will;
2. sets the six anchors by k-means (1 - IoU distance) on the training boxes;
3. builds a PyTorch module from the project's own :class:`~brainyolo.ann.graph.Graph` (Darknet
   padding and max-pool semantics, batch-norm with Darknet's epsilon, leaky slope 0.1) and trains
   it with the YOLOv3 loss (best-anchor assignment, logistic x/y, log-space w/h, objectness with
   an ignore threshold, logistic classes);
4. exports cfg + weights with the project's Darknet writer, reloads them through
   :func:`brainyolo.ann.darknet.load_darknet` and reports the numpy ANN's mAP on fresh scenes
   (another seed) in ``training.json``.

Nothing else in brainyolo imports this module or PyTorch.
"""

from __future__ import annotations

import math
import time
from importlib import resources
from pathlib import Path

import numpy as np

from brainyolo.ann import darknet
from brainyolo.ann.graph import INPUT, Conv, MaxPool, Route, Upsample, YoloHead
from brainyolo.ann.reference import head_maps
from brainyolo.data import scenes
from brainyolo.io.atomic import atomic_path, write_json
from brainyolo.pipeline import ann_detections
from brainyolo.readout.evaluation import coco_map, read_yolo_labels
from brainyolo.training.yolo_training import (
    EVAL_SEED,
    event_set_map,
    kmeans_anchors,
    letterboxed_scenes,
    load_event_set,
    yolo_loss,
)

BN_EPSILON = 1e-6  # brainyolo (like OpenCV) folds batch-norm with sqrt(var + 1e-6)
EVENT_CFG_HEADER = ("# brainyolo's event detector (embedded-events): the embedded default detector's architecture\n"
                    "# trained by `python -m brainyolo.training --events` on generated event scenes, each read as\n"
                    "# the mean of its 5 EMS-YOLO frames (the 250 ms before the box time).\n\n")






def _torch_model(graph, torch):
    """A PyTorch module computing the graph's head maps (weights of its own, trained here)."""
    nn, functional = torch.nn, torch.nn.functional
    shapes = graph.shapes()

    class GraphModule(nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = nn.ModuleDict()
            self.norms = nn.ModuleDict()
            for index, layer in enumerate(graph.layers):
                if isinstance(layer, Conv):
                    channels = graph.input_shape[0] if layer.inputs[0] == INPUT else shapes[layer.inputs[0]][0]
                    bn = layer.activation == "leaky"
                    self.convs[str(index)] = nn.Conv2d(channels, layer.filters, layer.size, layer.stride,
                                                       layer.pad, bias=not bn)
                    if bn:
                        self.norms[str(index)] = nn.BatchNorm2d(layer.filters, eps=BN_EPSILON, momentum=0.03)

        def forward(self, x):
            outputs, heads = [], []
            for index, layer in enumerate(graph.layers):
                inputs = [x if i == INPUT else outputs[i] for i in layer.inputs]
                if isinstance(layer, Conv):
                    y = self.convs[str(index)](inputs[0])
                    if str(index) in self.norms:
                        y = self.norms[str(index)](y)
                    if layer.activation == "leaky":
                        y = functional.leaky_relu(y, layer.alpha)
                elif isinstance(layer, MaxPool):
                    offset = layer.pad // 2
                    h, w = inputs[0].shape[-2:]
                    out_h = (h + layer.pad - layer.size) // layer.stride + 1
                    out_w = (w + layer.pad - layer.size) // layer.stride + 1
                    need_h = (out_h - 1) * layer.stride + layer.size
                    need_w = (out_w - 1) * layer.stride + layer.size
                    y = functional.pad(inputs[0], (offset, max(need_w - w - offset, 0), offset,
                                                   max(need_h - h - offset, 0)), value=-math.inf)
                    y = functional.max_pool2d(y, layer.size, layer.stride)[..., :out_h, :out_w]
                elif isinstance(layer, Upsample):
                    y = functional.interpolate(inputs[0], scale_factor=layer.stride, mode="nearest")
                elif isinstance(layer, Route):
                    y = torch.cat(inputs, dim=1)
                elif isinstance(layer, YoloHead):
                    y = inputs[0]
                    heads.append(y)
                else:
                    raise ValueError(f"layer kind {layer.kind} is not trainable here")
                outputs.append(y)
            return heads

    return GraphModule()






def export_parameters(module, graph) -> list[darknet.ConvParams]:
    """The trained module's convolutions as Darknet ``.weights`` entries, in file order."""
    params = []
    for index, layer in enumerate(graph.layers):
        if not isinstance(layer, Conv):
            continue
        conv = module.convs[str(index)]
        weights = conv.weight.detach().numpy().astype(np.float32)
        if str(index) in module.norms:
            bn = module.norms[str(index)]
            params.append(darknet.ConvParams(bn.bias.detach().numpy().astype(np.float32), weights,
                                             bn.weight.detach().numpy().astype(np.float32),
                                             bn.running_mean.numpy().astype(np.float32),
                                             bn.running_var.numpy().astype(np.float32)))
        else:
            params.append(darknet.ConvParams(conv.bias.detach().numpy().astype(np.float32), weights))
    return params


def set_anchors(sections, anchors: np.ndarray) -> None:
    """Write ``anchors`` (k, 2) into every ``[yolo]`` section (and ``num = k``)."""
    text = ", ".join(f"{int(round(w))},{int(round(h))}" for w, h in anchors)
    for section in sections:
        if section.name == "yolo":
            section.options["anchors"] = text
            section.options["num"] = str(len(anchors))


def evaluate_ann(cfg: Path, weights: Path, count: int, seed: int, work: Path) -> dict:
    """COCO-style mAP of the exported model (numpy reference ANN) on ``count`` fresh scenes."""

    model = darknet.load_darknet(cfg, weights)
    paths = scenes.write_scenes(work, count, seed)
    truths = read_yolo_labels(paths, work / "labels", len(scenes.CLASS_NAMES))
    records = []
    for path, detections in ann_detections(model.folded_graph(), paths):
        records += detections.records(path.name, scenes.CLASS_NAMES)
    return coco_map(truths, records, len(scenes.CLASS_NAMES))


def evaluate_ann_events(cfg: Path, weights: Path, count: int, seed: int, bins: int = 5) -> dict:
    """COCO-style mAP of the exported model (numpy reference ANN) on ``count`` fresh event scenes, each
    read as the mean of its EMS frames (what the converted SNN integrates)."""

    graph = darknet.load_darknet(cfg, weights).folded_graph()
    return event_set_map(graph, count, seed, bins,
                         lambda frames: head_maps(graph, np.repeat(mean_pictures(frames), 3, axis=0)))


def mean_pictures(frames: np.ndarray) -> np.ndarray:
    """EMS frames ``(N, T, H, W)`` uint8 -> their mean over the bins in [0, 1], ``(N, H, W)`` float32."""
    return (frames.astype(np.float32) / 255.0).mean(axis=1)


def train(out_dir: Path, iterations: int, batch: int, train_scenes: int, seed: int, threads: int,
          learning_rate: float = 2e-3, log_every: int = 50, events: Path | None = None) -> dict:
    """Train, export into ``out_dir`` and return the training report.

    ``events``: train on event scenes (a set of :func:`brainyolo.training.yolo_training.save_event_set`), each
    read as the mean of its EMS frames; writes ``events-tiny-yolov3.cfg/.weights`` and
    ``training-events.json`` and evaluates on fresh event scenes.
    """
    import tempfile

    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    cfg_template = resources.files("brainyolo").joinpath("data/tiny-yolov3.cfg").read_text()
    sections = darknet.parse_cfg_text(cfg_template, "tiny-yolov3.cfg")
    graph = darknet.graph_from_sections(sections, "tiny-yolov3.cfg")
    _, net_h, net_w = graph.input_shape
    started = time.perf_counter()
    if events is not None:

        frames, labels = load_event_set(events)
        images, train_scenes = mean_pictures(frames)[:, None], len(frames)  # (N, 1, H, W) in [0, 1]
    else:
        images, labels = letterboxed_scenes(train_scenes, seed, (net_w, net_h))
    anchors = kmeans_anchors(np.concatenate([lab[:, 3:5] for lab in labels]), 6, seed)
    set_anchors(sections, anchors)
    graph = darknet.graph_from_sections(sections, "tiny-yolov3.cfg", scenes.CLASS_NAMES)
    heads = [graph.layers[i] for i in graph.heads()]
    print(f"{train_scenes} scenes in {time.perf_counter() - started:.0f} s; anchors "
          f"{np.round(anchors).astype(int).tolist()}", flush=True)

    module = _torch_model(graph, torch)
    optimizer = torch.optim.AdamW(module.parameters(), lr=learning_rate, weight_decay=5e-4)
    warmup = max(iterations // 20, 1)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda k: min((k + 1) / warmup, 0.5 * (1 + math.cos(math.pi * k / iterations))))
    rng = np.random.default_rng(seed + 1)
    history = []
    module.train()
    for step in range(iterations):
        chosen = rng.choice(train_scenes, batch, replace=False)
        if events is not None:
            x = torch.from_numpy(images[chosen]).expand(-1, 3, -1, -1).contiguous()
        else:
            x = torch.from_numpy(images[chosen].astype(np.float32) / 255.0)
        batch_labels = [labels[i].copy() for i in chosen]
        flip = rng.random(batch) < 0.5  # mirror images: every class is left-right symmetric
        x[torch.from_numpy(flip)] = x[torch.from_numpy(flip)].flip(-1)
        for k in np.flatnonzero(flip):
            batch_labels[k][:, 1] = net_w - batch_labels[k][:, 1]
        loss = yolo_loss(module(x), batch_labels, heads, (net_w, net_h), torch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        history.append(loss.item())
        if step % log_every == 0 or step == iterations - 1:
            recent = float(np.mean(history[-log_every:]))
            print(f"step {step:5d}/{iterations}  loss {recent:8.3f}  lr {schedule.get_last_lr()[0]:.2e}  "
                  f"{time.perf_counter() - started:6.0f} s", flush=True)
    module.eval()

    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = "events-" if events is not None else ""
    cfg, weights = out_dir / f"{prefix}tiny-yolov3.cfg", out_dir / f"{prefix}tiny-yolov3.weights"
    header = cfg_template.split("\n[net]")[0].rstrip() + "\n\n"
    if events is not None:
        header = EVENT_CFG_HEADER
    with atomic_path(cfg) as tmp:
        tmp.write_text(header + darknet.format_cfg(sections))
    darknet.write_weights(weights, darknet.WeightsHeader(0, 2, 0, iterations * batch),
                          export_parameters(module, graph))
    with atomic_path(out_dir / "scenes.names") as tmp:
        tmp.write_text("\n".join(scenes.CLASS_NAMES) + "\n")
    if events is not None:
        metrics = evaluate_ann_events(cfg, weights, 200, EVAL_SEED)
    else:
        with tempfile.TemporaryDirectory() as work:
            metrics = evaluate_ann(cfg, weights, 200, EVAL_SEED, Path(work))
    source = "event scenes, mean of 5 EMS frames" if events is not None else "image scenes"
    report = {"iterations": iterations, "input": source, "batch": batch, "train_scenes": train_scenes, "seed": seed,
              "learning_rate": learning_rate, "anchors": np.round(anchors).astype(int).tolist(),
              "seconds": round(time.perf_counter() - started, 1),
              "final_loss": round(float(np.mean(history[-log_every:])), 4),
              "loss_every_50": [round(float(np.mean(history[k:k + 50])), 4) for k in range(0, iterations, 50)],
              "eval": {"scenes": 200, "seed": EVAL_SEED,
                       **{k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()}}}
    write_json(out_dir / f"training{'-events' if events is not None else ''}.json", report)
    print(f"ANN on 200 fresh {source.split(',')[0]}: mAP@0.5 {metrics['mAP50']:.3f}, mAP {metrics['mAP']:.3f}",
          flush=True)
    return report



