"""Both ends of the deployment contract: ``rankct deploy verify`` (the receiver's check, standard
library only: the deploy workflow runs it as ``python -S -m rankct deploy verify`` from a plain
checkout) and ``rankct deploy notify`` (announce the champion again)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from rankct.deploy.contract import (
    DEFAULT_MAX_AGE,
    DeploymentPayload,
    parse_duration,
    verify_delivery,
)
from rankct.errors import RankctError


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``deploy verify`` and ``deploy notify`` to ``commands``."""
    p = commands.add_parser("deploy", help="verify or send a signed deployment payload",
                            description="The deployment contract: the receiver's verification "
                                        "and the sender's announcement of the champion.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    _add_verify(actions)
    _add_notify(actions)


def _add_verify(actions: argparse._SubParsersAction) -> None:
    p = actions.add_parser(
        "verify", help="check a delivery before deploying it",
        description="Check a deployment payload: its signature (secret from "
                    "$RANKCT_WEBHOOK_SECRET), schema version, decision and age; against the "
                    "deployment serving now (--serving), that it is not a replay; and, given the "
                    "downloaded bundle (--bundle), the sha256 of every file. Exit 0 when it may "
                    "be deployed, 3 when it is refused. Needs only the standard library.")
    p.add_argument("--payload", type=Path, required=True, help="the request body, as received")
    p.add_argument("--signature", required=True, help="the X-Rankct-Signature header: sha256=...")
    p.add_argument("--max-age", type=_duration, default=DEFAULT_MAX_AGE, metavar="DURATION",
                   help="oldest issued_at accepted, e.g. 90s, 15m, 2h, 1d (default 2h)")
    p.add_argument("--bundle", type=Path, metavar="DIR",
                   help="the downloaded bundle folder: every file must match the payload")
    p.add_argument("--serving", type=Path, metavar="FILE",
                   help="the payload of the deployment serving now: older ones are replays")
    p.add_argument("--secret-env", default="RANKCT_WEBHOOK_SECRET", metavar="NAME",
                   help="environment variable holding the webhook secret")
    p.add_argument("--github-output", type=Path, metavar="FILE",
                   help="append model, version, bundle_uri, onnx_sha256, delivery_id as a "
                        "GitHub Actions step's outputs")
    p.add_argument("--json", action="store_true", help="print the verified payload as JSON")
    p.set_defaults(func=cmd_verify)


def _duration(text: str) -> object:
    try:
        return parse_duration(text)
    except RankctError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise RankctError(f"cannot read the {what} {path}: {exc.strerror}") from None


def cmd_verify(args: argparse.Namespace) -> int:
    serving = (DeploymentPayload.decode(_read(args.serving, "serving deployment record"))
               if args.serving else None)
    payload = verify_delivery(_read(args.payload, "payload"), args.signature,
                              os.environ.get(args.secret_env), max_age=args.max_age,
                              bundle=args.bundle, serving=serving)
    outputs = {"model": payload.model, "version": payload.version,
               "bundle_uri": payload.artifacts["bundle"], "onnx_sha256": payload.onnx_sha256,
               "delivery_id": payload.delivery_id, "decision": str(payload.decision)}
    if args.github_output:
        with open(args.github_output, "a") as out:
            out.writelines(f"{key}={value}\n" for key, value in outputs.items())
    if args.json:
        print(json.dumps(payload.as_dict(), indent=2, sort_keys=True))
    else:
        checked = "signature, schema, decision, age" + (", not a replay" if serving else "") + (
            f", {len(payload.files)} file digests" if args.bundle else "")
        print(f"verified: {payload.model} v{payload.version} ({payload.decision}, issued "
              f"{payload.issued_at}, delivery {payload.delivery_id}): {checked}")
    return 0


def _add_notify(actions: argparse._SubParsersAction) -> None:
    p = actions.add_parser(
        "notify", help="announce the champion for deployment again",
        description="Send the signed deployment payload of the champion to notify.url: the way "
                    "out after a failed notification. Exit 0 when the receiver accepted it, 2 "
                    "when nothing could be sent, 3 when the receiver refused it.")
    p.add_argument("--version", help="the version to announce; it must be the champion "
                                     "(default: the champion)")
    p.set_defaults(func=cmd_notify)


def cmd_notify(args: argparse.Namespace) -> int:
    from rankct.config import load_config
    from rankct.deploy.announce import announce
    from rankct.deploy.contract import Decision
    from rankct.registry import champion_version, open_store

    config = load_config()
    store = open_store(config)
    version = args.version or champion_version(store)
    if version is None:
        raise RankctError(f"model {store.model_name} has no champion to announce",
                          hint="`rankct models` lists the versions")
    sent = announce(config, store, version, Decision.REANNOUNCED,
                    context={"reason": "announced again by `rankct deploy notify`"})
    return report_announcement(sent, config.notify.url)


def report_announcement(sent: object, url: str | None, *, require_sent: bool = True) -> int:
    """Print what became of an announcement; its exit code: 0 sent (or, unless
    ``require_sent``, skipped for want of a ``notify.url``), 2 not sent, 3 refused."""
    from rankct.deploy.announce import AnnouncementFailed

    payload, result = sent.payload, sent.result
    what = (f"{payload.model} v{payload.version} ({payload.decision}, delivery "
            f"{payload.delivery_id})" if payload else "the champion")
    print(f"deployment of {what}: {result.status}"
          + (f" - {result.error}" if result.error else "")
          + (f" (record: {sent.record})" if sent.record else ""))
    if result.status == "sent" or (result.status == "skipped" and not require_sent):
        return 0
    if result.status == "skipped":
        raise RankctError("no deployment was triggered: notify.url is not configured",
                          hint="set notify.url (RANKCT__NOTIFY__URL) and the webhook secret, "
                               "then run `rankct deploy notify`")
    raise AnnouncementFailed(f"the deployment webhook {url} did not accept the announcement "
                             f"of {what}: {result.error}",
                             hint="fix the receiver, then run `rankct deploy notify` again")
