#!/usr/bin/env python3
"""Sums a Chrome trace written by `ctlab_bench --profile FILE` per operator: total time,
calls and share of the traced time, top-level ops only (an op inside another op's time
span on the same thread is counted in its parent)."""
import json
import sys
from collections import defaultdict


def main(path, top=25):
    events = json.load(open(path))
    if isinstance(events, dict):
        events = events.get("traceEvents", [])
    spans = [e for e in events if e.get("ph") == "X" and "dur" in e]
    spans.sort(key=lambda e: (e.get("tid"), e["ts"], -e["dur"]))
    total = defaultdict(float)
    calls = defaultdict(int)
    end_by_tid = {}
    traced = 0.0
    for e in spans:
        tid = e.get("tid")
        if e["ts"] < end_by_tid.get(tid, -1):
            continue  # nested in a counted op
        end_by_tid[tid] = e["ts"] + e["dur"]
        total[e["name"]] += e["dur"]
        calls[e["name"]] += 1
        traced += e["dur"]
    print(f"{'op':40s} {'ms':>10s} {'calls':>7s} {'share':>6s}")
    for name, us in sorted(total.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{name[:40]:40s} {us / 1000:10.1f} {calls[name]:7d} {100 * us / traced:5.1f}%")
    print(f"{'(all top-level ops)':40s} {traced / 1000:10.1f}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 25)
