"""Presets: the shipped files, their validation, how options override them, and what a run records."""

from __future__ import annotations

import json

import h5py
import pytest
from conftest import run_cli

from brainyolo.io.errors import BrainyoloError
from brainyolo.spiking.parameters import ParameterSettings, parse_setting
from brainyolo.spiking.presets import available_presets, load_preset, resolve_simulation

pytestmark = pytest.mark.codegen_independent


def test_the_shipped_presets_and_their_fields():
    assert {"fast", "paper"} <= set(available_presets())
    fast, paper = load_preset("fast"), load_preset("paper")
    assert (fast.neuron, fast.schedule, fast.decode, fast.normalization, fast.thresholds) == (
        "if_signed_ibt_tracking", "same-step", "vmem", "channel", "balanced")
    assert fast.parameters.for_layer(3) == {"v_init": 0.5, "hold_positive": 1.0}
    # Spiking-YOLO as published: IBT neurons, V(0) = 0, one threshold, one step per layer, Vmem
    assert (paper.neuron, paper.schedule, paper.decode, paper.normalization, paper.thresholds) == (
        "if_signed_ibt", "delayed", "vmem", "channel", "uniform")
    assert paper.parameters.entries == () and paper.steps > fast.steps
    # 16 steps: the quiet neuron firing one burst of weighted spikes in the last step, at the thresholds balanced per
    # layer and channel x 0.2, read at the end
    short = load_preset("short")
    assert (short.neuron, short.schedule, short.decode, short.normalization, short.thresholds, short.threshold_scale,
            short.steps, short.checkpoints) == ("if_signed_ibt_tracking_weighted", "same-step", "vmem",
                                                "channel-balanced", "balanced", 0.2, 16, ())
    assert fast.threshold_scale == paper.threshold_scale == 1.0
    assert "channel-balanced-norm, balanced thresholds x 0.2, 16 steps" in short.summary()
    # fast hands runs of at most 24 steps to short; the others hand over nothing
    assert (fast.short_runs.up_to_steps, fast.short_runs.preset.name) == (24, "short")
    assert paper.short_runs is None and short.short_runs is None
    assert fast.summary().endswith("; up to 24 steps: short]")


def test_presets_lists_one_line_each_and_shows_a_file():
    code, stdout, _ = run_cli(["presets"])
    assert code == 0
    lines = stdout.splitlines()
    assert [line.split()[0] for line in lines] == available_presets()
    assert sum(line.endswith("(default)") for line in lines) == 1 and lines[0].startswith("fast")
    code, stdout, _ = run_cli(["presets", "paper"])
    assert code == 0 and 'neuron = "if_signed_ibt"' in stdout
    code, _, stderr = run_cli(["presets", "nope"])
    assert code == 2 and stderr.strip() == "brainyolo: error: nope: no such preset (known: fast, paper, short)"


@pytest.mark.parametrize("text, problem", [
    ('description = "x"\nneuron = "if_signed_ibt"\nschedule = "sideways"\ndecode = "vmem"\n'
     'normalization = "channel"\nthresholds = "uniform"\nsteps = 10', "schedule = 'sideways' is not one of"),
    ('description = "x"\nneuron = "if_signed_ibt"\nschedule = "delayed"\ndecode = "vmem"\n'
     'normalization = "channel"\nthresholds = "uniform"\nsteps = 10\ncheckpoints = [20]', "a checkpoint = 20"),
    ('description = "x"\nneuron = "if_signed_ibt"\nschedule = "delayed"\ndecode = "vmem"\n'
     'normalization = "channel"\nthresholds = "uniform"\nsteps = 0', "steps = 0 is not a whole number"),
    ('description = "x"\nneuron = "if_signed_ibt"\nschedule = "delayed"\ndecode = "vmem"\n'
     'normalization = "channel"\nthresholds = "uniform"\nsteps = 10\ncolour = 1', "unknown preset field(s) colour"),
    ('description = "x"\nneuron = "if_signed_ibt"', "a preset needs decode, normalization, schedule, steps,"),
    *[('description = "x"\nneuron = "if_signed_ibt"\nschedule = "delayed"\ndecode = "vmem"\n'
       f'normalization = "channel"\nthresholds = "uniform"\nsteps = 10\nthreshold_scale = {value}',
       f"threshold_scale = {shown} is not a positive number") for value, shown in
      (("0", "0"), ("-1.5", "-1.5"), ('"half"', "'half'"), ("true", "True"), ("inf", "inf"))],
    ('description = "x"\nneuron = "if_signed_ibt"\nschedule = "delayed"\ndecode = "vmem"\n'
     'normalization = "channel"\nthresholds = "uniform"\nsteps = 10\n[parameters.first]\nv_th = 1',
     "[first]: tables are [all] or [LAYER]"),
])
def test_a_bad_preset_file_is_one_error_naming_it(tmp_path, text, problem):
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(BrainyoloError) as err:
        load_preset(path)
    assert str(path) in str(err.value) and problem in str(err.value)


_HEAD = ('description = "x"\nneuron = "if_signed_ibt"\nschedule = "delayed"\ndecode = "vmem"\n'
         'normalization = "channel"\nthresholds = "uniform"\nsteps = 30\n')


@pytest.mark.parametrize("table, problem", [
    ('short_runs = 24', "short_runs must be a table: [short_runs] with up_to_steps and preset"),
    ('[short_runs]\nup_to_steps = 24', "[short_runs] needs preset (fields: preset, up_to_steps)"),
    ('[short_runs]\nup_to_steps = 24\npreset = "short"\nwhen = 1', "[short_runs] has no field when (fields:"),
    ('[short_runs]\nwhen = 1', "[short_runs] needs preset, up_to_steps and has no field when"),
    ('[short_runs]\nup_to_steps = 30\npreset = "short"',
     "[short_runs] up_to_steps = 30 is not a whole number in 1..29"),
    ('[short_runs]\nup_to_steps = 0\npreset = "short"', "up_to_steps = 0 is not a whole number in 1..29"),
    ('[short_runs]\nup_to_steps = 2.5\npreset = "short"', "up_to_steps = 2.5 is not a whole number"),
    ('[short_runs]\nup_to_steps = 24\npreset = 3', "[short_runs] preset must be a preset's name or file"),
    ('[short_runs]\nup_to_steps = 24\npreset = "mine.toml"', "[short_runs] preset = 'mine.toml' is this preset itself"),
    ('[short_runs]\nup_to_steps = 24\npreset = "nope"', "[short_runs] preset = 'nope': no such preset (known: fast,"),
    ('[short_runs]\nup_to_steps = 24\npreset = "fast"', "[short_runs] preset = 'fast' hands short runs over again"),
])
def test_a_bad_short_runs_table_is_one_error_naming_the_file(tmp_path, table, problem):
    path = tmp_path / "mine.toml"
    path.write_text(_HEAD + table)
    with pytest.raises(BrainyoloError) as err:
        load_preset(path)
    assert str(err.value).startswith(str(path)) and problem in str(err.value)


def test_a_short_runs_preset_is_found_from_the_files_folder_and_hands_over_once(tmp_path, monkeypatch):
    """A path is the preset file's folder's, whatever the working folder; two presets naming each other are one
    error naming the first, not an endless loop; a file of the user's may share a shipped preset's name."""
    monkeypatch.chdir(tmp_path.parent)
    (tmp_path / "other.toml").write_text(_HEAD.replace('"x"', '"the other"'))
    (tmp_path / "mine.toml").write_text(_HEAD + '[short_runs]\nup_to_steps = 24\npreset = "other.toml"')
    mine = load_preset(tmp_path / "mine.toml")
    assert mine.short_runs.preset.description == "the other" and mine.short_runs.up_to_steps == 24
    assert mine.summary().endswith("; up to 24 steps: other]")
    (tmp_path / "other.toml").write_text(_HEAD + '[short_runs]\nup_to_steps = 24\npreset = "mine.toml"')
    with pytest.raises(BrainyoloError) as err:
        load_preset(tmp_path / "mine.toml")
    assert str(err.value).startswith(str(tmp_path / "mine.toml")) and "hands short runs over again" in str(err.value)
    (tmp_path / "short.toml").write_text(_HEAD + '[short_runs]\nup_to_steps = 24\npreset = "short"')
    assert load_preset(tmp_path / "short.toml").short_runs.preset.neuron == "if_signed_ibt_tracking_weighted"


def test_a_short_runs_preset_that_does_not_load_is_named_with_its_own_problem(tmp_path):
    path = tmp_path / "mine.toml"
    broken = tmp_path / "broken.toml"
    broken.write_text(_HEAD.replace('"delayed"', '"sideways"'))
    path.write_text(_HEAD + f'[short_runs]\nup_to_steps = 24\npreset = "{broken}"')
    with pytest.raises(BrainyoloError) as err:
        load_preset(path)
    assert str(err.value).startswith(str(broken)) and "schedule = 'sideways'" in str(err.value)


def test_a_short_run_of_the_default_runs_the_short_preset_unless_it_names_a_choice_of_its_own():
    """fast hands runs of at most 24 steps to short, where the run leaves the neuron, the schedule, the
    checkpoints, the thresholds and the parameters to the preset; any of them given, or the late-half read-out,
    keeps fast. A directly trained network keeps fast (it runs its own neuron)."""
    fast = load_preset("fast")
    for steps in (1, 16, 24):
        settings = resolve_simulation(_Converted(), fast, steps=steps)
        assert (settings.preset, settings.build.neuron, settings.threshold_scale, settings.steps,
                settings.checkpoints) == ("short", "if_signed_ibt_tracking_weighted", 0.2, steps, ())
    settings = resolve_simulation(_Converted(), fast, steps=25)
    assert (settings.preset, settings.build.neuron, settings.threshold_scale, settings.checkpoints) == (
        "fast", "if_signed_ibt_tracking", 1.0, (16, 25))
    assert resolve_simulation(_Converted(), fast).preset == "fast"  # its own 64 steps
    for choice in ({"neuron": "if_signed_ibt_tracking"}, {"schedule": "same-step"}, {"checkpoints": (8,)},
                   {"checkpoints": ()}, {"decode": "vmem-late"}, {"thresholds": "balanced"},
                   {"parameters": parse_setting("all.v_init=0.5")}):
        settings = resolve_simulation(_Converted(), fast, steps=16, **choice)
        assert settings.preset == "fast" and settings.threshold_scale == 1.0, choice
    assert resolve_simulation(_Converted(), fast, steps=16, decode="spikes").preset == "short"
    assert resolve_simulation(_Direct(), fast, steps=16).preset == "fast"
    # short named: a user's parameters come after its own
    mine = resolve_simulation(_Converted(), load_preset("short"), parameters=parse_setting("all.quiet=0.5"))
    assert mine.preset == "short" and mine.parameters.for_layer(3)["quiet"] == 0.5


class _Converted:
    direct, thresholds = False, None


class _Direct:
    direct, thresholds = True, None


def test_options_override_their_field_and_parameters_come_after_the_presets():
    fast = load_preset("fast")
    settings = resolve_simulation(_Converted(), fast)
    assert (settings.steps, settings.checkpoints, settings.decode) == (fast.steps, fast.checkpoints, "vmem")
    assert (settings.build.neuron, settings.build.schedule, settings.build.normalization) == (
        "if_signed_ibt_tracking", "same_step", "channel")
    assert (settings.thresholds, settings.preset) == ("balanced", "fast")
    # fewer steps keep the preset's earlier checkpoints; an explicit list replaces them
    assert resolve_simulation(_Converted(), fast, steps=30).checkpoints == (16, 25)
    assert resolve_simulation(_Converted(), fast, steps=20, checkpoints=(5, 10)).checkpoints == (5, 10)
    with pytest.raises(BrainyoloError, match="checkpoint 30 is beyond 20 steps"):
        resolve_simulation(_Converted(), fast, steps=20, checkpoints=(30,))
    # a neuron that reads the run's length (quiet, then settled) is read at the end, unless checkpoints are asked for
    late = "if_signed_ibt_tracking_late"
    assert resolve_simulation(_Converted(), fast, steps=32, neuron=late).checkpoints == ()
    assert resolve_simulation(_Converted(), fast, steps=32, neuron=late, checkpoints=(8,)).checkpoints == (8,)
    for other in ({"schedule": "delayed"}, {"decode": "vmem-late"}):  # it fires at the end: same-step, whole run
        with pytest.raises(BrainyoloError, match="reads the run's length: .* needs --schedule same-step"):
            resolve_simulation(_Converted(), fast, steps=32, neuron=late, **other)
    # a user's setting overrides the preset's [all] value, for every layer
    mine = resolve_simulation(_Converted(), fast, parameters=parse_setting("all.v_init=0"))
    assert mine.parameters.for_layer(4) == {"v_init": 0.0, "hold_positive": 1.0}
    # another neuron starts from its own file: the preset's parameters are its neuron's
    other = resolve_simulation(_Converted(), fast, neuron="if_signed_ibt", schedule="delayed", decode="spikes")
    assert other.parameters == ParameterSettings()
    assert (other.build.neuron, other.build.schedule, other.build.output) == ("if_signed_ibt", "delayed", "spikes")
    # a directly trained network keeps its own neuron, schedule, normalization and thresholds
    direct = resolve_simulation(_Direct(), fast)
    assert direct.build.neuron == "if_signed_ibt" and direct.build.normalization is None  # (model_build_options)
    assert direct.parameters == ParameterSettings()


def test_a_run_records_the_preset_and_every_resolved_value(tmp_path, monkeypatch):
    """detect with no option but the model and the photo: the fast preset, the model's balanced thresholds
    as every hidden layer's v_th (numpy runtime: a few seconds)."""
    from brainyolo.convert.model_file import load_model
    from brainyolo.data.embedded import model_file
    from brainyolo.data.scenes import write_scenes

    image = write_scenes(tmp_path / "scenes", 1, 77)[0]
    model = load_model(model_file("embedded"))
    assert model.thresholds is not None and len(model.thresholds.v_th) >= 8
    out = tmp_path / "out"
    code, _, stderr = run_cli(["detect", "embedded", str(image), "--mode", "snn", "--device", "runtime", "--steps",
                               "25", "-o", str(out), "-q"])
    assert code == 0, stderr
    info = json.loads((out / "run" / "run_info.json").read_text())
    assert (info["preset"], info["thresholds"], info["neuron"], info["schedule"]) == (
        "fast", "balanced", "if_signed_ibt_tracking", "same_step")
    assert info["checkpoints"] == [16, 25] and "hands runs" not in stderr
    for layer, v_th in model.thresholds.v_th.items():
        assert info["parameters"][str(layer)]["v_th"] == pytest.approx(v_th)
        assert info["parameters"][str(layer)]["v_init"] == 0.5
    with h5py.File(out / "run" / "recordings.h5") as f:
        assert f.attrs["preset"] == "fast" and f.attrs["thresholds"] == "balanced"
        assert json.loads(f.attrs["parameters"])[str(min(model.thresholds.v_th))]["v_th"] == pytest.approx(
            model.thresholds.v_th[min(model.thresholds.v_th)])
    # a run of at most 24 steps runs short, and says so in one line; --checkpoints keeps fast
    out = tmp_path / "short"
    code, _, stderr = run_cli(["detect", "embedded", str(image), "--mode", "snn", "--device", "runtime", "--steps",
                               "8", "-o", str(out), "-q"])
    assert code == 0, stderr
    assert stderr.strip() == ("brainyolo: note: 8 steps: the fast preset hands runs of at most 24 steps to the short "
                              "preset; give --checkpoints (e.g. --checkpoints 8) to keep fast")
    info = json.loads((out / "run" / "run_info.json").read_text())
    assert (info["preset"], info["neuron"], info["threshold_scale"], info["checkpoints"], info["normalization"]) == (
        "short", "if_signed_ibt_tracking_weighted", 0.2, [8], "channel-balanced")
    for layer, v_th in model.thresholds.v_th.items():
        assert info["parameters"][str(layer)]["v_th"] == pytest.approx(0.2 * v_th)
    code, _, stderr = run_cli(["detect", "embedded", str(image), "--mode", "snn", "--device", "runtime", "--steps",
                               "8", "--checkpoints", "4", "-o", str(tmp_path / "kept"), "-q"])
    assert code == 0 and stderr == ""
    info = json.loads((tmp_path / "kept" / "run" / "run_info.json").read_text())
    assert (info["preset"], info["neuron"], info["checkpoints"]) == ("fast", "if_signed_ibt_tracking", [4, 8])
    # the paper preset: uniform thresholds, IBT, delayed
    out = tmp_path / "paper"
    code, _, stderr = run_cli(["detect", "embedded", str(image), "--mode", "snn", "--device", "runtime", "--preset",
                               "paper", "--steps", "4", "-o", str(out), "-q"])
    assert code == 0, stderr
    info = json.loads((out / "run" / "run_info.json").read_text())
    assert (info["preset"], info["thresholds"], info["neuron"], info["schedule"]) == (
        "paper", "uniform", "if_signed_ibt", "delayed")
    assert {values["v_th"] for key, values in info["parameters"].items() if "v_init" in values} == {1.0}


def test_the_presets_analysis_scripts_on_hand_made_runs(tmp_path, capsys):
    """agreement.py: an SNN that finds exactly the ANN's confident boxes agrees at AP 1, one that finds
    nothing at 0; table.py: the % of the ANN and the events per MAC, computed by hand."""
    from conftest import analysis_script
    from PIL import Image

    from brainyolo.data.embedded import model_file

    photos = []
    for k in range(2):
        photos.append(tmp_path / f"p{k}.png")
        Image.new("RGB", (64, 48)).save(photos[-1])
    ann = [{"file_name": "p0.png", "category_id": 1, "category_name": "b", "bbox": [4, 5, 20, 10], "score": 0.9},
           {"file_name": "p1.png", "category_id": 0, "category_name": "a", "bbox": [10, 5, 30, 30], "score": 0.6},
           {"file_name": "p1.png", "category_id": 2, "category_name": "c", "bbox": [1, 1, 5, 5], "score": 0.1}]
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "detections.json").write_text(json.dumps(ann))
    (tmp_path / "snn" / "run").mkdir(parents=True)
    (tmp_path / "snn" / "checkpoints").mkdir()
    (tmp_path / "snn" / "run" / "run_info.json").write_text(json.dumps(
        {"model_file": str(model_file("embedded")), "preset": "fast", "steps": 8, "synaptic_events": 3e6}))
    (tmp_path / "snn" / "checkpoints" / "detections_t4.json").write_text("[]")
    (tmp_path / "snn" / "checkpoints" / "detections_t8.json").write_text(json.dumps(ann[:2]))
    with h5py.File(tmp_path / "snn" / "run" / "recordings.h5", "w") as f:  # events by each checkpoint
        f.attrs["checkpoints"] = [4, 8]
        f["images/0000/layers/02/input_events"] = [1e6, 2e6]
        f["images/0000/layers/04/input_events"] = [2e5, 3e5]
        f.create_group("images/0000/layers/00")  # a layer fed by the image: no events
        f["images/0001/layers/02/input_events"] = [0, 1e6]
    analysis_script("presets/agreement").main(str(tmp_path / "ann"), str(tmp_path / "snn"), *map(str, photos))
    out = capsys.readouterr().out.splitlines()
    assert out == ["2 photos, preset fast, 8 steps, 1.5e+06 synaptic events per image",
                   "     4 steps: AP@0.5 against the ANN = 0.000, 6e+05 synaptic events per image",
                   "     8 steps: AP@0.5 against the ANN = 1.000, 1.65e+06 synaptic events per image"]

    run = tmp_path / "evaluate"
    (run / "snn_images").mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({"images": 2, "ann": {"mAP50": 0.4},
                                                  "snn": {"16": {"mAP50": 0.1}, "8": {"mAP50": 0.0}}}))
    for k, events in enumerate((1e9, 3e9)):
        (run / "snn_images" / f"p{k}.json").write_text(json.dumps({"conv_events": {"8": events / 2, "16": events}}))
    assert analysis_script("presets/table").row("fast", run, 2e9) == (
        "| fast | 2 | 0.4000 | 8: 0.0 % (0.50× MACs) · 16: 25.0 % (1.00× MACs) |")


def test_the_curve_and_balance_sweep_scripts_on_hand_made_inputs(tmp_path, capsys):
    """curve.py: checkpoint 4 finds nothing (mAP 0), checkpoint 8 finds the labelled box exactly (mAP 1); the
    paired bootstrap of 8 against 4 is +1 in every resample. balance_sweep.py's settings parser."""
    from conftest import analysis_script
    from PIL import Image

    from brainyolo.convert.balancing import BalanceSettings
    from brainyolo.data.embedded import model_file

    images, labels, run = tmp_path / "images", tmp_path / "labels", tmp_path / "eval"
    images.mkdir(), labels.mkdir(), (run / "snn_images").mkdir(parents=True)
    for k in range(2):
        Image.new("RGB", (100, 50)).save(images / f"p{k}.png")
        (labels / f"p{k}.txt").write_text("1 0.5 0.5 0.2 0.4\n")  # a 20 x 20 box centred at (50, 25)
        box = {"file_name": f"p{k}.png", "category_id": 1, "bbox": [40.0, 15.0, 20.0, 20.0], "score": 0.9}
        (run / "snn_images" / f"p{k}.json").write_text(json.dumps(
            {"file_name": f"p{k}.png", "detections": {"4": [], "8": [box]}}))
    (run / "metrics.json").write_text(json.dumps({"ann": {"mAP50": 0.5}}))
    analysis_script("presets/curve").main(str(model_file("embedded-direct")), str(run), str(images), str(labels),
                                          resamples=20)
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == ["2 images, ANN mAP@0.5 0.5000", "     4 steps: mAP@0.5 0.0000 (0.0% of the ANN's)",
                       "     8 steps: mAP@0.5 1.0000 (200.0% of the ANN's)"]
    assert out[3].startswith("  8 - 4 steps: +1.0000 (95 % interval +1.0000 .. +1.0000") and "beyond" in out[3]
    rescore = analysis_script("presets/rescore")  # the same checkpoints, scored in bounded memory
    rescore.main(str(run), str(images), str(labels), str(model_file("embedded-direct")), str(run / "metrics.json"),
                 str(tmp_path / "rescored.json"))
    rescored = json.loads((tmp_path / "rescored.json").read_text())
    assert (rescored["images"], rescored["ann"]) == (2, {"mAP50": 0.5})
    assert (rescored["snn"]["4"]["mAP50"], rescored["snn"]["8"]["mAP50"]) == (0.0, 1.0)
    many = [{"file_name": "a", "category_id": c, "score": s / 1000} for c in (0, 1) for s in range(150 if c else 5)]
    kept = rescore.capped(many)
    assert len(kept) == 105 and min(r["score"] for r in kept if r["category_id"] == 1) == 0.05
    sweep = analysis_script("presets/balance_sweep")
    assert sweep.parse("b=budget:0.85,images:8,calib:24") == (
        "b", 24, BalanceSettings(budget=0.85, images=8))
    assert sweep.parse("base=") == ("base", 16, BalanceSettings())


def test_a_threshold_scale_multiplies_every_hidden_layers_threshold_before_the_settings(tiny_converted):
    """The balanced thresholds (or the neuron file's uniform one) times the preset's scale; a --set still wins; a
    directly trained network keeps its own; a run records the scale."""
    from brainyolo.convert.model_file import load_model
    from brainyolo.spiking.builder import hidden_layers
    from brainyolo.spiking.simulate import Simulator, run_parameters

    model_path, _ = tiny_converted
    model = load_model(model_path)
    hidden = hidden_layers(model.graph)
    fast, short = load_preset("fast"), load_preset("short")
    balanced = run_parameters(model, resolve_simulation(model, fast, device="runtime"))
    scaled = run_parameters(model, resolve_simulation(model, short, device="runtime"))
    assert model.thresholds is not None and balanced[hidden[0]]["v_th"] == model.thresholds.v_th[hidden[0]]
    for index in hidden:
        assert scaled[index]["v_th"] == pytest.approx(0.2 * model.thresholds.v_th[index], rel=1e-12)
    uniform = run_parameters(model, resolve_simulation(model, short, thresholds="uniform", device="runtime"))
    assert {uniform[i]["v_th"] for i in hidden} == {0.2}  # the neuron file's v_th = 1, scaled
    mine = run_parameters(model, resolve_simulation(model, short, device="runtime",
                                                    parameters=parse_setting(f"{hidden[1]}.v_th=0.7")))
    assert mine[hidden[1]]["v_th"] == 0.7 and mine[hidden[0]]["v_th"] == scaled[hidden[0]]["v_th"]
    settings = resolve_simulation(model, short, device="runtime")
    assert settings.threshold_scale == 0.2 and settings.checkpoints == ()
    assert Simulator(model_path, settings).run_info()["threshold_scale"] == 0.2


def test_detect_with_the_short_preset_runs_16_steps_read_at_the_end(tiny_converted, tmp_path):
    """``detect --preset short`` as a user runs it (numpy runtime): 16 steps, detections at step 16 only, and the
    run records the preset and the threshold scale."""
    model_path, images = tiny_converted
    code, _, stderr = run_cli(["detect", str(model_path), str(images[0]), "--mode", "snn", "--preset", "short",
                               "--device", "runtime", "--threshold", "0.3", "-q", "-o", str(tmp_path / "out")])
    assert code == 0, stderr
    info = json.loads((tmp_path / "out" / "run" / "run_info.json").read_text())
    assert (info["preset"], info["steps"], info["threshold_scale"]) == ("short", 16, 0.2)
    assert sorted(p.name for p in (tmp_path / "out" / "checkpoints").glob("detections_t*.json")) == [
        "detections_t16.json"]
