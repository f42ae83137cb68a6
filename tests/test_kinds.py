"""Every kind the project registers — layer, input, stimulus, read-out, neuron file, synapse file, preset — has its
rules, is built here, is documented in docs/ and is named by a test. A new kind that misses one fails."""

from __future__ import annotations

import re
from pathlib import Path

import brian2
import pytest

from brainyolo.ann import backward, darknet, graph, heads, reference
from brainyolo.convert import normalization
from brainyolo.readout.decoding import DECODERS, readout_rule
from brainyolo.registry import kind_name
from brainyolo.spiking import builder, input_rules, network
from brainyolo.spiking.input_kinds import INPUT_KINDS
from brainyolo.spiking.neurons import load_neuron_model, neuron_group
from brainyolo.spiking.presets import available_presets, load_preset
from brainyolo.spiking.stimulus_rules import stimulus_rule
from brainyolo.spiking.synapses import load_synapse_model
from brainyolo.stimuli import STIMULI

REPO = Path(__file__).resolve().parents[1]
DOCS = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "docs").glob("*.md"))
TESTS = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "tests").rglob("test_*.py")
                  if p.name != "test_kinds.py")

LAYER_KINDS = graph.infer_shape.kinds()
EVERY_LAYER = {"check": graph.check_layer, "Brian2 build": builder.build_rule,
               "spike value": network.spike_value_rule}
ANN_LAYER = {"numpy forward": reference.forward_rule, "vector-Jacobian product": backward.vjp_rule,
             "lambda": normalization.lambda_rule,
             "normalization": normalization.normalize_rule, "Darknet writer": darknet.section_writer}
NO_ANN = {graph.ConvAdd}  # a directly trained network's membrane shortcut: there is no ANN to run or write


def named(name: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


@pytest.mark.parametrize("kind", LAYER_KINDS, ids=kind_name)
def test_layer_kind(kind):
    for step, registry in EVERY_LAYER.items():
        assert kind in registry.kinds(), f"{kind_name(kind)}: no {step} rule"
    if kind not in NO_ANN:
        for step, registry in ANN_LAYER.items():
            assert kind in registry.kinds(), f"{kind_name(kind)}: no {step} rule"
    if kind in graph.HEAD_KINDS:
        assert kind in heads.decode_rule.kinds()
    assert named(kind_name(kind), DOCS) and named(kind_name(kind), TESTS)


@pytest.mark.parametrize("kind", stimulus_rule.kinds(), ids=kind_name)
def test_stimulus_kind(kind):
    """Every stimulus class has its rule (and every rule's class is a stimulus or a Gen1 sample); each is
    documented and run by a test."""
    assert set(STIMULI) <= set(stimulus_rule.kinds())
    assert callable(stimulus_rule.rule(kind))
    assert named(kind_name(kind), DOCS)
    assert re.search(rf"detector\.run\({kind_name(kind)}\(|run\({kind_name(kind)}\(", TESTS), \
        f"no test runs a {kind_name(kind)}"


@pytest.mark.parametrize("name", tuple(INPUT_KINDS))
def test_input_kind(name):
    assert input_rules.input_rule.kinds() == tuple(INPUT_KINDS)
    rule = input_rules.input_rule.rule(name)
    assert callable(rule.connect) and callable(rule.values)
    assert named(name, DOCS)
    matrix = (REPO / "tests" / "cli" / "test_command_matrix.py").read_text(encoding="utf-8")
    assert f'"{name}"' in matrix, f"the command matrix does not run input {name}"


@pytest.mark.parametrize("name", DECODERS)
def test_read_out(name):
    readout = readout_rule.rule(name)
    assert readout.output in ("vmem", "spikes")
    from brainyolo.cli import build_parser

    decode = next(a for a in build_parser()._subparsers._group_actions[0].choices["detect"]._actions  # noqa: SLF001
                  if a.dest == "decode")
    assert tuple(decode.choices) == DECODERS, "--decode offers other read-outs than the registry"
    assert named(name, DOCS) and (f'"{name}"' in TESTS or f"decode {name}" in TESTS)


def neuron_files():
    return sorted(p.stem for p in (REPO / "equations").glob("*.toml"))


@pytest.mark.parametrize("name", neuron_files())
def test_neuron_file(name):
    brian2.start_scope()
    brian2.prefs.codegen.target = "numpy"
    model = load_neuron_model(name)
    group = neuron_group(model, 4, name=f"kind_{name}")
    brian2.Network(group).run(2 * brian2.ms)
    assert named(name, DOCS) and named(name, TESTS)


@pytest.mark.parametrize("name", sorted(p.stem for p in (REPO / "equations" / "synapses").glob("*.toml")))
def test_synapse_file(name):
    synapse = load_synapse_model(name)
    assert synapse.instant == (name == "instant")  # every other file shapes the current in time
    assert named(name, DOCS) and named(name, TESTS)


@pytest.mark.parametrize("name", available_presets())
def test_preset(name):
    preset = load_preset(name)
    assert preset.steps > 0
    commands = (REPO / "docs" / "commands.md").read_text(encoding="utf-8")
    assert named(name, commands) and named(name, TESTS)
