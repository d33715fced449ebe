"""The deployment payload, defined once for the side that sends it and the side that deploys.

The body is compact, key-sorted UTF-8 JSON of :class:`DeploymentPayload`; the header
``X-Rankct-Signature: sha256=<hex>`` is the HMAC-SHA256 of exactly those bytes under the shared
secret. A receiver accepts a delivery only if (:func:`verify_delivery`):

- the signature matches (constant-time comparison), so the payload came from rankct unaltered;
- ``schema_version`` is one it knows, and every field is present and well formed;
- ``decision`` is a deployable one (a promotion, a rollback, a re-announcement);
- it is fresh: ``issued_at`` is at most ``max_age`` old (and not from the future), and, given
  the payload of the deployment serving now, issued after it and not the same delivery, so a
  captured payload cannot be replayed to put an old version back;
- given the downloaded bundle, every file in it is one the payload lists, with that sha256.

Only the standard library is imported here: the deploy workflow runs this module from a plain
checkout, without installing rankct's dependencies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
import zipfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from rankct.digests import tree_digests
from rankct.errors import RankctError

SCHEMA_VERSION = 1
EVENT_TYPE = "rankct-model-promoted"  # GitHub repository_dispatch event the relay sends
SIGNATURE_HEADER = "X-Rankct-Signature"
DELIVERY_HEADER = "X-Rankct-Delivery"
ONNX_FILE = "model.onnx"
MANIFEST_FILE = "manifest.json"
VESPA_ZIP = "vespa-app.zip"
VESPA_MODEL_MEMBER = "models/ranker.onnx"
CLOCK_SKEW = timedelta(minutes=5)  # how far in the future issued_at may be
DEFAULT_MAX_AGE = timedelta(hours=2)  # a dispatch queued behind another deployment still fits

_FIELD_FORMATS = {
    "model": re.compile(r"[A-Za-z0-9_.-]{1,128}"),
    "version": re.compile(r"[0-9]{1,12}"),
    "onnx_sha256": re.compile(r"[0-9a-f]{64}"),
    "delivery_id": re.compile(r"[0-9a-f]{32}"),
}
_SHA256 = re.compile(r"[0-9a-f]{64}")
_URI = re.compile(r"[A-Za-z0-9_.:/+=@%~-]{1,2048}")
_RELATIVE_PATH = re.compile(r"(?!/)(?!.*(?:^|/)\.\.(?:/|$))[A-Za-z0-9_./+=-]{1,512}")


class Decision(StrEnum):
    """Why a version is to be deployed: the only values a receiver acts on."""

    PROMOTED = "promoted"  # the model gate passed it and the champion alias moved to it
    ROLLED_BACK = "rolled_back"  # an operator restored it as the champion
    REANNOUNCED = "reannounced"  # `rankct deploy notify`: the champion announced again


class DeploymentRefused(RankctError):
    """A delivery that must not be deployed: the message says which check refused it."""

    exit_code = 3


@dataclass(frozen=True)
class DeploymentPayload:
    """What a receiver needs to deploy one version, and nothing it would have to trust blindly.

    ``files`` maps every file of the export bundle (paths relative to the bundle folder) to its
    sha256: the receiver deploys only files whose digest the signature covers. ``artifacts``
    names where to fetch them (``bundle``: the bundle folder, ``onnx_model``: the logged ONNX
    model). ``context`` carries what a reader of the deployment log wants to see (day, run,
    decision record digest, reason); receivers act on no key of it.
    """

    model: str
    version: str
    decision: Decision
    onnx_sha256: str
    files: dict[str, str]
    artifacts: dict[str, str]
    metrics: dict[str, float] = field(default_factory=dict)
    context: dict[str, str] = field(default_factory=dict)
    issued_at: str = ""
    delivery_id: str = ""
    schema_version: int = SCHEMA_VERSION
    event: str = EVENT_TYPE

    @classmethod
    def issue(cls, model: str, version: str | int, decision: Decision, *, onnx_sha256: str,
              files: Mapping[str, str], artifacts: Mapping[str, str],
              metrics: Mapping[str, float] | None = None,
              context: Mapping[str, Any] | None = None,
              now: datetime | None = None) -> DeploymentPayload:
        """A new payload with a fresh delivery id, stamped ``now`` (UTC)."""
        stamp = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        payload = cls(model=model, version=str(version), decision=Decision(decision),
                      onnx_sha256=onnx_sha256, files=dict(sorted(files.items())),
                      artifacts=dict(artifacts),
                      metrics={k: float(v) for k, v in (metrics or {}).items()},
                      context={k: str(v) for k, v in (context or {}).items() if v is not None},
                      issued_at=stamp.isoformat().replace("+00:00", "Z"),
                      delivery_id=uuid.uuid4().hex)
        payload.validate()
        return payload

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "decision": str(self.decision)}

    def encode(self) -> bytes:
        """The exact bytes that are sent and signed (compact, key-sorted JSON)."""
        # ASCII only: the body travels as a JSON string inside the dispatch event and an
        # environment variable; escaped, no byte of it can change on the way.
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, body: bytes) -> DeploymentPayload:
        """Parse and validate a body; :class:`DeploymentRefused` for anything malformed."""
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DeploymentRefused(f"the payload is not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise DeploymentRefused("the payload is not a JSON object")
        version = document.get("schema_version")
        if version != SCHEMA_VERSION:
            raise DeploymentRefused(
                f"unknown payload schema_version {version!r}; this verifier knows "
                f"{SCHEMA_VERSION}", hint="update the deploy workflow's checkout of rankct")
        names = {f for f in cls.__dataclass_fields__}
        missing, unknown = sorted(names - set(document)), sorted(set(document) - names)
        if missing or unknown:
            raise DeploymentRefused(f"payload schema {SCHEMA_VERSION}: missing field(s) "
                                    f"{missing or 'none'}, unknown field(s) {unknown or 'none'}")
        try:
            decision = Decision(document["decision"])
        except ValueError:
            raise DeploymentRefused(
                f"decision {document['decision']!r} is not deployable; expected one of "
                f"{', '.join(d.value for d in Decision)}") from None
        payload = cls(**{**document, "decision": decision})
        payload.validate()
        return payload

    def validate(self) -> None:
        """Every field well formed; :class:`DeploymentRefused` naming the first that is not."""
        if self.event != EVENT_TYPE:
            raise DeploymentRefused(f"event {self.event!r} is not {EVENT_TYPE!r}")
        for name, pattern in _FIELD_FORMATS.items():
            value = getattr(self, name)
            if not isinstance(value, str) or not pattern.fullmatch(value):
                raise DeploymentRefused(f"payload field {name}={value!r} is malformed")
        issued_at(self)
        for group, pattern in (("files", _SHA256), ("artifacts", _URI)):
            entries = getattr(self, group)
            if not isinstance(entries, dict):
                raise DeploymentRefused(f"payload field {group} is not an object")
            for key, value in entries.items():
                if group == "files" and not _RELATIVE_PATH.fullmatch(str(key)):
                    raise DeploymentRefused(f"payload file path {key!r} is malformed")
                if not isinstance(value, str) or not pattern.fullmatch(value):
                    raise DeploymentRefused(f"payload {group}[{key!r}]={value!r} is malformed")
        if self.files.get(ONNX_FILE) != self.onnx_sha256:
            raise DeploymentRefused(f"payload files[{ONNX_FILE!r}] is not its onnx_sha256")
        if "bundle" not in self.artifacts:
            raise DeploymentRefused("payload artifacts has no 'bundle' URI to fetch from")


def issued_at(payload: DeploymentPayload) -> datetime:
    """``payload.issued_at`` as an aware UTC datetime."""
    try:
        stamp = datetime.fromisoformat(str(payload.issued_at))
    except ValueError:
        raise DeploymentRefused(f"payload issued_at {payload.issued_at!r} is not an ISO 8601 "
                                "time") from None
    if stamp.tzinfo is None:
        raise DeploymentRefused(f"payload issued_at {payload.issued_at!r} has no time zone")
    return stamp.astimezone(UTC)


def sign(body: bytes, secret: str | bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``body`` under ``secret``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def signature_matches(body: bytes, secret: str | bytes, signature: str) -> bool:
    """Whether ``signature`` is ``body``'s signature (constant-time comparison)."""
    return hmac.compare_digest(sign(body, secret), signature.strip())


def verify_delivery(body: bytes, signature: str, secret: str | bytes | None, *,
                    max_age: timedelta = DEFAULT_MAX_AGE, now: datetime | None = None,
                    bundle: Path | None = None,
                    serving: DeploymentPayload | None = None) -> DeploymentPayload:
    """The payload of a delivery that may be deployed; :class:`DeploymentRefused` otherwise.

    ``serving`` is the payload of the deployment serving now (kept by the receiver): a delivery
    issued at or before it, or the same delivery again, is a replay. ``bundle`` is the folder
    downloaded from ``artifacts['bundle']``: its files must be exactly those the payload lists.
    """
    if not secret:
        raise DeploymentRefused("no webhook secret to check the signature with",
                                hint="set RANKCT_WEBHOOK_SECRET (the secret of notify.secret_env)")
    if not signature_matches(body, secret, signature):
        raise DeploymentRefused("the payload signature does not match: not signed by rankct "
                                "with this secret, or altered on the way",
                                hint="check that both sides hold the same webhook secret")
    payload = DeploymentPayload.decode(body)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    stamp = issued_at(payload)
    if stamp > now + CLOCK_SKEW:
        raise DeploymentRefused(f"the payload was issued at {payload.issued_at}, in the future "
                                f"(now {now.isoformat(timespec='seconds')})",
                                hint="check the clocks of the sender and this machine")
    if now - stamp > max_age:
        raise DeploymentRefused(
            f"the payload was issued at {payload.issued_at}, {now - stamp} ago, more than the "
            f"{max_age} allowed: a stale or replayed delivery",
            hint="announce the champion again with `rankct deploy notify`")
    if serving is not None:
        _refuse_replay(payload, serving)
    if bundle is not None:
        check_bundle(payload, Path(bundle))
    return payload


def _refuse_replay(payload: DeploymentPayload, serving: DeploymentPayload) -> None:
    if payload.delivery_id == serving.delivery_id:
        raise DeploymentRefused(f"delivery {payload.delivery_id} is already deployed "
                                f"({serving.model} v{serving.version}): a replay")
    if issued_at(payload) <= issued_at(serving):
        raise DeploymentRefused(
            f"the payload (v{payload.version}, issued {payload.issued_at}) is not newer than "
            f"the deployment serving now (v{serving.version}, issued {serving.issued_at}): a "
            "replay of an older announcement", hint="announce the champion again with "
                                                    "`rankct deploy notify`")


def check_bundle(payload: DeploymentPayload, root: Path) -> None:
    """Every file under ``root`` is listed in the payload with its sha256, and none is missing;
    the Vespa package carries the same ONNX model; the export's parity proof passed."""
    if not root.is_dir():
        raise DeploymentRefused(f"bundle folder {root} does not exist")
    found = tree_digests(root)
    problems = [f"{rel}: not in the signed payload" for rel in sorted(set(found) - set(
        payload.files))]
    problems += [f"{rel}: missing" for rel in sorted(set(payload.files) - set(found))]
    problems += [f"{rel}: sha256 {found[rel][:12]}..., signed {sha[:12]}..."
                 for rel, sha in sorted(payload.files.items())
                 if rel in found and found[rel] != sha]
    if not problems:
        problems += _consistency(payload, root)
    if problems:
        raise DeploymentRefused(f"the bundle in {root} does not match the signed payload of "
                                f"{payload.model} v{payload.version}: " + "; ".join(problems),
                                hint="download the bundle again from artifacts['bundle']; "
                                     "never deploy a file the signature does not cover")


def _consistency(payload: DeploymentPayload, root: Path) -> list[str]:
    """What the signed files say about themselves agrees with the payload."""
    problems = []
    try:
        with zipfile.ZipFile(root / VESPA_ZIP) as archive:
            member = hashlib.sha256(archive.read(VESPA_MODEL_MEMBER)).hexdigest()
        manifest = json.loads((root / MANIFEST_FILE).read_text())
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        return [f"unreadable {VESPA_ZIP} or {MANIFEST_FILE}: {exc}"]
    if member != payload.onnx_sha256:
        problems.append(f"{VESPA_ZIP}:{VESPA_MODEL_MEMBER}: not the signed ONNX model")
    if (manifest.get("model_name"), str(manifest.get("version"))) != (payload.model,
                                                                        payload.version):
        problems.append(f"{MANIFEST_FILE}: names {manifest.get('model_name')} "
                        f"v{manifest.get('version')}, the payload {payload.model} "
                        f"v{payload.version}")
    if not manifest.get("parity_passed"):
        problems.append(f"{MANIFEST_FILE}: ONNX parity did not pass")
    return problems


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``1d`` (or plain seconds) as a timedelta."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not match:
        raise RankctError(f"{text!r} is not a duration", hint="write e.g. 90s, 15m, 2h or 1d")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return timedelta(seconds=float(match.group(1)) * unit)
