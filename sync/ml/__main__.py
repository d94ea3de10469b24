"""``python -m sync.ml``: train, list, roll back and report models from a terminal (with progress bars).

    python -m sync.ml train demand_forecast --csv demand.csv      # a new version under ML_MODEL_PATH
    python -m sync.ml train-builtins                              # the three built-ins on the sample
    python -m sync.ml versions demand_forecast
    python -m sync.ml rollback demand_forecast [--version 2]
    python -m sync.ml report
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import pandas as pd

from sync.errors import SyncError
from sync.ml.bootstrap import bootstrap_frames
from sync.ml.builtins import BUILTIN_DATA_TYPES
from sync.ml.intelligence import MLInventoryIntelligence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sync.ml", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train one model on a CSV file")
    train.add_argument("model_name")
    train.add_argument("--csv", required=True, help="training rows with the model's feature and target columns")
    train.add_argument("--data-type", default=None, help="default: the model's data type")
    sub.add_parser("train-builtins", help="train the built-in models on the bundled sample")
    versions = sub.add_parser("versions", help="saved versions of a model")
    versions.add_argument("model_name")
    rollback = sub.add_parser("rollback", help="serve an earlier saved version")
    rollback.add_argument("model_name")
    rollback.add_argument("--version", type=int, default=None)
    sub.add_parser("report", help="held-out metrics of the saved models")
    for command in sub.choices.values():
        command.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    ml = MLInventoryIntelligence(progress=not args.quiet)
    try:
        if args.command == "train":
            data_type = args.data_type or ml.model(args.model_name).training_data_type
            ml.add_training_data(data_type, pd.read_csv(args.csv))
            ml.train_model(args.model_name, data_type)
            fitted = ml.fitted(args.model_name)
            print(json.dumps({"model_name": args.model_name, "version": fitted.version_label,
                              "metrics": fitted.metadata["metrics"]}, indent=1))
        elif args.command == "train-builtins":
            frames = bootstrap_frames()
            for data_type, name in BUILTIN_DATA_TYPES.items():
                ml.add_training_data(data_type, frames[data_type])
                ml.train_model(name, data_type)
                print(f"{name}: {ml.fitted(name).version_label}")
        elif args.command == "versions":
            print(json.dumps(ml.model_versions(args.model_name), indent=1))
        elif args.command == "rollback":
            print(f"{args.model_name}: v{ml.rollback_model(args.model_name, args.version)}")
        else:
            ml.load_saved_models()
            print(json.dumps(ml.generate_ml_report(), indent=1, default=str))
    except SyncError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
