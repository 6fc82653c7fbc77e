"""Turn one benchmark run into the side-by-side tables, the target verdicts and the plot."""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path

from load import Stats

# The targets of issue 8, as ratios against the echo floor on the same machine.
THROUGHPUT_RATIO_MIN = 0.9   # daemon / echo, 50 requests in flight
P50_EXTRA_MS_MAX = 0.5       # daemon p50 - echo p50, 1 request in flight
RSS_MB_MAX = 60.0            # daemon peak resident set
READY_S_MAX = 1.0            # spawn -> READY=1


def _f(x: float | None, fmt: str = ".2f") -> str:
    return "n/a" if x is None or x != x else format(x, fmt)


def targets(r: dict) -> list[tuple[str, str, str, bool]]:
    """(what, measured, target, met) for each target."""
    e = r["e2e"]
    w50, w1 = e["w50"], e["w1"]
    ratio = w50["daemon"].throughput / w50["echo"].throughput
    extra = w1["daemon"].p(50) - w1["echo"].p(50)
    peak = max(e["daemon_rss_peak_mb"], e.get("daemon_vmhwm_mb") or 0.0)
    ready = max(r["startup"]["daemon_ready"] + [e["ready_s"]["daemon"]])
    return [
        ("throughput, 50 in flight: daemon / echo", f"{ratio:.2f}", f">= {THROUGHPUT_RATIO_MIN}", ratio >= THROUGHPUT_RATIO_MIN),
        ("p50 latency, 1 in flight: daemon - echo", f"{extra:+.2f} ms", f"<= {P50_EXTRA_MS_MAX} ms", extra <= P50_EXTRA_MS_MAX),
        ("daemon peak RSS (max of psutil samples, VmHWM)", f"{peak:.1f} MB", f"<= {RSS_MB_MAX:.0f} MB", peak <= RSS_MB_MAX),
        ("spawn -> READY=1 (worst of all starts)", f"{ready:.2f} s", f"<= {READY_S_MAX:.0f} s", ready <= READY_S_MAX),
    ]


def targets_met(r: dict) -> bool:
    return all(t[3] for t in targets(r))


def render(r: dict, command: str) -> str:
    m = r["machine"]
    raw = r["raw"]
    e = r["e2e"]
    st = r["startup"]
    lines = [
        "# edge benchmark results",
        "",
        f"Measured {m['when']} on {m['cpu']}, {m['cores']} cores ({m['machine']}, Linux {m['kernel']}, "
        f"Python {m['python']}); model `{raw['model']}`; {r['n_texts']} utterances (CLINC150 val) cycled."
        + (" **Quick run: short samples, indicative only.**" if r["quick"] else ""),
        "",
        f"Command: `.venv/bin/python {command}`",
        "",
        "## Targets (issue 8)",
        "",
        "| target | measured | goal | met |",
        "|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {'yes' if d else '**no**'} |" for a, b, c, d in targets(r)]
    lines += [
        "",
        "## 1. Raw model",
        "",
        "Interpreter rows: `set_tensor + invoke + get_tensor` on pre-tokenized ids. `Model.classify` rows add "
        "normalisation, sentencepiece, padding, dequantize and softmax (the daemon's real per-call cost).",
        "",
        f"int8 file {raw['int8_bytes'] / 2**20:.2f} MB"
        + (f", float file {raw['float_bytes'] / 2**20:.2f} MB" if raw["float_bytes"] else "")
        + (f" ({raw['float_note']})" if raw["float_note"] else ""),
        "",
        "| model | threads | single p50 (µs) | single p95 (µs) | batch-32 (utterances/s) | note |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {x.model} | {x.threads} | {x.p50_us:.1f} | {x.p95_us:.1f} | {x.batch32_per_s:,.0f} | {x.note} |"
              for x in raw["rows"]]
    if not raw["float_found"]:
        lines += ["", f"**No float row:** {raw['float_note']}"]
    b = raw["breakdown"]
    lines += ["", f"One `Model.classify([text])`, median by stage: tokenize {b['tokenize']:.1f} µs, "
              f"interpreter {b['interpreter']:.1f} µs, softmax/argmax {b['softmax']:.1f} µs.", ""]
    w1, w50 = e["w1"], e["w50"]
    lines += [
        "## 2. End to end, QoS 1, through mosquitto (loopback, TCP_NODELAY)",
        "",
        "Latency: request `publish()` to the reply's arrival (the last of the three QoS 1 publications). "
        "Echo and daemon alternate on the same broker in the same run.",
        "",
        "| load | | echo (floor) | daemon | daemon vs echo |",
        "|---|---|---|---|---|",
        f"| 1 in flight | p50 | {w1['echo'].p(50):.2f} ms | {w1['daemon'].p(50):.2f} ms | "
        f"{w1['daemon'].p(50) - w1['echo'].p(50):+.2f} ms |",
        f"| 1 in flight | p95 | {w1['echo'].p(95):.2f} ms | {w1['daemon'].p(95):.2f} ms | "
        f"{w1['daemon'].p(95) - w1['echo'].p(95):+.2f} ms |",
        f"| 50 in flight | throughput | {w50['echo'].throughput:,.0f} /s | {w50['daemon'].throughput:,.0f} /s | "
        f"x{w50['daemon'].throughput / w50['echo'].throughput:.2f} |",
        f"| 50 in flight | p50 | {w50['echo'].p(50):.2f} ms | {w50['daemon'].p(50):.2f} ms | "
        f"{w50['daemon'].p(50) - w50['echo'].p(50):+.2f} ms |",
        f"| 50 in flight | p95 | {w50['echo'].p(95):.2f} ms | {w50['daemon'].p(95):.2f} ms | "
        f"{w50['daemon'].p(95) - w50['echo'].p(95):+.2f} ms |",
        "",
        "Latency against offered load (open loop; a responder's sweep stops after the first rate it cannot keep up with):",
        "",
        "| offered /s | echo achieved | echo p50 / p95 (ms) | daemon achieved | daemon p50 / p95 (ms) |",
        "|---|---|---|---|---|",
    ]
    sweep = e["sweep"]
    for rate in sorted({p["offered"] for ps in sweep.values() for p in ps}):
        cells = []
        for name in ("echo", "daemon"):
            p = next((p for p in sweep[name] if p["offered"] == rate), None)
            cells += ["—", "saturated"] if p is None else [
                f"{p['achieved']:,.0f}" + (f" ({p['lost']} lost)" if p["lost"] else ""),
                f"{p['p50']:.2f} / {p['p95']:.2f}"]
        lines.append(f"| {rate} | " + " | ".join(cells) + " |")
    mem = e.get("daemon_mem") or {}
    lines += [
        "",
        "## 3. Memory and start-up",
        "",
        f"Daemon peak RSS: {e['daemon_rss_peak_mb']:.1f} MB (psutil, {e['daemon_rss_samples']} samples every 20 ms "
        f"over the whole run) / VmHWM {_f(e.get('daemon_vmhwm_mb'), '.1f')} MB; at the end of the load: "
        f"RSS {_f(mem.get('rss'), '.1f')}, USS {_f(mem.get('uss'), '.1f')}, PSS {_f(mem.get('pss'), '.1f')} MB. "
        f"Echo floor VmHWM {_f(e.get('echo_vmhwm_mb'), '.1f')} MB. Daemon exit status after SIGTERM: {e['daemon_exit']}.",
        "",
        f"| cold start ({len(st['daemon_ready'])} runs) | median | worst |",
        "|---|---|---|",
    ]
    for key, label in (("daemon_ready", "daemon: spawn -> READY=1"), ("daemon_online", "daemon: spawn -> `online`"),
                       ("echo_ready", "echo: spawn -> READY=1"), ("echo_online", "echo: spawn -> `online`")):
        v = st[key]
        lines.append(f"| {label} | {statistics.median(v):.3f} s | {max(v):.3f} s |")
    return "\n".join(lines) + "\n"


def jsonable(x: object) -> object:
    if isinstance(x, Stats):
        return {"sent": x.sent, "done": x.done, "elapsed_s": x.elapsed_s, "throughput": x.throughput,
                "p50_ms": x.p(50), "p95_ms": x.p(95), "p99_ms": x.p(99), "n": len(x.lat_ms)}
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
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    style = {"echo": ("tab:gray", "echo floor (no model)"), "daemon": ("tab:blue", "edge daemon")}
    for name, pts in sweep.items():
        if not pts:
            continue
        color, label = style[name]
        x = [p["offered"] for p in pts]
        ax.plot(x, [p["p50"] for p in pts], "o-", color=color, label=f"{label}, p50")
        ax.plot(x, [p["p95"] for p in pts], "s--", color=color, alpha=0.7, label=f"{label}, p95")
    ax.set_yscale("log")
    ax.set_xlabel("offered load (requests/s, QoS 1, open loop)")
    ax.set_ylabel("request -> reply latency (ms)")
    m = r["machine"]
    ax.set_title(f"edge vs bare paho echo, mosquitto on loopback\n{m['cpu']} x{m['cores']}, {m['when']}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
