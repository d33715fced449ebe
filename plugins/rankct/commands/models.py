"""The registered model and its exports: ``rankct serve-check``, ``rankct models`` (with
``--history``, the alias history) and ``rankct rollback`` (which announces the restored champion
for deployment)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rankct.errors import RankctError


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``serve-check``, ``models`` and ``rollback`` to ``commands``."""
    _add_serve_check(commands)
    _add_models(commands)
    _add_rollback(commands)


def _add_serve_check(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("serve-check", help="score an export bundle as Triton and Vespa would",
                            description="Load the bundle's Triton model and Vespa package as the "
                                        "servers do, send its golden requests and compare with "
                                        "the booster. Exit 0 when every score and order "
                                        "matches, 3 if not.")
    p.add_argument("--version", default="champion",
                   help="registered version or alias to check (default: champion)")
    p.add_argument("--bundle", type=Path,
                   help="export folder (default $RANKCT_HOME/exports/<model>/<version>)")
    p.add_argument("--model", type=Path, metavar="BOOSTER_FILE",
                   help="check against this XGBoost model file instead of the registry")
    p.add_argument("--atol", type=float, default=1e-4, help="largest score difference allowed")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_serve_check)


def cmd_serve_check(args: argparse.Namespace) -> int:
    from rankct.export.serve_check import serve_check

    if args.model is not None:
        if args.bundle is None:
            raise RankctError("--model needs --bundle", hint="name the export folder it came from")
        booster, bundle = args.model, args.bundle
    else:
        from rankct.config import load_config
        from rankct.registry import alias_version, load_booster, open_store

        # Default: the registered version (the champion unless --version says otherwise),
        # scored by the registry's own booster, against the bundle exported for it.
        config = load_config()
        store = open_store(config)
        version = args.version if args.version.isdigit() else alias_version(store, args.version)
        if version is None:
            raise RankctError(f"model {store.model_name} has no version {args.version!r}",
                              hint="`rankct models` lists the versions and aliases")
        booster = load_booster(store, version)
        bundle = args.bundle or config.home / "exports" / store.model_name / str(version)
        print(f"serve-check of {store.model_name} v{version} ({bundle})")
    report = serve_check(bundle, booster, atol=args.atol)
    print(json.dumps(report.as_dict(), indent=2) if args.json else report.summary())
    return 0 if report.passed else 3


def _add_models(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("models", help="list registered versions, aliases and gate decisions",
                            description="Versions of the registered model, newest first, with "
                                        "their aliases (champion, challenger, previous_champion) "
                                        "and gate decisions; --history: every move of the "
                                        "champion alias, what, when, why and by which run.")
    p.add_argument("--history", action="store_true",
                   help="list every promotion and rollback instead, oldest first")
    p.set_defaults(func=cmd_models)


def cmd_models(args: argparse.Namespace) -> int:
    from rankct.config import load_config
    from rankct.registry import list_versions, open_store

    store = open_store(load_config())
    if args.history:
        return _print_history(store)
    rows = list_versions(store)
    if not rows:
        print(f"no versions of {store.model_name} yet")
        return 0
    print(f"{'version':>7}  {'aliases':<28} {'decision':<9} {'data interval':<22} reasons")
    for row in rows:
        print(f"{row.version:>7}  {','.join(row.aliases) or '-':<28} {row.decision or '-':<9} "
              f"{row.data_interval or '-':<22} {row.reasons[:80]}")
    return 0


def _print_history(store: object) -> int:
    from rankct.registry.history import read_history

    changes = read_history(store.state_dir)
    if not changes:
        print(f"the champion of {store.model_name} has not moved yet")
        return 0
    print(f"{'when (UTC)':<25} {'action':<9} {'champion':<14} {'run':<34} {'by':<24} why")
    for change in changes:
        moved = f"v{change.previous} -> v{change.version}" if change.previous else \
            f"v{change.version}"
        print(f"{change.at:<25} {change.action:<9} {moved:<14} {change.run:<34} "
              f"{change.actor:<24} {change.reason}")
    return 0


def _add_rollback(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("rollback", help="restore the previous champion and deploy it",
                            description="Move the alias champion back to the version it "
                                        "replaced (the removed one is never promoted again), "
                                        "record why, and announce the restored champion to "
                                        "the deployment webhook. Exit 2 when there is no "
                                        "previous champion, 3 when the webhook refused the "
                                        "announcement (the rollback stands).")
    p.add_argument("--reason", default="rolled back by an operator",
                   help="why, for the alias history")
    p.set_defaults(func=cmd_rollback)


def cmd_rollback(args: argparse.Namespace) -> int:
    from rankct.commands.deploy import report_announcement
    from rankct.config import load_config
    from rankct.deploy.announce import announce
    from rankct.deploy.contract import Decision
    from rankct.registry import open_store, rollback

    config = load_config()
    store = open_store(config)
    restored = rollback(store, reason=args.reason)
    print(f"rolled back: champion is now version {restored} of {store.model_name}")
    sent = announce(config, store, restored, Decision.ROLLED_BACK,
                    context={"reason": args.reason})
    return report_announcement(sent, config.notify.url, require_sent=False)
