"""Train the embedded default detector on generated scenes (the ``train`` extra: PyTorch).

::

    python -m brainyolo.training -o brainyolo/data
    python -m brainyolo.training --spiking -o brainyolo/data   # the directly trained SNN (brainyolo.direct_training)

The architecture is the committed ``data/tiny-yolov3.cfg`` (a reduced yolov3-tiny). The script

1. generates training scenes with :mod:`brainyolo.scenes` (fixed seed) and letterboxes them with
   :func:`brainyolo.images.letterbox`, exactly as inference will;
2. sets the six anchors by k-means (1 - IoU distance) on the training boxes;
3. builds a PyTorch module from the project's own :class:`~brainyolo.graph.Graph` (Darknet
   padding and max-pool semantics, batch-norm with Darknet's epsilon, leaky slope 0.1) and trains
   it with the YOLOv3 loss (best-anchor assignment, logistic x/y, log-space w/h, objectness with
   an ignore threshold, logistic classes);
4. exports cfg + weights with the project's Darknet writer, reloads them through
   :func:`brainyolo.darknet.load_darknet` and reports the numpy ANN's mAP on fresh scenes
   (another seed) in ``training.json``.

Nothing else in brainyolo imports this module or PyTorch.
"""

from __future__ import annotations

import argparse
import math
import time
from importlib import resources
from pathlib import Path

import numpy as np

from brainyolo import darknet, scenes
from brainyolo.fileio import atomic_path, write_json
from brainyolo.graph import INPUT, Conv, MaxPool, Route, Upsample, YoloHead
from brainyolo.images import letterbox

TRAIN_SEED = 7
EVAL_SEED = 1_000_003
BN_EPSILON = 1e-6  # brainyolo (like OpenCV) folds batch-norm with sqrt(var + 1e-6)
IGNORE_IOU = 0.5
EVENT_CFG_HEADER = ("# brainyolo's event detector (embedded-events): the embedded default detector's architecture\n"
                    "# trained by `python -m brainyolo.training --events` on generated event scenes, each read as\n"
                    "# the mean of its 5 EMS-YOLO frames (the 250 ms before the box time).\n\n")


def letterboxed_scenes(count: int, seed: int, network_size: tuple[int, int]):
    """``count`` scenes as network inputs: images (N, 3, H, W) uint8 and boxes in input pixels.

    Returns
    -------
    images : ndarray, uint8 (values x 255 of the letterboxed float image)
    labels : list of ndarray (n, 5): class, centre x, centre y, width, height (input pixels)
    """
    rng = np.random.default_rng(seed)
    net_w, net_h = network_size
    images = np.empty((count, 3, net_h, net_w), np.uint8)
    labels = []
    for i in range(count):
        scene = scenes.make_scene(rng)
        chw, box = letterbox(np.asarray(scene.image, np.float32) / 255.0, net_w, net_h)
        images[i] = np.clip(np.rint(chw * 255), 0, 255).astype(np.uint8)
        (new_w, new_h), (left, top) = box.scaled_size, box.offset
        sx, sy = new_w / box.image_size[0], new_h / box.image_size[1]
        b = scene.boxes
        labels.append(np.column_stack([scene.classes, left + (b[:, 0] + b[:, 2] / 2) * sx,
                                       top + (b[:, 1] + b[:, 3] / 2) * sy, b[:, 2] * sx,
                                       b[:, 3] * sy]).astype(np.float32))
    return images, labels


def kmeans_anchors(sizes: np.ndarray, k: int, seed: int = 0, iterations: int = 100) -> np.ndarray:
    """``k`` anchor (w, h) by k-means with distance 1 - IoU (boxes aligned at a corner), by area."""
    rng = np.random.default_rng(seed)
    centres = sizes[rng.choice(len(sizes), k, replace=False)].astype(np.float64)
    for _ in range(iterations):
        inter = np.minimum(sizes[:, None, 0], centres[None, :, 0]) * np.minimum(sizes[:, None, 1],
                                                                                 centres[None, :, 1])
        iou = inter / (sizes[:, 0:1] * sizes[:, 1:2] + (centres[:, 0] * centres[:, 1])[None] - inter)
        nearest = iou.argmax(axis=1)
        new = np.array([np.median(sizes[nearest == j], axis=0) if (nearest == j).any() else centres[j]
                        for j in range(k)])
        if np.allclose(new, centres):
            break
        centres = new
    return centres[np.argsort(centres[:, 0] * centres[:, 1])]


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


def _box_iou(a, b, torch):
    """IoU of centre-size boxes a (n, 4) and b (m, 4) -> (n, m)."""
    a0, a1 = a[:, None, :2] - a[:, None, 2:] / 2, a[:, None, :2] + a[:, None, 2:] / 2
    b0, b1 = b[None, :, :2] - b[None, :, 2:] / 2, b[None, :, :2] + b[None, :, 2:] / 2
    wh = (torch.minimum(a1, b1) - torch.maximum(a0, b0)).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (a[:, None, 2] * a[:, None, 3] + b[None, :, 2] * b[None, :, 3] - inter)


def yolo_loss(head_maps, labels, heads, network_size, torch):
    """YOLOv3 loss summed over the batch's images, divided by the batch size."""
    functional = torch.nn.functional
    net_w, net_h = network_size
    all_anchors = torch.as_tensor(heads[0].all_anchors, dtype=torch.float32)
    batch = head_maps[0].shape[0]
    total = head_maps[0].new_zeros(())
    for head, raw in zip(heads, head_maps, strict=True):
        n_a, n_c = len(head.mask), head.classes
        _, _, height, width = raw.shape
        p = raw.view(batch, n_a, 5 + n_c, height, width).permute(0, 1, 3, 4, 2)  # b, a, y, x, k
        anchors = all_anchors[list(head.mask)]
        obj_target = torch.zeros(p.shape[:4])
        obj_mask = torch.ones(p.shape[:4], dtype=torch.bool)
        # ignore: predictions already overlapping an object well are not pushed to "no object"
        with torch.no_grad():
            gy, gx = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
            pred = torch.stack([(torch.sigmoid(p[..., 0]) + gx) / width * net_w,
                                (torch.sigmoid(p[..., 1]) + gy) / height * net_h,
                                torch.exp(p[..., 2].clamp(max=8)) * anchors[None, :, 0, None, None],
                                torch.exp(p[..., 3].clamp(max=8)) * anchors[None, :, 1, None, None]], dim=-1)
            for b, lab in enumerate(labels):
                if len(lab):
                    iou = _box_iou(pred[b].reshape(-1, 4), torch.as_tensor(lab[:, 1:]), torch)
                    obj_mask[b] &= ~(iou.max(dim=1).values > IGNORE_IOU).view(n_a, height, width)
        positives = []
        for b, lab in enumerate(labels):
            for cls, cx, cy, w, h in lab:
                inter = torch.minimum(all_anchors[:, 0], torch.tensor(w)) * torch.minimum(all_anchors[:, 1],
                                                                                         torch.tensor(h))
                best = int(torch.argmax(inter / (w * h + all_anchors[:, 0] * all_anchors[:, 1] - inter)))
                if best not in head.mask:
                    continue
                a = head.mask.index(best)
                fx, fy = cx / net_w * width, cy / net_h * height
                i, j = min(int(fx), width - 1), min(int(fy), height - 1)
                positives.append((b, a, j, i, fx - i, fy - j, math.log(w / float(anchors[a, 0])),
                                  math.log(h / float(anchors[a, 1])), int(cls), 2.0 - w * h / (net_w * net_h)))
        if positives:
            t = torch.tensor([q[:4] for q in positives], dtype=torch.long)
            values = torch.tensor([q[4:8] + q[9:] for q in positives], dtype=torch.float32)
            classes = torch.tensor([q[8] for q in positives], dtype=torch.long)
            sel = p[t[:, 0], t[:, 1], t[:, 2], t[:, 3]]
            scale = values[:, 4]
            total = total + (scale[:, None] * functional.binary_cross_entropy_with_logits(
                sel[:, :2], values[:, :2], reduction="none")).sum()
            total = total + (scale[:, None] * 0.5 * (sel[:, 2:4] - values[:, 2:4]) ** 2).sum()
            cls_target = functional.one_hot(classes, n_c).float()
            total = total + functional.binary_cross_entropy_with_logits(sel[:, 5:], cls_target, reduction="sum")
            obj_target[t[:, 0], t[:, 1], t[:, 2], t[:, 3]] = 1.0
            obj_mask[t[:, 0], t[:, 1], t[:, 2], t[:, 3]] = True
        total = total + functional.binary_cross_entropy_with_logits(p[..., 4][obj_mask], obj_target[obj_mask],
                                                                    reduction="sum")
    return total / batch


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
    from brainyolo.evaluation import coco_map, read_yolo_labels
    from brainyolo.pipeline import ann_detections

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
    from brainyolo.direct_training import event_set_map
    from brainyolo.reference import head_maps

    graph = darknet.load_darknet(cfg, weights).folded_graph()
    return event_set_map(graph, count, seed, bins,
                         lambda frames: head_maps(graph, np.repeat(mean_pictures(frames), 3, axis=0)))


def mean_pictures(frames: np.ndarray) -> np.ndarray:
    """EMS frames ``(N, T, H, W)`` uint8 -> their mean over the bins in [0, 1], ``(N, H, W)`` float32."""
    return (frames.astype(np.float32) / 255.0).mean(axis=1)


def train(out_dir: Path, iterations: int, batch: int, train_scenes: int, seed: int, threads: int,
          learning_rate: float = 2e-3, log_every: int = 50, events: Path | None = None) -> dict:
    """Train, export into ``out_dir`` and return the training report.

    ``events``: train on event scenes (a set of :func:`brainyolo.direct_training.save_event_set`), each
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
        from brainyolo.direct_training import load_event_set

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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m brainyolo.training", description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--out", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--iterations", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--scenes", type=int, default=12000, help="training scenes generated once")
    parser.add_argument("--seed", type=int, default=TRAIN_SEED)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--spiking", action="store_true",
                        help="train the directly trained spiking detector instead (spikingjelly, T = 4; "
                             "brainyolo.direct_training): writes direct.h5 and training-direct.json")
    parser.add_argument("--steps", type=int, default=4, help="time steps T of the spiking training")
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--init-state", type=Path, help="with --spiking: start from a saved direct-state.pt")
    parser.add_argument("--events", type=Path, metavar="SET.npz",
                        help="train on event scenes (EMS-YOLO frames, T bins of 250 ms; the set is generated "
                             "into SET.npz with --scenes of them if the file does not exist): with --spiking writes "
                             "direct-events.h5, else the ANN on the mean of the frames, events-tiny-yolov3.*")
    args = parser.parse_args(argv)
    if args.spiking:
        from brainyolo.direct_training import save_event_set, train_direct

        if args.events is not None and not args.events.exists():
            save_event_set(args.events, args.scenes, args.seed, args.steps, processes=args.threads)
        train_direct(args.out, args.iterations, args.batch, args.scenes, args.seed, args.threads,
                     args.learning_rate, args.steps, init_state=args.init_state, events=args.events)
        return
    if args.events is not None and not args.events.exists():
        from brainyolo.direct_training import save_event_set

        save_event_set(args.events, args.scenes, args.seed, 5, processes=args.threads)
    train(args.out, args.iterations, args.batch, args.scenes, args.seed, args.threads, args.learning_rate,
          events=args.events)


if __name__ == "__main__":
    main()
