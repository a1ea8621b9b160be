"""CloudWatch metrics where the embedded metric format (EMF) is not read: the same figures via the API.

On AWS the monitor publishes its metrics with Powertools Metrics as EMF log lines: CloudWatch Logs
turns them into metrics, at no API call. The local emulator (MiniStack 1.5) stores Lambda logs but
does not extract EMF from them; it does implement PutMetricData. With ``METRICS_DESTINATION=api``
(set by the local root) the handler sends the very EMF document Powertools built through
:func:`put_emf`, so the alarms and the dashboard see the metrics there too. One document, two
transports: the figures cannot differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = ["emf_to_metric_data", "put_emf"]

#: PutMetricData takes at most this many values per call.
_BATCH = 1000


def emf_to_metric_data(document: Mapping[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """``(namespace, MetricData)`` pairs for a Powertools EMF document (``serialize_metric_set()``)."""
    meta = document["_aws"]
    timestamp = datetime.fromtimestamp(int(meta["Timestamp"]) / 1000, tz=UTC)
    out = []
    for directive in meta["CloudWatchMetrics"]:
        names = sorted({name for group in directive.get("Dimensions", []) for name in group})
        dimensions = [{"Name": n, "Value": str(document[n])} for n in names if n in document]
        data = []
        for metric in directive["Metrics"]:
            values = document[metric["Name"]]
            for value in values if isinstance(values, list) else [values]:
                data.append(
                    {
                        "MetricName": metric["Name"],
                        "Dimensions": dimensions,
                        "Timestamp": timestamp,
                        "Value": float(value),
                        "Unit": metric.get("Unit", "None"),
                    }
                )
        out.append((str(directive["Namespace"]), data))
    return out


def put_emf(cloudwatch: Any, document: Mapping[str, Any]) -> int:
    """Send an EMF document's metrics with PutMetricData; returns how many values were sent."""
    sent = 0
    for namespace, data in emf_to_metric_data(document):
        for i in range(0, len(data), _BATCH):
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[i : i + _BATCH])
            sent += len(data[i : i + _BATCH])
    return sent
