"""The report: the table of figures against targets, and the plot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .measure import rounded
from .settings import (
    SATURATION_MIN,
    SESSION_KB_AT_2000,
    SUSTAINED,
    TARGETS,
    WINDOW_P99_MS,
    WINDOW_SERVER_CPU_PCT,
)


def judge(all_results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each figure worth a line in the table, with its target and whether it is met."""
    rows: list[dict[str, Any]] = []
    results = {k: v for k, v in all_results.items() if not (isinstance(v, dict) and "error" in v)}

    def row(
        name: str,
        value: Any,
        target: str = "-",
        ok: bool | None = None,
        *,
        src: Sequence[dict[str, Any]] = (),
    ) -> None:
        """``src``: the results the figure comes from, for the generator's CPU beside it."""
        rows.append(
            {
                "metric": name,
                "value": value,
                "target": target,
                "met": ok,
                "loadgen_cpu": generator_cpu(*src),
            }
        )

    p99_target = TARGETS["fanout_p99_ms"]

    def fixed_rate(label: str, r: dict[str, Any]) -> None:
        offered = r["offered_deliveries_per_s"]
        window = (r.get("members"), float(r.get("rate_msgs") or 0))
        p99_max = WINDOW_P99_MS.get(window, p99_target)
        kept_up = r["deliveries_per_s"] >= SUSTAINED * offered and not r["fell_behind"]
        row(
            f"{label}: deliveries/s",
            r["deliveries_per_s"],
            f">= {offered:.0f} (offered)",
            kept_up,
            src=[r],
        )
        row(
            f"{label}: p50 / p99 ms",
            f"{r['p50_ms']} / {r['p99_ms']}",
            f"p99 <= {p99_max:.0f}",
            r["p99_ms"] is not None and r["p99_ms"] <= p99_max,
            src=[r],
        )
        cpu_max = WINDOW_SERVER_CPU_PCT.get(window)
        cpu = r.get("server_cpu_pct")
        if cpu_max is not None and cpu is not None:
            row(
                f"{label}: server CPU % of a core",
                cpu,
                f"<= {cpu_max:.0f} %",
                cpu <= cpu_max,
                src=[r],
            )
        row(
            f"{label}: lag s / undelivered",
            f"{r['lag_s']} / {r['undelivered']}",
            "<= 1 / 0",
            not r["fell_behind"] and r["undelivered"] == 0,
            src=[r],
        )

    hs = results.get("handshakes", {})
    for kind in ("key", "password", "password_one_source"):
        if kind in hs:
            h = hs[kind]
            row(
                f"handshakes/s, {kind.replace('_', ' ')} (conc {h['concurrency']}), p50 ms",
                f"{h['per_second']}, {h['p50_ms']}"
                + (f" ({h['ok']}/{h['count']} ok)" if h["ok"] < h["count"] else ""),
                src=[h],
            )
    ss = results.get("sessions")
    if ss:
        v = ss["rss_per_session_kb"]
        kb_max = SESSION_KB_AT_2000 if ss["connected"] >= 2000 else TARGETS["session_kb"]
        row(
            f"RSS per idle pty session ({ss['connected']} sessions)",
            v,
            f"<= {kb_max:.0f} KB",
            v is not None and v <= kb_max,
            src=[ss],
        )
        row("server RSS with those sessions (MiB)", round(ss["rss_kb"] / 1024, 1), src=[ss])
    fo = results.get("fanout", {})
    sshchat = fo.get("sshchat", {})
    floor = results.get("floor", {})
    for key, r in sshchat.items():
        if key.startswith("saturation_"):
            members = key.split("_", 1)[1]
            at_least = SATURATION_MIN.get(r.get("members"))
            row(
                f"sshchat saturation, {members} members: deliveries/s",
                r["deliveries_per_s"],
                f">= {at_least:,.0f} (max)" if at_least else "max",
                r["deliveries_per_s"] >= at_least if at_least else None,
                src=[r],
            )
        else:
            fixed_rate(f"sshchat, {key} members", r)
    for key, r in floor.items():
        if not isinstance(r, dict) or "deliveries_per_s" not in r:
            continue
        words = key.replace("_", " ")
        row(
            f"floor, {words} members: deliveries/s, p99 ms",
            f"{r['deliveries_per_s']}, {r['p99_ms']}",
            src=[r],
        )
        if key in sshchat and r["deliveries_per_s"]:
            ratio = sshchat[key]["deliveries_per_s"] / r["deliveries_per_s"]
            all_results.setdefault("ratios", {})[key] = rounded(ratio, 2)
            target = TARGETS["floor_ratio"]
            row(
                f"sshchat / floor deliveries/s, {words}",
                rounded(ratio, 2),
                f">= {target}",
                ratio >= target,
                src=[sshchat[key], r],
            )
    for key in ("spread", "spread_saturation"):
        r = fo.get(key)
        if not r:
            continue
        label = f"{r['channels']} channels x {r['members']} members"
        if key == "spread":
            fixed_rate(label, r)
        else:
            full = (r.get("channels"), r.get("members")) == (50, 10)
            at_least = SATURATION_MIN["spread"] if full else None
            row(
                f"{label}, saturation: deliveries/s, p99 ms",
                f"{r['deliveries_per_s']}, {r['p99_ms']}",
                f">= {at_least:,.0f} (max)" if at_least else "max",
                r["deliveries_per_s"] >= at_least if at_least else None,
                src=[r],
            )
    pr = fo.get("presence")
    if pr:
        row(
            f"server CPU ms for one login with {pr['online']} online",
            pr["server_cpu_ms_per_login"],
            src=[pr],
        )
    st = results.get("storm")
    if st:
        v = st["all_prompted_s"]
        row(
            f"reconnect storm: {st['users']} users to first prompt (s)",
            v if v is not None else f"{st['ok']}/{st['users']} made it",
            f"< {TARGETS['storm_s']:.0f} s",
            v is not None and v < TARGETS["storm_s"],
            src=[st],
        )
    bf = results.get("bruteforce")
    if bf:
        v = bf["valid_max_s"]
        ok = bf["valid_ok"] == bf["valid_count"] and v is not None and v < TARGETS["brute_login_s"]
        refused = bf["valid_count"] - bf["valid_ok"]
        row(
            f"valid password login under {bf['attack_rate']:.0f} guesses/s: max s",
            f"{v}" + (f" ({refused} of {bf['valid_count']} refused)" if refused else ""),
            f"< {TARGETS['brute_login_s']:.0f} s each",
            ok,
            src=[bf],
        )
    return rows


def generator_cpu(*sources: dict[str, Any]) -> str:
    """The load generator's CPU while a figure was measured: ``"62 py"`` (% of one core,
    all its processes), or ``"31 go / 9 go"`` for a figure made of two measurements,
    ``"10 go pinned"`` when the generator ran off the server loop's core (``--pin``);
    empty when not recorded (results from before it was).
    """
    parts = []
    for r in sources:
        cpu = r.get("loadgen_cpu_pct")
        if cpu is None:
            continue
        total = sum(cpu) if isinstance(cpu, list) else cpu
        pinned = " pinned" if r.get("pinned") else ""
        parts.append(f"{total:.0f} {'go' if r.get('generator') == 'go' else 'py'}{pinned}")
    return " / ".join(parts)


def print_table(rows: list[dict[str, Any]]) -> None:
    """The figures; ``gen CPU %`` is the load generator's CPU beside each (py or go)."""
    width = max((len(r["metric"]) for r in rows), default=10)
    vwidth = max((len(str(r["value"])) for r in rows), default=10)
    print(f"\n{'metric':<{width}}  {'value':>{vwidth}}  {'target':<20} met  gen CPU %")
    print("-" * (width + vwidth + 39))
    for r in rows:
        met = {True: "yes", False: "NO", None: ""}[r["met"]]
        gen = r.get("loadgen_cpu", "")
        line = f"{r['metric']:<{width}}  {r['value']!s:>{vwidth}}  {r['target']:<20} {met:<4} {gen}"
        print(line.rstrip())


def plot(results: dict[str, Any], path: Path) -> str | None:
    """Deliveries/s and p99 against channel size, sshchat and floor; RSS against sessions."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[bench]'); no plot"
    results = {k: v for k, v in results.items() if not (isinstance(v, dict) and "error" in v)}
    fo = results.get("fanout", {}).get("sshchat", {})
    fl = results.get("floor", {})
    ss = results.get("sessions")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    ax_rate, ax_p99, ax_rss = axes
    spread = {k: results.get("fanout", {}).get(k) for k in ("spread", "spread_saturation")}
    small = {"10": spread["spread"], "saturation_10": spread["spread_saturation"]}
    series = (
        ("sshchat", fo, "o-", "C0"),
        ("floor (bare asyncssh)", fl, "s--", "C1"),
        ("sshchat, 50 channels", small, "D", "C2"),
    )
    for name, data, style, color in series:
        points = sorted((int(k), v) for k, v in data.items() if isinstance(v, dict) and k.isdigit())
        if not points:
            continue
        xs = [m for m, _ in points]
        rates = [v["deliveries_per_s"] for _, v in points]
        ax_rate.plot(xs, rates, style, color=color, label=f"{name}, fixed rate")
        ax_p99.plot(xs, [v["p99_ms"] or 0 for _, v in points], style, color=color, label=name)
        sat = [
            (int(k.split("_")[1]), v)
            for k, v in data.items()
            if k.startswith("saturation_") and isinstance(v, dict)
        ]
        if sat:
            ax_rate.plot(
                [m for m, _ in sat],
                [v["deliveries_per_s"] for _, v in sat],
                style[0],
                color=color,
                markersize=12,
                markerfacecolor="none",
                label=f"{name}, saturation",
            )
    offered = [(int(k), v["offered_deliveries_per_s"]) for k, v in fo.items() if k.isdigit()]
    if spread["spread"]:
        offered.append((10, spread["spread"]["offered_deliveries_per_s"]))
    for m, o in offered:
        ax_rate.plot([m], [o], "_", color="grey", markersize=22)
    ax_rate.plot([], [], "_", color="grey", markersize=12, label="offered (fixed rate)")
    ax_rate.set(
        xlabel="channel members",
        ylabel="deliveries/s",
        title="Fan-out throughput",
        ylim=(0, None),
        xscale="log",
    )
    ax_rate.legend(fontsize=8)
    ax_p99.axhline(TARGETS["fanout_p99_ms"], color="red", linestyle=":", label="target p99")
    ax_p99.set(
        xlabel="channel members",
        ylabel="p99 latency (ms)",
        title="Fan-out p99 send-to-screen latency (fixed rate)",
        yscale="log",
        xscale="log",
    )
    ax_p99.legend(fontsize=8)
    if ss:
        curve = ss["curve"]
        ax_rss.plot(
            [c["sessions"] for c in curve],
            [c["rss_kb"] / 1024 for c in curve],
            "o-",
            label="sshchat RSS",
        )
        base = ss["rss_baseline_kb"] / 1024
        xs = [0, max(c["sessions"] for c in curve)]
        ax_rss.plot(
            xs,
            [base, base + xs[1] * TARGETS["session_kb"] / 1024],
            ":",
            color="red",
            label="target 250 KB/session",
        )
        ax_rss.set(
            xlabel="idle pty sessions", ylabel="server RSS (MiB)", title="Memory of idle sessions"
        )
        ax_rss.legend(fontsize=8)
    else:
        ax_rss.set_visible(False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
