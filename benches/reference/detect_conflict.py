"""detect_conflict on the reference Python package, on the mix of benches/reconcile.rs:
equal values, a one-sided change, a two-sided change (a conflict), an excluded field.

    pip install integration-automation-patterns==0.1.0
    python3 benches/reference/detect_conflict.py
"""

import timeit

from integration_automation_patterns import RecordAuthority, SyncBoundary

boundary = SyncBoundary(
    record_type="contact",
    system_a_id="crm",
    system_b_id="erp",
    field_authority={
        "email": RecordAuthority.SYSTEM_A,
        "phone": RecordAuthority.SYSTEM_B,
        "name": RecordAuthority.SHARED,
    },
    excluded_fields={"internal_notes"},
)

CASES = [
    ("email", "ada@example.com", "ada@example.com", "ada@example.com"),  # equal
    ("phone", "+44 20 7946 0000", "+44 20 7946 0001", "+44 20 7946 0000"),  # one-sided
    ("name", "Ada Lovelace", "Ada King", "Ada Byron"),  # two-sided: a conflict
    ("internal_notes", "vip", "churn risk", None),  # excluded
]


def mix() -> int:
    found = 0
    for field, value_a, value_b, base in CASES:
        if boundary.detect_conflict(field, value_a, value_b, "contact-42", base) is not None:
            found += 1
    return found


if __name__ == "__main__":
    runs = 200_000
    best = min(timeit.repeat(mix, number=runs, repeat=5))
    print(f"reference package: {best / runs / len(CASES) * 1e9:.0f} ns per detect_conflict call")
