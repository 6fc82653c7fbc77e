"""Turn one benchmark run into the side-by-side tables, the target verdicts and the plot."""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path

from load import Stats

# The targets of issue 17, as ratios against the echo floor on the same machine.
THROUGHPUT_RATIO_MIN = 0.85  # daemon / echo, 50 requests in flight
P50_EXTRA_MS_MAX = 0.4       # daemon p50 - echo p50, 1 request in flight
RSS_MB_MAX = 64.0            # daemon peak resident set
READY_S_MAX = 1.0            # spawn -> READY=1
CLASSIFY_P50_US_MAX = 250.0  # Model.classify of one utterance, default runtime (issue 13)


def _f(x: float | None, fmt: str = ".2f") -> str:
    return "n/a" if x is None or x != x else format(x, fmt)


def targets(r: dict, name: str) -> list[tuple[str, str, str, bool]]:
    """(what, measured, goal, met) for one daemon variant."""
    e = r["e2e"]
    w50, w1 = e["w50"], e["w1"]
    ratio = w50[name].throughput / w50["echo"].throughput
    extra = w1[name].p(50) - w1["echo"].p(50)
    mem = e["mem"][name]
    peak = max(mem.get("peak_sampled") or 0.0, mem.get("vmhwm") or 0.0)
    # Sequential cold starts only: in the end-to-end section every responder starts at once, on purpose.
    ready = max(r["startup"][name]["ready"])
    cpu = f"{w50[name].cpu_us_per_request:,.0f} µs (echo {w50['echo'].cpu_us_per_request:,.0f})"
    return [
        ("throughput, 50 in flight: daemon / echo", f"x{ratio:.2f}", f">= {THROUGHPUT_RATIO_MIN}",
         ratio >= THROUGHPUT_RATIO_MIN),
        ("p50 latency, 1 in flight: daemon - echo", f"{extra:+.2f} ms", f"<= {P50_EXTRA_MS_MAX} ms",
         extra <= P50_EXTRA_MS_MAX),
        ("peak RSS (max of psutil samples and VmHWM)", f"{peak:.1f} MB", f"<= {RSS_MB_MAX:.0f} MB", peak <= RSS_MB_MAX),
        ("spawn -> READY=1 (worst start)", f"{ready:.2f} s", f"<= {READY_S_MAX:.0f} s", ready <= READY_S_MAX),
        ("CPU per request, 50 in flight (reported)", cpu, "–", True),
    ]


def classify_p50(r: dict) -> float | None:
    """`Model.classify` single-utterance p50 (µs), 1 thread, under the default runtime, no levers."""
    raw = r["raw"][0]
    for x in raw["rows"]:
        if x.model == "int8 Model.classify" and x.threads == 1:
            return x.p50_us
    return None


def targets_met(r: dict) -> bool:
    c = classify_p50(r)
    return all(t[3] for t in targets(r, next(iter(r["daemons"])))) and c is not None and c <= CLASSIFY_P50_US_MAX


def _knee(points: list[dict]) -> str:
    """The highest offered rate a responder kept up with (achieved >= 95 %, p50 under 50 ms)."""
    ok = [p["offered"] for p in points if p["achieved"] >= 0.95 * p["offered"] and p["p50"] < 50 and not p["lost"]]
    return f"{max(ok):,} /s" if ok else "n/a"


def summary(r: dict) -> list[str]:
    """The README table: echo and every daemon measured (the first is the default install)."""
    e, st, raw = r["e2e"], r["startup"], r["raw"]
    daemons = list(r["daemons"])
    cols = ["echo", *daemons]
    w1, w50 = e["w1"], e["w50"]

    def raw_p50(name: str) -> str:
        if name == "echo":
            return "–"
        want = "int8 Model.classify" + (f" + {name.split(' + ', 1)[1].rstrip(')')}" if " + " in name else "")
        runtime = name[len("daemon ("):].split(" + ")[0].rstrip(")")
        for block in raw:
            for x in block["rows"]:
                if x.model == want and x.threads == 1 and x.runtime == runtime:
                    return f"{x.p50_us:,.0f} µs"
        return "n/a"

    rows = [
        ("request → reply p50, 1 in flight", lambda n: f"{w1[n].p(50):.2f} ms" + (
            "" if n == "echo" else f" ({w1[n].p(50) - w1['echo'].p(50):+.2f})"), f"≤ echo + {P50_EXTRA_MS_MAX} ms"),
        ("request → reply p95, 1 in flight", lambda n: f"{w1[n].p(95):.2f} ms", ""),
        ("throughput, 50 in flight", lambda n: f"{w50[n].throughput:,.0f} /s" + (
            "" if n == "echo" else f" (x{w50[n].throughput / w50['echo'].throughput:.2f})"), f"≥ {THROUGHPUT_RATIO_MIN} × echo"),
        ("highest offered rate kept up with", lambda n: _knee(e["sweep"][n]), ""),
        ("CPU per request, 1 in flight", lambda n: f"{w1[n].cpu_us_per_request:,.0f} µs", "reported"),
        ("CPU per request, 50 in flight", lambda n: f"{w50[n].cpu_us_per_request:,.0f} µs", "reported"),
        ("mosquitto's CPU per request, 50 in flight", lambda n: f"{w50[n].broker_us_per_request:,.0f} µs", ""),
        ("`Model.classify`, one utterance, p50", raw_p50, f"≤ {CLASSIFY_P50_US_MAX:.0f} µs (default runtime)"),
        ("peak RSS", lambda n: f"{max(e['mem'][n].get('peak_sampled') or 0, e['mem'][n].get('vmhwm') or 0):.1f} MB",
         f"≤ {RSS_MB_MAX:.0f} MB"),
        ("spawn → READY=1, worst of starts", lambda n: f"{max(st[n]['ready']):.2f} s", "≤ 1 s"),
    ]
    out = ["## Summary", "", "| | " + " | ".join(cols) + " | target |", "|---|" + "---|" * (len(cols) + 1)]
    out += [f"| {label} | " + " | ".join(fn(n) for n in cols) + f" | {goal} |" for label, fn, goal in rows]
    return out


def render(r: dict, command: str) -> str:
    m = r["machine"]
    e = r["e2e"]
    st = r["startup"]
    daemons = list(r["daemons"])
    names = ["echo", *daemons]
    lines = [
        "# edge benchmark results",
        "",
        f"Measured {m['when']} on {m['cpu']}, {m['cores']} cores ({m['machine']}, Linux {m['kernel']}, "
        f"Python {m['python']}); model `{r['raw'][0]['model']}`; {r['n_texts']} utterances (CLINC150 val) cycled."
        + (" **Quick run: short samples, indicative only.**" if r["quick"] else "")
        + (f" **Note:** {r['note']}" if r.get("note") else ""),
        "",
        f"Command: `.venv/bin/python {command}`",
        "",
    ]
    lines += summary(r) + ["", "## Targets (issue 17), every daemon measured", "",
                           "| target | goal | " + " | ".join(daemons) + " |", "|---|---|" + "---|" * len(daemons)]
    per = {d: targets(r, d) for d in daemons}
    for i, (what, _m, goal, _ok) in enumerate(per[daemons[0]]):
        cells = [f"{per[d][i][1]}" + ("" if per[d][i][3] else " **(missed)**") for d in daemons]
        lines.append(f"| {what} | {goal} | " + " | ".join(cells) + " |")
    c = classify_p50(r)
    lines.append(f"| `Model.classify`, one utterance, p50 ({r['raw'][0]['runtime']}; issue 13) | "
                 f"<= {CLASSIFY_P50_US_MAX:.0f} µs | " + _f(c, ",.0f") + " µs"
                 + ("" if c is not None and c <= CLASSIFY_P50_US_MAX else " **(missed)**") + " |" + " |" * (len(daemons) - 1))
    lines += [
        "",
        "## 1. Raw model",
        "",
        "Interpreter rows: `set_tensor + invoke + get_tensor` on pre-tokenized ids, wall clock. `Model.classify` "
        "rows add normalisation, sentencepiece, padding, dequantize and softmax (the daemon's real per-call cost).",
        "",
    ]
    raw0 = r["raw"][0]
    lines.append(f"int8 file {raw0['int8_bytes'] / 2**20:.2f} MB"
                 + (f"; float file {raw0['float_bytes'] / 2**20:.2f} MB ({raw0['float_note']})"
                    if raw0["float_bytes"] else ""))
    lines += ["", "| runtime | model | threads | single p50 (µs) | single p95 (µs) | batch-32 (utterances/s) | note |",
              "|---|---|---|---|---|---|---|"]
    for raw in r["raw"]:
        lines += [f"| {x.runtime} | {x.model} | {x.threads} | {x.p50_us:.1f} | {x.p95_us:.1f} | "
                  f"{x.batch32_per_s:,.0f} | {x.note} |" for x in raw["rows"]]
    if not raw0["float_found"]:
        lines += ["", f"**No float rows:** {raw0['float_note']}"]
    for raw in r["raw"]:
        b = raw["breakdown"]
        if not b:
            continue
        lines.append(f"\nOne `Model.classify([text])` under {raw['runtime']}, median by stage: tokenize "
                     f"{b['tokenize']:.1f} µs, interpreter {b['interpreter']:.1f} µs, softmax/argmax {b['softmax']:.1f} µs.")
    if any(raw.get("buckets") for raw in r["raw"]):
        lines += ["", "`Model.classify([text])` by the input length it runs at (" + (
            "variable-length export: the smallest bucket holding the utterance" if raw0.get("variable_length")
            else "fixed-length export: always max_len") + "), p50 / p95 µs and share of the texts:", "",
            "| runtime | " + " | ".join(f"length {b}" for b in sorted({int(k) for raw in r["raw"]
                                                                        for k in raw.get("buckets", {})})) + " |",
            "|---|" + "---|" * len({k for raw in r["raw"] for k in raw.get("buckets", {})})]
        keys = sorted({int(k) for raw in r["raw"] for k in raw.get("buckets", {})})
        for raw in r["raw"]:
            bk = raw.get("buckets") or {}
            if bk:
                lines.append(f"| {raw['runtime']} | " + " | ".join(
                    f"{bk[str(k)]['p50_us']:.0f} / {bk[str(k)]['p95_us']:.0f} ({bk[str(k)]['share']:.0%})"
                    if str(k) in bk else "–" for k in keys) + " |")
    w1, w50 = e["w1"], e["w50"]
    lines += [
        "",
        "## 2. End to end, QoS 1, through mosquitto (loopback, TCP_NODELAY)",
        "",
        "Latency: request `publish()` to the reply's arrival (the last of the three QoS 1 publications). "
        "All responders run at once on the same broker and take turns under the same load generator.",
        "",
        "| load | | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for label, st_ in (("1 in flight", w1), ("50 in flight", w50)):
        for what in ("p50", "p95"):
            q = 50 if what == "p50" else 95
            cells = [f"{st_[n].p(q):.2f} ms" + ("" if n == "echo" else f" ({st_[n].p(q) - st_['echo'].p(q):+.2f})")
                     for n in names]
            lines.append(f"| {label} | {what} | " + " | ".join(cells) + " |")
        cells = [f"{st_[n].throughput:,.0f} /s" + ("" if n == "echo" else
                                                    f" (x{st_[n].throughput / st_['echo'].throughput:.2f})")
                 for n in names]
        lines.append(f"| {label} | throughput | " + " | ".join(cells) + " |")
        cells = [f"{st_[n].cpu_us_per_request:,.0f} µs" + ("" if n == "echo" else
                                                          f" (x{st_[n].cpu_us_per_request / st_['echo'].cpu_us_per_request:.2f})")
                 for n in names]
        lines.append(f"| {label} | CPU per request (responder) | " + " | ".join(cells) + " |")
        lines.append(f"| {label} | CPU per request (mosquitto) | " + " | ".join(
            f"{st_[n].broker_us_per_request:,.0f} µs" for n in names) + " |")
    lines += [
        "",
        "Latency against offered load (open loop; a responder's sweep stops after the first rate it cannot "
        "keep up with). Cells: achieved /s, p50 / p95 ms.",
        "",
        "| offered /s | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    sweep = e["sweep"]
    for rate in sorted({p["offered"] for ps in sweep.values() for p in ps}):
        cells = []
        for n in names:
            p = next((p for p in sweep[n] if p["offered"] == rate), None)
            cells.append("saturated" if p is None else
                         f"{p['achieved']:,.0f}; {p['p50']:.2f} / {p['p95']:.2f}" + (f"; {p['lost']} lost" if p["lost"] else ""))
        lines.append(f"| {rate} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## 3. Memory and start-up",
        "",
        "| | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    mem = e["mem"]
    lines.append("| peak RSS, psutil every 20 ms (MB) | " + " | ".join(
        _f(mem[n].get("peak_sampled"), ".1f") for n in names) + " |")
    for key, label in (("vmhwm", "VmHWM (MB)"), ("rss", "RSS after the load (MB)"), ("uss", "USS after the load (MB)"),
                       ("pss", "PSS after the load (MB)")):
        lines.append(f"| {label} | " + " | ".join(_f(mem[n].get(key), ".1f") for n in names) + " |")
    n_starts = len(st["echo"]["ready"])
    for key, label in (("ready", "spawn -> READY=1"), ("online", "spawn -> `online` retained on <base>/status")):
        lines.append(f"| {label}, median / worst of {n_starts} (s) | " + " | ".join(
            f"{statistics.median(st[n][key]):.3f} / {max(st[n][key]):.3f}" for n in names) + " |")
    phases = e.get("rss_phases", {})
    if phases:
        for i, (ph, _v) in enumerate(next(iter(phases.values()))):
            lines.append(f"| RSS after {ph} (MB) | " + " | ".join(
                _f(phases[n][i][1], ".1f") if n in phases else "n/a" for n in names) + " |")
    lines.append("| exit status after SIGTERM | " + " | ".join(str(e["exit"][n]) for n in names) + " |")
    return "\n".join(lines) + "\n"


def jsonable(x: object) -> object:
    if isinstance(x, Stats):
        return jsonable({"sent": x.sent, "done": x.done, "elapsed_s": x.elapsed_s, "throughput": x.throughput,
                         "p50_ms": x.p(50), "p95_ms": x.p(95), "p99_ms": x.p(99), "n": len(x.lat_ms),
                         "cpu_ms": x.cpu_ms, "replies": x.replies, "cpu_us_per_request": x.cpu_us_per_request,
                         "broker_cpu_ms": x.broker_cpu_ms, "broker_us_per_request": x.broker_us_per_request})
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return jsonable(dataclasses.asdict(x))
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, float) and x != x:
        return None
    return x


def plot(r: dict, path: Path) -> None:
    """p50 and p95 latency against achieved throughput, daemon and echo, log latency axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep = r["e2e"]["sweep"]
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    colors = ["tab:gray", "tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    for k, (name, pts) in enumerate(sweep.items()):
        if not pts:
            continue
        color, label = colors[k % len(colors)], ("echo floor (no model)" if name == "echo" else name)
        x = [p["offered"] for p in pts]
        ax.plot(x, [p["p50"] for p in pts], "o-", color=color, label=f"{label}, p50")
        ax.plot(x, [p["p95"] for p in pts], "s--", color=color, alpha=0.7, label=f"{label}, p95")
    ax.set_yscale("log")
    ax.set_xlabel("offered load (requests/s, QoS 1, open loop)")
    ax.set_ylabel("request -> reply latency (ms)")
    m = r["machine"]
    ax.set_title(f"edge vs bare paho echo, mosquitto on loopback\n{m['cpu']} x{m['cores']}, {m['when']}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
