"""The inbox workload of benches/store.rs on the reference package's later SQLite
store (0.44.2, SQLiteOutbox.consume): admissions with half of them duplicates,
one transaction each.

    pip install integration-automation-patterns==0.44.2
    python3 benches/reference/sqlite_consume.py
"""

import os
import tempfile
import time

from integration_automation_patterns.sqlite_outbox import SQLiteOutbox

ADMISSIONS = 4_000

with tempfile.TemporaryDirectory() as directory:
    box = SQLiteOutbox(os.path.join(directory, "inbox.db"))
    box.consume("setup", {}, lambda db, _: db.execute("CREATE TABLE effects (order_id INTEGER)"))
    started = time.perf_counter()
    for n in range(ADMISSIONS):
        order = n // 2  # every event arrives twice
        box.consume(
            f"order-{order}",
            {"order_id": order, "amount": "19.90"},
            lambda db, payload: db.execute("INSERT INTO effects VALUES (?)", (payload["order_id"],)),
        )
    elapsed = time.perf_counter() - started
    print(f"reference package: {ADMISSIONS / elapsed:.0f} admissions per second")
