#!/usr/bin/env python3
"""metrics_check.py STATS_TXT METRICS_TXT STATS_JSON [EARLIER_METRICS_TXT...]

Compares hepagent's counters as --stats printed them at exit ("name value"
lines, "group[instance].name value" for instances) with a /metrics scrape
(parsed by prometheus_client's text parser, the one Prometheus' Python
client uses) and a /stats scrape (JSON) taken just before the exit, with
nothing happening in between:
  * every --stats value is in /metrics and in /stats, and nothing else is;
  * the values are equal (uptime, max RSS and the endpoint's own counts may
    only have grown);
  * families ending in _total are counters, the others gauges, each with HELP;
  * the earlier scrapes (taken while traffic ran) parse too, and no counter
    ever went down from one scrape to the next or to the last.
Exits 1 naming each difference."""
import json
import re
import sys

from prometheus_client.parser import text_string_to_metric_families

# may have grown between the last scrape and the exit: the scrapes themselves
MAY_GROW = {"process.uptime_seconds", "process.max_rss_kb", "metrics.accepted", "metrics.requests"}
MAY_CHANGE = {"metrics.connections"}  # the scrape's own connection was open


def parse_stats(path):
    out = []
    for line in open(path):
        m = re.match(r"^(\S+) (\d+)$", line.rstrip("\n"))
        if not m:
            continue  # log lines interleaved on stderr
        name, value = m.group(1), int(m.group(2))
        inst = re.match(r"^([^\[]+)\[(.*)\]\.(.+)$", name)
        if inst:
            out.append((inst.group(1) + "." + inst.group(3), inst.group(2), value))
        else:
            out.append((name, None, value))
    return out


def parse_metrics(text, problems, where):
    samples = {}  # (sample name, label value or None) -> value
    for fam in text_string_to_metric_families(text):
        if fam.documentation == "":
            problems.append(f"{where}: {fam.name} has no HELP")
        for s in fam.samples:
            counter = s.name.endswith("_total")
            if counter != (fam.type == "counter"):
                problems.append(f"{where}: {s.name} is typed {fam.type}")
            if len(s.labels) > 1:
                problems.append(f"{where}: {s.name} has labels {s.labels}")
            label = next(iter(s.labels.values())) if s.labels else None
            key = (s.name, label)
            if key in samples:
                problems.append(f"{where}: {s.name}{s.labels} appears twice")
            samples[key] = s.value
    return samples


def metric_name(dotted):
    return "hepagent_" + re.sub(r"[^A-Za-z0-9_:]", "_", dotted)


def main():
    stats_path, metrics_path, json_path = sys.argv[1:4]
    earlier = sys.argv[4:]
    problems = []
    stats = parse_stats(stats_path)
    if len(stats) < 20:
        problems.append(f"--stats printed only {len(stats)} values")
    metrics = parse_metrics(open(metrics_path).read(), problems, "last scrape")
    doc = json.load(open(json_path))
    seen = set()
    equal = 0
    for dotted, inst, value in stats:
        base = metric_name(dotted)
        key = next((k for k in ((base + "_total", inst), (base, inst)) if k in metrics), None)
        if key is None:
            problems.append(f"{dotted}[{inst}] is not in /metrics")
            continue
        seen.add(key)
        got = metrics[key]
        group, _, leaf = dotted.partition(".")
        node = doc
        for k in ([group, inst, leaf] if inst is not None else [group, leaf] if leaf else [group]):
            node = node.get(k) if isinstance(node, dict) else None
        if dotted in MAY_CHANGE:
            continue
        if dotted in MAY_GROW:
            if not got <= value:
                problems.append(f"{dotted}: {got:.0f} in /metrics, then {value} at exit")
            continue
        if got != value:
            problems.append(f"{dotted}[{inst}]: /metrics {got:.0f}, --stats {value}")
        elif node != value:
            problems.append(f"{dotted}[{inst}]: /stats {node}, --stats {value}")
        else:
            equal += 1
    for key in metrics:
        if key not in seen:
            problems.append(f"{key[0]}{{{key[1]}}} is in /metrics but not in --stats")
    # earlier scrapes: parse, and counters never go down
    series = [parse_metrics(open(p).read(), problems, p) for p in earlier] + [metrics]
    for a, b in zip(series, series[1:]):
        for key, v in a.items():
            if key[0].endswith("_total") and key in b and b[key] < v:
                problems.append(f"{key}: went down from {v:.0f} to {b[key]:.0f}")
    for p in problems:
        print("metrics_check:", p, file=sys.stderr)
    if problems:
        return 1
    print(f"   {equal} values equal in --stats, /metrics and /stats "
          f"({len(stats)} in all; {len(earlier)} earlier scrapes parsed, counters monotonic)")
    return 0


sys.exit(main())
