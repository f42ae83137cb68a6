"""Spiking model -> NIR graph: one rule per layer kind (:data:`export_rule`), the inverse of
:mod:`brainyolo.nir.nir_import` (import, export and import again give the same parameters).

A detector's model file (:mod:`brainyolo.convert.model_file`) is refused with the first layer NIR cannot
express named: NIR has no max-pool, upsampling, concatenation (route) or YOLO head, and a converted ANN's
neurons are not NIR neurons.
"""

from __future__ import annotations

import os
from pathlib import Path

import nir
import numpy as np

from brainyolo.ann.graph import CONV_KINDS
from brainyolo.convert.model_file import load_model
from brainyolo.io.atomic import atomic_path
from brainyolo.io.errors import BrainyoloError, one_line
from brainyolo.nir import layers as L
from brainyolo.nir.model_file import is_detector_model_file, is_spiking_model_file, read_spiking_model
from brainyolo.registry import Registry

export_rule = Registry("NIR export")
"""Per layer kind: ``rule(layer, input_shape) -> NIR node``."""


@export_rule.register(L.Conv2d)
def _conv(layer: L.Conv2d, shape) -> nir.NIRNode:
    return nir.Conv2d(input_shape=tuple(shape[1:]), weight=layer.weight, stride=layer.stride,
                      padding=layer.padding, dilation=layer.dilation, groups=layer.groups, bias=layer.bias)


@export_rule.register(L.Dense)
def _dense(layer: L.Dense, shape) -> nir.NIRNode:
    if layer.bias is None:
        return nir.Linear(weight=layer.weight)
    return nir.Affine(weight=layer.weight, bias=layer.bias)


@export_rule.register(L.SumPool2d)
def _sum_pool(layer: L.SumPool2d, shape) -> nir.NIRNode:
    return nir.SumPool2d(kernel_size=np.array(layer.kernel), stride=np.array(layer.stride),
                         padding=np.array(layer.padding))


@export_rule.register(L.AvgPool2d)
def _avg_pool(layer: L.AvgPool2d, shape) -> nir.NIRNode:
    return nir.AvgPool2d(kernel_size=np.array(layer.kernel), stride=np.array(layer.stride),
                         padding=np.array(layer.padding))


@export_rule.register(L.Flatten)
def _flatten(layer: L.Flatten, shape) -> nir.NIRNode:
    return nir.Flatten(input_type={"input": np.array(shape)}, start_dim=layer.start_dim, end_dim=layer.end_dim)


@export_rule.register(L.Scale)
def _scale(layer: L.Scale, shape) -> nir.NIRNode:
    return nir.Scale(scale=layer.scale)


@export_rule.register(L.LIF)
def _lif(layer: L.LIF, shape) -> nir.NIRNode:
    return nir.LIF(tau=layer.tau, r=layer.r, v_leak=layer.v_leak, v_threshold=layer.v_threshold,
                   v_reset=layer.v_reset)


@export_rule.register(L.IF)
def _if(layer: L.IF, shape) -> nir.NIRNode:
    return nir.IF(r=layer.r, v_threshold=layer.v_threshold, v_reset=layer.v_reset)


@export_rule.register(L.CubaLIF)
def _cuba_lif(layer: L.CubaLIF, shape) -> nir.NIRNode:
    return nir.CubaLIF(tau_syn=layer.tau_syn, tau_mem=layer.tau_mem, r=layer.r, v_leak=layer.v_leak,
                       v_threshold=layer.v_threshold, v_reset=layer.v_reset, w_in=layer.w_in)


def graph_from_model(model: L.SpikingModel) -> nir.NIRGraph:
    """The NIR graph of ``model``: ``input``, its layers under their own names, ``output``, as a chain."""
    shapes = L.validate_model(model)
    nodes = {"input": nir.Input(input_type={"input": np.array(model.input_shape)})}
    shape = tuple(model.input_shape)
    for layer, out in zip(model.layers, shapes, strict=True):
        if layer.name in ("input", "output"):
            raise ValueError(f"layer {layer.name!r} ({layer.kind}): 'input' and 'output' name NIR's own nodes")
        nodes[layer.name] = export_rule(layer, shape)
        shape = out
    nodes["output"] = nir.Output(output_type={"output": np.array(shape)})
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:], strict=True)))


def export_nir(model: L.SpikingModel, path: str | os.PathLike) -> None:
    """Write ``model`` as a NIR file (``brainyolo.export_nir``; atomically: nothing is written on an error).

    Parameters
    ----------
    model : SpikingModel
        From :func:`brainyolo.import_nir` or :func:`brainyolo.read_spiking_model`; its layers become NIR
        nodes under their own names, between an ``input`` and an ``output`` node, as a chain.
    path : str or os.PathLike
        The ``.nir`` file to write (replaced if it exists; missing folders are made).

    Raises
    ------
    BrainyoloError
        One line naming ``path``: a layer NIR cannot hold, a layer named ``input`` or ``output``, or
        ``path`` is a folder.
    """
    try:
        graph = graph_from_model(model)
    except ValueError as err:
        raise BrainyoloError(path, one_line(err, 1000)) from None
    with atomic_path(path) as tmp:
        nir.write(tmp, graph)


def export_model_file(model_path: str | os.PathLike, path: str | os.PathLike) -> L.SpikingModel:
    """Write the model file ``model_path`` as NIR: a spiking model file, or a detector's, which NIR cannot hold.

    Raises
    ------
    BrainyoloError
        A detector model file (naming its first layer NIR lacks), or a file that is no model.
    """
    if not is_spiking_model_file(model_path) and is_detector_model_file(model_path):
        raise BrainyoloError(model_path, _detector_problem(Path(model_path)))
    model = read_spiking_model(model_path)
    export_nir(model, path)
    return model


def _detector_problem(path: Path) -> str:
    """Why a detector's model file cannot be written as NIR: its first layer that NIR lacks, by name."""
    model = load_model(path)
    for index, layer in enumerate(model.graph.layers):
        if not isinstance(layer, CONV_KINDS):
            return (f"layer {index} ({layer.kind}): NIR has no {layer.kind} node (it lacks max-pool, upsampling, "
                    "concatenation and YOLO heads); only spiking models (brainyolo import-nir) export to NIR")
        if not model.direct:
            return (f"layer {index} ({layer.kind}): a converted ANN's neurons ({layer.activation} activation, "
                    "normalized) are not NIR neurons; only spiking models (brainyolo import-nir) export to NIR")
    return "a detector model file: only spiking models (brainyolo import-nir) export to NIR"
