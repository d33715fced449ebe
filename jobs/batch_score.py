"""spark-submit entry point: top-K recommendations per active user for one day.

    spark-submit jobs/batch_score.py --date 2026-11-05 --model var/models/champion.json
    python jobs/batch_score.py --date 2026-11-05 --model booster.json --onnx model.onnx \\
        --top-k 50 --out var/data/recommendations --master 'local[*]'
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date, datetime
from pathlib import Path


def _instant(text: str) -> datetime:
    """An ISO timestamp; one without a zone is UTC, like every timestamp of the contract."""
    from datetime import UTC

    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    from rankct.config import load_config
    from rankct.errors import RankctError
    from rankct.export.serve_check import load_booster
    from rankct.scoring.job import MAX_LOOKUP_MB, score_day
    from rankct.spark import get_spark

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--date", type=date.fromisoformat, required=True,
                        help="day whose feature tables are used (YYYY-MM-DD)")
    parser.add_argument("--model", type=Path, required=True, help="XGBoost booster file")
    parser.add_argument("--onnx", type=Path, help="ONNX export to check parity with on a sample")
    parser.add_argument("--top-k", type=int, default=50, help="items per user (default 50)")
    parser.add_argument("--cutoff", type=_instant,
                        help="scoring time, ISO (default: the end of --date)")
    parser.add_argument("--data-root", type=Path, help="data root (default $RANKCT_HOME/data)")
    parser.add_argument("--out", type=Path,
                        help="recommendations root (default <data-root>/recommendations)")
    parser.add_argument("--master", help="Spark master (default from the profile)")
    parser.add_argument("--profile", help="configuration profile (default $RANKCT_PROFILE or "
                                          "local; Dataproc jobs name it, having no environment)")
    parser.add_argument("--max-lookup-mb", type=float, default=MAX_LOOKUP_MB,
                        help="largest feature tables held in each Python worker; larger ones are "
                             f"joined in Spark instead (default {MAX_LOOKUP_MB}; 0: always join)")
    args = parser.parse_args(argv)
    config = load_config(args.profile)
    if args.master:
        config.spark.master = args.master
    # Scoring broadcasts the booster and the feature lookup to the workers, which Spark Connect
    # has no API for: this job runs its own session even when the run has a Connect server.
    config.spark.remote = None
    for key in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED"):
        os.environ.pop(key, None)
    data_root = args.data_root or config.data_root
    try:
        booster = load_booster(args.model)
        spark = get_spark(config.spark, app_name="rankct-batch-score")
        result = score_day(spark, data_root, args.date, booster, top=args.top_k,
                           out_root=args.out, cutoff=args.cutoff, onnx_path=args.onnx,
                           max_lookup_mb=args.max_lookup_mb)
    except RankctError as exc:
        print(f"batch_score: {exc}", file=sys.stderr)
        return exc.exit_code
    parity = (f", ONNX parity max |diff| {result.parity.max_abs_diff:.2g} on "
              f"{result.parity.n_rows} rows" if result.parity else "")
    print(f"scored {result.candidates:,} candidates of {result.users:,} users as of "
          f"{result.cutoff:%Y-%m-%d %H:%M} UTC -> {result.recommendations:,} recommendations in "
          f"{result.path}{parity}; features from the {result.features_from}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
