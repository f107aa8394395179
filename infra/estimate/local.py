"""The local stack: nothing billed by a cloud."""

from __future__ import annotations

from infra.estimate.items import Traffic


def _local_notes(traffic: Traffic | None) -> list[str]:
    notes = [
        "The local stack runs on this machine's Docker engine: no cloud resources and no cloud "
        "bill (only your own machine's power and disk)."
    ]
    if traffic is not None:
        notes.append(
            "No serverless comparison for the local stack: estimate the dev (AWS) or gcp stack "
            "with --requests-per-month to compare containers with serverless."
        )
    return notes
