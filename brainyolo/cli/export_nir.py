"""``brainyolo export-nir``."""

from __future__ import annotations

from brainyolo.cli.options import existing


def add_parser(commands) -> None:
    p = commands.add_parser("export-nir", help="spiking model file (.h5) -> NIR graph (.nir)",
                            description="Write a spiking model (brainyolo import-nir) as a NIR file that Norse, "
                                        "snnTorch, Sinabs, ... read. A detector's model file is refused, naming its "
                                        "first layer NIR lacks (max-pool, upsample, route, YOLO head).")
    p.add_argument("model", help="spiking model file (.h5)")
    p.add_argument("-o", "--output", required=True, help="NIR file to write (.nir)")
    p.set_defaults(run=run)


def run(args) -> int:
    from brainyolo.nir.nir_export import export_model_file

    model = export_model_file(existing(args.model), args.output)
    print(f"wrote {args.output}: {len(model.layers)} layers ({', '.join(layer.kind for layer in model.layers)})")
    return 0
