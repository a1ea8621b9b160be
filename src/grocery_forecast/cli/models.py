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


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "models",
        help="list, show, publish and switch model versions",
        description="Model versions in the models bucket (models/<version>/) and the "
        "one in service (models/current.json).",
    )
    add_env_argument(parser)
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
    pub = actions.add_parser("publish", help="upload a saved model directory as a new version and use it")
    pub.add_argument("model_dir", type=Path)
    pub.add_argument("--no-switch", action="store_true", help="upload without putting it in service")
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
            print(f"{'':2}{'VERSION':34} {'CREATED':25} {'TRAINED ON':23} NWRMSLE")
            for v in versions:
                window = v.metadata.get("training_window") or {}
                span = (
                    f"{window.get('start', '?')}..{window.get('end', '?')}"
                    if isinstance(window, dict)
                    else str(window)
                )
                print(
                    f"{'*' if v.current else ' '} {v.version:34} {v.created_at:25} {span:23} {_score(v.metadata)}"
                )
    except model_store.ModelStoreError as exc:
        raise CliError(str(exc)) from None
    return 0
