"""``grocery-forecast replay``: send the events in the dead-letter queue back to their function."""

from __future__ import annotations

import argparse

from grocery_forecast.cli._common import add_env_argument, open_stack, say


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "replay",
        help="redrive uploads that failed every attempt (the dead-letter queue)",
        description="Invoke each event in the dead-letter queue again (asynchronously, with Lambda's "
        "retries) and remove it from the queue. Idempotent: an event in the queue twice is replayed once, "
        "and a replayed upload that had succeeded changes nothing. Fix the cause first (grocery-forecast "
        "status shows each run's errors).",
    )
    add_env_argument(parser)
    parser.add_argument("--dry-run", action="store_true", help="list the events; leave the queue as it is")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from grocery_forecast.pipeline.replay import replay_dead_letters

    stack = open_stack(args)
    report = replay_dead_letters(
        stack.client("sqs"),
        stack.client("lambda"),
        stack.dlq_queue_url,
        {stack.etl_function_name, stack.predict_function_name, stack.outputs.get("monitor_function_name", "")}
        - {""},
        dry_run=args.dry_run,
        on_message=lambda m: say(
            f"  {m.function}: {', '.join(m.keys)}  ({m.error[:120] or 'no error message'})"
        ),
    )
    say(("dry run: would have " if args.dry_run else "") + report.summary())
    return 0
