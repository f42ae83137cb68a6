"""``brainyolo presets``."""

from __future__ import annotations

from pathlib import Path

from brainyolo.spiking.presets import DEFAULT_PRESET


def add_parser(commands) -> None:
    p = commands.add_parser("presets", help="list the named simulation configurations (--preset NAME)",
                            description="One line per preset: its name, what it is for, and its fields (neuron, "
                                        "schedule, read-out, normalization, thresholds, steps, checkpoints). "
                                        f"detect, evaluate, simulate, tune, run and demo use {DEFAULT_PRESET} "
                                        "unless --preset names another (or a preset .toml file).")
    p.add_argument("name", nargs="?", help="show this preset's file")
    p.set_defaults(run=run)


def run(args) -> int:
    from brainyolo.spiking.presets import available_presets, load_preset

    if args.name:
        preset = load_preset(args.name)
        print(f"# {preset.source}")
        print(Path(preset.source).read_text(encoding="utf-8"), end="")
        return 0
    for name in available_presets():
        preset = load_preset(name)
        print(preset.summary() + (" (default)" if name == DEFAULT_PRESET else ""))
    return 0
