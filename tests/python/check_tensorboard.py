"""Reads a run's TensorBoard event files back with the `tensorboard` package and checks
them against the run store: every (tag, step) of the run's metric rows appears once, with
the row's value as float32, and nothing else; the hparams plugin's start record holds the
expected hyperparameters and group, and the end record the expected status.

    check_tensorboard.py RESULTS_ROOT RUN_ID EXPECTED_JSON

EXPECTED_JSON: {"hparams": {"name": "value", ...}, "group": "...", "status": "success"}.
Prints "ok: ..." and exits 0, or prints every difference and exits 1.
"""
import glob
import json
import math
import os
import sqlite3
import struct
import sys

from tensorboard.backend.event_processing import event_accumulator, event_file_loader
from tensorboard.compat.proto import event_pb2
from tensorboard.plugins.hparams import plugin_data_pb2


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


def main():
    root, run_id, expected = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    folder = os.path.join(root, "runs", run_id, "tensorboard")
    files = sorted(glob.glob(os.path.join(folder, "events.out.tfevents.*")))
    problems = []
    if len(files) != 1:
        print(f"expected one event file in {folder}, found {files}")
        return 1

    # Every record, as written (no purging of out-of-order steps): each (tag, step) once.
    raw = {}
    for record in event_file_loader.RawEventFileLoader(files[0]).Load():
        event = event_pb2.Event.FromString(record)
        for v in event.summary.value:
            if v.WhichOneof("value") is None and v.HasField("metadata"):
                continue  # plugin records (hparams)
            key = (v.tag, event.step)
            if key in raw:
                problems.append(f"{v.tag} step {event.step} written twice")
            raw[key] = v.simple_value

    # What TensorBoard shows.
    acc = event_accumulator.EventAccumulator(files[0], size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    shown = {}
    for tag in acc.Tags()["scalars"]:
        for e in acc.Scalars(tag):
            shown[(tag, e.step)] = e.value

    db = sqlite3.connect(os.path.join(root, "ctlab.sqlite"))
    rows = {(k, s): v for k, s, v in db.execute("SELECT key, step, value FROM metrics WHERE run_id = ?", (run_id,))}
    for name, got in (("event file", raw), ("TensorBoard", shown)):
        for key, value in rows.items():
            if key not in got:
                problems.append(f"{name}: no {key[0]} at step {key[1]}")
            elif not same(got[key], f32(value)):
                problems.append(f"{name}: {key[0]} step {key[1]}: {got[key]} != {value} (as float32 {f32(value)})")
        for key in got:
            if key not in rows:
                problems.append(f"{name}: {key[0]} at step {key[1]} is not in the run store")

    content = acc.PluginTagToContent("hparams")
    start = content.get("_hparams_/session_start_info")
    if start is None:
        problems.append("no hparams start record")
    else:
        info = plugin_data_pb2.HParamsPluginData.FromString(start).session_start_info
        got = {}
        for k, v in info.hparams.items():
            kind = v.WhichOneof("kind")
            got[k] = {"number_value": lambda: f"{v.number_value:g}", "bool_value": lambda: str(v.bool_value).lower(),
                      "string_value": lambda: v.string_value}[kind]()
        if got != expected["hparams"]:
            problems.append(f"hparams {got} != expected {expected['hparams']}")
        if info.group_name != expected["group"]:
            problems.append(f"group {info.group_name!r} != expected {expected['group']!r}")
    end = content.get("_hparams_/session_end_info")
    status = None
    if end is not None:
        status = {1: "success", 2: "failure"}.get(plugin_data_pb2.HParamsPluginData.FromString(end).session_end_info.status)
    if status != expected.get("status"):
        problems.append(f"end status {status} != expected {expected.get('status')}")

    for p in problems:
        print(p)
    if problems:
        return 1
    tags = sorted({k for k, _ in rows})
    print(f"ok: {len(rows)} scalars in {len(tags)} tags ({', '.join(tags)}) match the run store; hparams {expected['hparams']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
