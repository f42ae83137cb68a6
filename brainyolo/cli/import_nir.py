"""``brainyolo import-nir``."""

from __future__ import annotations

from brainyolo.cli.options import existing


def add_parser(commands) -> None:
    p = commands.add_parser("import-nir", help="NIR graph (.nir) -> spiking model file (.h5)",
                            description="Read a NIR file (snnTorch, Norse, Sinabs, spikingjelly, ... or the nir "
                                        "package), check it, and write it as a brainyolo spiking model: Conv2d, "
                                        "Affine, Linear, SumPool2d, AvgPool2d, Flatten and Scale layers, IF, LIF "
                                        "and CubaLIF neurons (see docs/nir.md). A node it cannot express is named "
                                        "in one error line, and nothing is written. Run the model with "
                                        "brainyolo.run_spiking_model (Python); detect and simulate run detectors "
                                        "only.")
    p.add_argument("nir_file", help="the NIR file to read")
    p.add_argument("--dt", type=float, default=1e-3,
                   help="length of one simulation step in seconds (NIR's time unit): each step a LIF moves "
                        "dt/tau of the way toward its drive; stored in the model file (default: 0.001, "
                        "Norse's from_nir default)")
    p.add_argument("-o", "--output", required=True, help="spiking model file to write (.h5)")
    p.set_defaults(run=run)


def run(args) -> int:
    from brainyolo.io.errors import BrainyoloError
    from brainyolo.nir.model_file import save_spiking_model
    from brainyolo.nir.nir_import import import_nir

    path = existing(args.nir_file)
    if not 0 < args.dt < float("inf"):
        raise BrainyoloError(None, f"--dt {args.dt} is not a positive time step")
    model = import_nir(path, dt=args.dt)
    save_spiking_model(model, args.output)
    kinds = ", ".join(f"{layer.name} ({layer.kind})" for layer in model.layers)
    print(f"wrote {args.output}: input {'x'.join(map(str, model.input_shape))}, {kinds}; dt = {model.dt:g}")
    return 0
