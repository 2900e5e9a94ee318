"""The audit viewer's wording of action codes and extra data (accounts.audit_display)."""

from accounts.audit_display import ACTION_LABELS, action_label, details


def test_every_known_code_has_a_sentence_and_unknown_codes_still_read() -> None:
    assert action_label("auth.login_failed") == "Failed to log in"
    assert action_label("privacy.request_export") == "Asked for a copy of their data"
    assert action_label("privacy.request_done") == "Closed a privacy request as done"
    assert action_label("privacy.request_something") == "Privacy request: something"
    assert action_label("billing.thing_done") == "Billing thing done"
    assert action_label("") == "—"
    assert all(label and label[0].isupper() for label in ACTION_LABELS.values())


def test_details_are_short_readable_and_hide_ids_and_raw_before_after() -> None:
    rows = details({"fields": ["phone", "email"], "count": 3, "client_ids": list(range(40)),
                    "before": {"a": 1, "b": True}, "after": {"a": 2, "b": True}, "note": "x" * 300,
                    "empty": "", "accept_unknown_accounts": False})
    assert ("Fields", "phone, email") in rows and ("Count", "3") in rows
    assert ("Changed", "a: 1 → 2") in rows and ("Clients", "40 clients") in rows
    assert ("Accept unknown accounts", "no") in rows
    note = dict(rows)["Note"]
    assert len(note) == 120 and note.endswith("…")
    assert "Empty" not in dict(rows) and "Before" not in dict(rows)
    assert details({}) == []


def test_every_action_the_code_records_has_its_own_sentence() -> None:
    """Each literal action code passed to audit() anywhere in the apps is worded (the f-string
    privacy.request_* ones by their endings)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    codes: set[str] = set()
    for app in ("accounts", "billing", "clients", "meters", "notifications", "payments", "privacy", "tenants",
                "majismart"):
        for path in (root / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            text = path.read_text()
            for call in re.finditer(r"audit\((?:[^()]|\([^()]*\))*\)", text):
                codes.update(re.findall(r"action=\"([a-z_]+\.[a-z0-9_.]+)\"", call.group(0)))
                codes.update(re.findall(r"else \"([a-z_]+\.[a-z0-9_.]+)\"", call.group(0)))
    assert len(codes) > 50
    assert sorted(codes - set(ACTION_LABELS)) == []
