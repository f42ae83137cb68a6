"""``python -m brainyolo.training``: retrain the shipped detectors (the ``train`` extra: PyTorch, spikingjelly).

::

    python -m brainyolo.training -o brainyolo/data             # the embedded ANN (brainyolo.training.ann)
    python -m brainyolo.training --spiking -o brainyolo/data   # the directly trained SNN (brainyolo.training.direct)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from brainyolo.training.ann import train
from brainyolo.training.direct import train_direct
from brainyolo.training.yolo_training import TRAIN_SEED, save_event_set


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m brainyolo.training", description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--out", type=Path, default=Path(__file__).parents[1] / "data")
    parser.add_argument("--iterations", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--scenes", type=int, default=12000, help="training scenes generated once")
    parser.add_argument("--seed", type=int, default=TRAIN_SEED)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--spiking", action="store_true",
                        help="train the directly trained spiking detector instead (spikingjelly, T = 4; "
                             "brainyolo.training.direct): writes direct.h5 and training-direct.json")
    parser.add_argument("--steps", type=int, default=4, help="time steps T of the spiking training")
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--init-state", type=Path, help="with --spiking: start from a saved direct-state.pt")
    parser.add_argument("--events", type=Path, metavar="SET.npz",
                        help="train on event scenes (EMS-YOLO frames, T bins of 250 ms; the set is generated "
                             "into SET.npz with --scenes of them if the file does not exist): with --spiking writes "
                             "direct-events.h5, else the ANN on the mean of the frames, events-tiny-yolov3.*")
    args = parser.parse_args(argv)
    if args.spiking:
        if args.events is not None and not args.events.exists():
            save_event_set(args.events, args.scenes, args.seed, args.steps, processes=args.threads)
        train_direct(args.out, args.iterations, args.batch, args.scenes, args.seed, args.threads,
                     args.learning_rate, args.steps, init_state=args.init_state, events=args.events)
        return
    if args.events is not None and not args.events.exists():
        save_event_set(args.events, args.scenes, args.seed, 5, processes=args.threads)
    train(args.out, args.iterations, args.batch, args.scenes, args.seed, args.threads, args.learning_rate,
          events=args.events)


if __name__ == "__main__":
    main()
