"""``grocery-forecast models``: list, show, publish and switch model versions in the models bucket."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from grocery_forecast.cli import CliError
from grocery_forecast.cli._common import add_env_argument, open_stack, say


def _score(metadata: dict) -> str:
    """The backtest NWRMSLE when the model was backtested, else its early-stopping validation score."""
    backtest = (metadata.get("backtest") or {}).get("model", {}).get("nwrmsle")
    if isinstance(backtest, int | float):
        return f"{backtest:.4f} (backtest)"
    valid = (metadata.get("validation") or {}).get("nwrmsle")
    return f"{valid:.4f} (validation)" if isinstance(valid, int | float) else "-"


def _gate(metadata: dict) -> str:
    """The retraining gate's record: decision, challenger vs champion NWRMSLE on the last days."""
    gate = metadata.get("retraining")
    if not isinstance(gate, dict):
        return "-"
    champion = gate.get("champion_nwrmsle")
    versus = f"{champion:.4f}" if isinstance(champion, int | float) else "none"
    return (
        f"{gate.get('decision', '?')}: {gate.get('challenger_nwrmsle', float('nan')):.4f} vs champion {versus} "
        f"on {(gate.get('evaluation_window') or {}).get('start', '?')}..{(gate.get('evaluation_window') or {}).get('end', '?')}"
    )


def _list_runs(s3: object, bucket: str) -> int:
    from grocery_forecast.cli.retrain import describe_outcome
    from grocery_forecast.pipeline.training import TRAINING_PREFIX, read_manifest

    runs = []
    for page in s3.get_paginator("list_objects_v2").paginate(  # type: ignore[attr-defined]
        Bucket=bucket, Prefix=TRAINING_PREFIX, Delimiter="/"
    ):
        for prefix in page.get("CommonPrefixes", []):
            manifest = read_manifest(s3, bucket, prefix["Prefix"][len(TRAINING_PREFIX) :].rstrip("/"))
            if manifest:
                runs.append(manifest)
    if not runs:
        say(
            f"no retraining runs in s3://{bucket}/{TRAINING_PREFIX}; start one with `grocery-forecast train --remote`"
        )
        return 1
    for manifest in sorted(runs, key=lambda m: str(m.get("updated_at", "")), reverse=True):
        print(describe_outcome(manifest))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "models",
        help="list, show, publish and switch model versions",
        description="Model versions in the models bucket (models/<version>/) and the "
        "one in service (models/current.json).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="list versions, newest first (default)")
    show = actions.add_parser("show", help="print a version's metadata (default: the current one)")
    show.add_argument("version", nargs="?")
    use = actions.add_parser(
        "use",
        help="put a version in service (the next upload uses it); refused if this library cannot serve it",
    )
    use.add_argument("version")
    actions.add_parser("rollback", help="put the previous version back in service")
    actions.add_parser("runs", help="retraining runs, newest first: scores, decision and reason")
    pub = actions.add_parser("publish", help="upload a saved model directory as a new version and use it")
    pub.add_argument("model_dir", type=Path)
    pub.add_argument("--no-switch", action="store_true", help="upload without putting it in service")
    add_env_argument(parser, actions)
    parser.set_defaults(func=run, action="list")


def run(args: argparse.Namespace) -> int:
    from grocery_forecast.aws import model_store
    from grocery_forecast.contract.runs import model_key

    stack = open_stack(args)
    s3 = stack.client("s3")
    bucket = stack.models_bucket_name
    try:
        if args.action == "publish":
            version = model_store.publish_model(s3, bucket, args.model_dir, make_current=not args.no_switch)
            say(
                f"published model {version} to s3://{bucket}/models/{version}/"
                + ("" if args.no_switch else " (now in service)")
            )
            print(version)
        elif args.action == "use":
            model_store.use_version(s3, bucket, args.version)
            say(f"model {args.version} is now in service")
        elif args.action == "rollback":
            version = model_store.rollback(s3, bucket)
            say(f"model {version} is back in service")
            print(version)
        elif args.action == "runs":
            return _list_runs(s3, bucket)
        elif args.action == "show":
            version = args.version or model_store.current_version(s3, bucket)
            meta = s3.get_object(Bucket=bucket, Key=model_key(version, "metadata.json"))["Body"].read()
            print(json.dumps(json.loads(meta), indent=2))
        else:
            versions = model_store.list_versions(s3, bucket)
            if not versions:
                say(
                    f"no models in s3://{bucket}/models/; publish one with `grocery-forecast train --publish`"
                )
                return 1
            print(f"{'':2}{'VERSION':34} {'CREATED':25} {'TRAINED ON':23} {'NWRMSLE':20} RETRAINING GATE")
            for v in versions:
                window = v.metadata.get("training_window") or {}
                span = (
                    f"{window.get('start', '?')}..{window.get('end', '?')}"
                    if isinstance(window, dict)
                    else str(window)
                )
                print(
                    f"{'*' if v.current else ' '} {v.version:34} {v.created_at:25} {span:23} "
                    f"{_score(v.metadata):20} {_gate(v.metadata)}"
                )
    except model_store.ModelStoreError as exc:
        raise CliError(str(exc)) from None
    return 0
