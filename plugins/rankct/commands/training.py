"""``rankct train``: fit the ranker on LETOR files or a training set and print its test metrics."""

from __future__ import annotations

import argparse
from pathlib import Path

from rankct.errors import RankctError
from rankct.objectives import OBJECTIVES


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``train`` to ``commands``."""
    p = commands.add_parser("train", help="train an XGBoost ranker and print its test metrics",
                            description="Fit the ranker (early stopping on validation NDCG@10) "
                                        "on LETOR files or a training set, then measure the "
                                        "test split.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--letor", type=Path, metavar="TRAIN",
                        help="LETOR/SVMlight training file (with --valid and --test)")
    source.add_argument("--frame", type=Path, metavar="PARQUET",
                        help="training set from `rankct features training-set`, split by time")
    p.add_argument("--valid", type=Path, help="LETOR validation file")
    p.add_argument("--test", type=Path, help="LETOR test file")
    p.add_argument("--objective", choices=OBJECTIVES,
                   help="default training.objective (click_model; LETOR files: rank:ndcg)")
    p.add_argument("--search", type=int, metavar="N",
                   help="random search of N trials before the final fit")
    p.add_argument("--seed", type=int, help="default training.seed")
    p.add_argument("--out", type=Path, metavar="MODEL.json", help="save the booster (XGBoost JSON)")
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from rankct.config import load_config
    from rankct.training.run import train_and_test

    config = load_config()
    chosen = {"objective": args.objective, "seed": args.seed}
    training = config.training.model_copy(
        update={key: value for key, value in chosen.items() if value is not None})
    if args.letor:
        from rankct.training.letor import load_letor_files

        if not (args.valid and args.test):
            raise RankctError("--letor needs --valid and --test files",
                              hint="LETOR folds come as train/vali/test files: pass all three")
        train, valid, test = load_letor_files([args.letor, args.valid, args.test])
        features = list(train.columns[2:])
        if args.objective is None and training.objective == "click_model":
            # LETOR labels are editorial: no position to debias, the click model has no input.
            training = training.model_copy(update={"objective": "rank:ndcg"})
    else:
        import pandas as pd

        from rankct.online.feast_repo import feature_store
        from rankct.online.retrieval import model_columns
        from rankct.training.split import split_by_time

        if not args.frame.is_file():
            raise RankctError(f"training set {args.frame} does not exist",
                              hint="write one with `rankct features training-set --out FILE`")
        split = split_by_time(pd.read_parquet(args.frame), training.split)
        train, valid, test = split.train, split.valid, split.test
        features = model_columns(feature_store(config))
    print("requests: " + ", ".join(f"{name} {part['request_id'].nunique():,}" for name, part in
                                  (("train", train), ("valid", valid), ("test", test))))
    # An objective named on the command line is kept; otherwise the search chooses one too.
    outcome = train_and_test(train, valid, test, features, training, search_trials=args.search,
                             objectives=(args.objective,) if args.objective else None)
    print(outcome.summary())
    if args.out:
        print(f"model: {outcome.ranker.save(args.out)}")
    return 0
