#!/usr/bin/env python3
"""Draws an experiment's figures from the CSV tables that `ctlab report` (or `ctlab export
... --format csv`) writes:

  attention_by_bucket.png  share of attention per bucket of key slots, oldest first, bars
                           coloured by region (compressed memory, memory, sequence) with
                           standard-error bars, one panel per grid cell ([CT] Fig. 2)
  learning_curves.png      training loss per step for every run, validation points on top
  compression_loss.png     auxiliary compression loss per layer over training

Usage: figures.py --data DIR --out DIR   (DIR holds attention.csv, metrics.csv)
Needs matplotlib (Debian: python3-matplotlib).
"""
import argparse
import csv
import math
import os
import sys
from collections import OrderedDict, defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

REGION_COLOURS = {"compressed memory": "#d95f02", "memory": "#1b9e77", "sequence": "#7570b3"}


def read(path):
    if not os.path.exists(path):
        return [], []
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
        with open(path, newline="") as g:
            header = next(csv.reader(g), [])
    return header, rows


def axes_between(header, last_fixed):
    """The grid axes: the columns between 'experiment' and the first fixed column."""
    return header[2:header.index(last_fixed)] if last_fixed in header else []


def cell_name(row, axes):
    return " ".join(f"{a}={row[a]}" for a in axes) or row["run_id"]


def attention_figure(data, out):
    header, rows = read(os.path.join(data, "attention.csv"))
    rows = [r for r in rows if r["layer"] == "all"]
    if not rows:
        return None
    axes = axes_between(header, "layer")
    cells = OrderedDict()
    for r in rows:
        cells.setdefault(cell_name(r, axes), []).append(r)
    n = len(cells)
    cols = min(3, n)
    nrows = math.ceil(n / cols)
    fig, grid = plt.subplots(nrows, cols, figsize=(5.2 * cols, 3.4 * nrows), squeeze=False, sharey=True)
    for i, (name, rs) in enumerate(cells.items()):
        ax = grid[i // cols][i % cols]
        rs = sorted(rs, key=lambda r: int(r["bucket"]))
        mass = [100 * float(r["mass"]) for r in rs]
        err = [100 * float(r["mass_se"]) if r["mass_se"] else 0 for r in rs]
        colours = [REGION_COLOURS.get(r["region"], "grey") for r in rs]
        ax.bar(range(len(rs)), mass, yerr=err, color=colours, capsize=2)
        ax.set_title(name, fontsize=9)
        ax.set_xticks(range(len(rs)))
        ax.set_xticklabels([str(i + 1) for i in range(len(rs))], fontsize=7)
        ax.set_xlabel("bucket (oldest to newest)", fontsize=8)
        if i % cols == 0:
            ax.set_ylabel("attention (%)", fontsize=8)
    for j in range(n, nrows * cols):
        grid[j // cols][j % cols].axis("off")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in REGION_COLOURS.values()]
    fig.legend(handles, list(REGION_COLOURS), loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle("Attention by bucket (mean over layers, heads and queries; ± standard error)", fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    path = os.path.join(out, "attention_by_bucket.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def metric_series(rows, axes, predicate):
    series = defaultdict(list)
    for r in rows:
        if predicate(r["key"]):
            series[(cell_name(r, axes), r["key"])].append((int(r["step"]), float(r["value"])))
    for v in series.values():
        v.sort()
    return series


def learning_curves(data, out):
    header, rows = read(os.path.join(data, "metrics.csv"))
    if not rows:
        return None
    axes = axes_between(header, "key")
    train = metric_series(rows, axes, lambda k: k == "train/loss")
    valid = metric_series(rows, axes, lambda k: k == "valid/loss")
    if not train:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for (name, _), points in sorted(train.items()):
        line, = ax.plot([p[0] for p in points], [p[1] for p in points], label=name, linewidth=1.2)
        v = valid.get((name, "valid/loss"))
        if v:
            ax.plot([p[0] for p in v], [p[1] for p in v], "o", color=line.get_color(), markersize=4)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats per token); dots: validation")
    ax.set_title("Learning curves")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = os.path.join(out, "learning_curves.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def compression_loss(data, out):
    header, rows = read(os.path.join(data, "metrics.csv"))
    axes = axes_between(header, "key")
    series = metric_series(rows, axes, lambda k: k.startswith("train/compression_loss/layer"))
    if not series:
        return None
    cells = sorted({name for name, _ in series})
    fig, grid = plt.subplots(1, len(cells), figsize=(5 * len(cells), 3.6), squeeze=False)
    for i, name in enumerate(cells):
        ax = grid[0][i]
        for (n, key), points in sorted(series.items()):
            if n == name:
                ax.plot([p[0] for p in points], [p[1] for p in points], label=key.split("/")[-1], linewidth=1)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    grid[0][0].set_ylabel("compression loss")
    fig.tight_layout()
    path = os.path.join(out, "compression_loss.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="folder with attention.csv and metrics.csv")
    p.add_argument("--out", required=True, help="folder for the PNG files")
    a = p.parse_args()
    if not os.path.isdir(a.data):
        sys.exit(f"figures.py: no data folder {a.data}")
    os.makedirs(a.out, exist_ok=True)
    made = [f for f in (attention_figure(a.data, a.out), learning_curves(a.data, a.out), compression_loss(a.data, a.out)) if f]
    for f in made:
        print(f)
    if not made:
        sys.exit("figures.py: nothing to draw (no attention rows and no training metrics)")


if __name__ == "__main__":
    main()
