"""The lifecycle workload of benches/lifecycle.rs, on the reference Python package.

    pip install integration-automation-patterns==0.1.0
    python3 benches/reference/lifecycle.py

Build an envelope with a small JSON payload, dispatch, fail once, dispatch,
acknowledge, process, format the audit line; prints the time per envelope.
"""

import timeit
from datetime import datetime, timezone

from integration_automation_patterns import EventEnvelope

START = datetime(2026, 3, 1, 9, 30, 0, tzinfo=timezone.utc)


def lifecycle() -> str:
    envelope = EventEnvelope(
        event_id="evt-20260301-0001",
        event_type="commerce.order.placed",
        source_system="webshop",
        payload={"order_id": 1042, "total": "89.90"},
        created_at=START,
    )
    envelope.mark_dispatched()
    envelope.mark_failed()
    envelope.mark_dispatched()
    envelope.mark_acknowledged()
    envelope.mark_processed()
    return envelope.to_audit_line()


if __name__ == "__main__":
    runs = 200_000
    best = min(timeit.repeat(lifecycle, number=runs, repeat=5))
    print(f"reference package: {best / runs * 1e9:.0f} ns per envelope (best of 5 x {runs})")
