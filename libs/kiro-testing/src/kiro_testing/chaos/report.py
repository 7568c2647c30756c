"""The chaos run's report as tables (what `make chaos` prints)."""

from __future__ import annotations

from collections import Counter

from kiro_testing.chaos.ledger import Report


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(out)


def render(report: Report) -> str:
    load = report.load()
    failed = [r for r in report.records if not r.ok]
    kinds = Counter(f"{r.api}/{'stream' if r.stream else 'json'}" for r in load)
    parts = [
        f"Kiro2API chaos run ({'short' if report.options.get('short') == 'True' else 'full'}), "
        f"{report.duration_s:.0f}s",
        "",
        _table(
            ["requests sent", "succeeded", "failed", "allowed", "outside the rules", "hangs"],
            [
                [
                    str(len(load)),
                    str(sum(r.ok for r in load)),
                    str(sum(not r.ok for r in load)),
                    str(sum(1 for r in failed if r.verdict and r.verdict != "OUTSIDE THE RULES")),
                    str(sum(1 for r in failed if r.verdict == "OUTSIDE THE RULES")),
                    str(sum(r.klass == "hang" for r in report.records)),
                ]
            ],
        ),
        "mix: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())),
        "",
        "failures",
        _table(
            ["#", "t (s)", "request", "reason", "attributed to"],
            [
                [
                    str(r.id),
                    f"{r.started:.2f}-{r.ended:.2f}",
                    f"{r.api}/{'stream' if r.stream else 'json'}",
                    r.reason[:90],
                    r.verdict,
                ]
                for r in failed
            ],
        )
        if failed
        else "  none",
        "",
        "faults",
        _table(
            ["fault", "at (s)", "restored (s)", "recovery (s)", "failures", "note"],
            [
                [f.name, f"{f.started:.2f}", _fmt(f.restored), _fmt(f.recovery_s), str(f.failures), f.note]
                for f in report.faults
            ],
        ),
        "",
        "credentials (refresh token = fingerprint in the broker's store; sim = the simulator's current one)",
        _table(
            [
                "id",
                "status before",
                "status after",
                "generation",
                "sim refreshes",
                "token before",
                "token after",
                "matches sim",
                "forced refresh",
            ],
            [
                [
                    a.id,
                    b.status if b else "-",
                    a.status,
                    f"{b.generation if b else '-'} -> {a.generation}",
                    f"{b.sim_refreshes if b else '-'} -> {a.sim_refreshes}",
                    b.fingerprint if b else "-",
                    a.fingerprint,
                    "yes" if a.matches else "NO",
                    report.forced_refresh.get(a.id, "-"),
                ]
                for a in report.after
                for b in [next((x for x in report.before if x.id == a.id), None)]
            ],
        ),
        "",
        f"usage ({report.usage_method})",
        _table(["what", "clients were told", "server", "result"], [list(r) for r in report.usage_rows])
        if report.usage_rows
        else "  -",
        "",
        f"secrets in service logs: {len(report.secrets_found)}"
        + "".join(f"\n  {s}" for s in report.secrets_found[:20]),
        "",
        "RESULT: PASS"
        if report.passed
        else "RESULT: FAIL\n" + "\n".join(f"  - {p}" for p in report.problems),
    ]
    return "\n".join(parts) + "\n"


# -------------------------------------------------------------------------------- entry point
