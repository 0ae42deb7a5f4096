"""The untrained model's loss across the study's architectures, per initialiser: what the sweep starts from.

    python benchmarks/initial_scale.py             # adding problem, T = 200, 256 sequences, seed 0
    python benchmarks/initial_scale.py --train     # and three architectures trained at the study's reduced scale

For every architecture of the isolation and fixed-rf experiments (pytcn.study.experiments) and every initialiser,
the MSE of the untrained model on adding-problem sequences, and the range over architectures. With --train, the base,
the deepest (k=2, D=6, s=6) and a short-sighted (k=7, D=3) architecture are trained with each initialiser at the study's
reduced adding settings, and the validation MSE of every epoch printed. A measurement, not a test:
docs/experiments.md quotes it for the choice of pytcn.study.experiments.INITIALIZER.
"""
import argparse
import sys

import numpy as np

import pytcn
from pytcn.nn.initializers import INITIALIZERS
from pytcn.study.experiments import NB_FILTERS, dilations, expand
from pytcn.tasks.adding import adding_problem


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--sequences", type=int, default=256)
    parser.add_argument("--train", action="store_true", help="also train three architectures per initialiser")
    args = parser.parse_args(argv)
    x, y = adding_problem(args.sequences, args.length, np.random.default_rng(0))
    archs = sorted({(t.k, t.D, t.s) for e in ("isolation", "fixed-rf") for t in expand(e, "adding")})
    print(f"# command: python benchmarks/initial_scale.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(f"# untrained MSE on {args.sequences} adding sequences of T = {args.length}; always predicting 1 gives 0.167")
    print(f"{'initializer':15s} {'min MSE':>9s} {'median':>9s} {'max MSE':>9s}   (k, D, s) of the max")
    for name in INITIALIZERS:
        mse = {}
        for k, D, s in archs:
            model = pytcn.TCN(input_channels=2, outputs=1, nb_filters=NB_FILTERS, kernel_size=k, dilations=dilations(D),
                              nb_stacks=s, use_skip_connections=False, kernel_initializer=name, seed=0)
            mse[(k, D, s)] = pytcn.mse(model.forward(x), y.astype(np.float32))[0]
        worst = max(mse, key=mse.get)
        print(f"{name:15s} {min(mse.values()):9.3g} {np.median(list(mse.values())):9.3g} {mse[worst]:9.3g}   {worst}")
    if args.train:
        train(args.length)
    return 0


def train(length):
    import tempfile

    from pytcn.study.experiments import SCALES
    from pytcn.training import Trainer
    from pytcn.training.config import make_config

    settings = dict(SCALES["reduced"]["adding"], length=length)
    print(f"# trained: {settings}; validation MSE after each epoch")
    for name in INITIALIZERS:
        for k, D, s in [(7, 6, 1), (2, 6, 6), (7, 3, 1)]:
            config = make_config("adding", nb_filters=NB_FILTERS, kernel_size=k, dilations=dilations(D), nb_stacks=s,
                                 kernel_initializer=name, **settings)
            with tempfile.TemporaryDirectory() as folder:
                trainer = Trainer(config, folder, progress=False, log=lambda *a: None)
                trainer.run()
            print(f"{name:15s} (k, D, s) = {(k, D, s)}: " + " ".join(f"{h['val_metric']:.4f}" for h in trainer.history),
                  flush=True)


if __name__ == "__main__":
    sys.exit(main())
