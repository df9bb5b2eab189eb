#!/usr/bin/env python3
"""Draws an experiment's figures from the CSV tables that `ctlab report` (or `ctlab export
... --format csv`) writes, one panel or line per grid cell (the runs of a cell's seeds
pooled), cells in the order and with the names of the report's tables (data/cells.csv):

  attention_by_bucket.png  share of attention per bucket of key slots, oldest first, bars
                           coloured by region (compressed memory, memory, sequence): the
                           mean over the cell's seeds with its 95% confidence interval
                           (Student's t over seeds; one seed: 1.96 standard errors of its
                           sample), one small panel per cell ([CT] Fig. 2); more than 12
                           cells continue on attention_by_bucket_2.png, ...
  retained_vs_used.png     per distance bucket of compressed memory (runs with
                           retention_segments > 0): bars of what a linear probe decodes
                           from the compressed slots, lines of recovered with compressed
                           memory as trained and knocked out; means over seeds
  learning_curves.png      training loss per step: the mean over the cell's seeds with a
                           95% band, validation means as dots; more than 8 cells become
                           one small panel per cell (12 per page, learning_curves_2.png, ...)
  compression_loss.png     auxiliary compression loss per layer over training, mean over seeds
  readout_by_position.png  for sources in compressed memory (readout.csv): recovered and the
                           attention mass on the source's slot by query position, one panel
                           per cell, means over seeds

Usage: figures.py --data DIR --out DIR   (DIR holds attention.csv, metrics.csv, cells.csv)
Needs matplotlib (Debian: python3-matplotlib).
"""
import argparse
import csv
import math
import os
import statistics
import sys
from collections import OrderedDict, defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

REGION_COLOURS = {"compressed memory": "#d95f02", "memory": "#1b9e77", "sequence": "#7570b3"}
PANELS_PER_PAGE = 12
# Student's t, two-sided 95%, by degrees of freedom (1.96 beyond the table).
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042]


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
    """A cell as the report names it: every axis but the seed, 'axis=value' joined by spaces."""
    name = " ".join(f"{a}={row[a]}" for a in axes if a != "seed")
    return name or "(all runs)"


def cell_order(data, names):
    """The report's order (data/cells.csv: ranked), then any other cell in the order seen."""
    _, rows = read(os.path.join(data, "cells.csv"))
    order = []
    for r in rows:
        if r["cell"] in names and r["cell"] not in order:
            order.append(r["cell"])
    return order + [n for n in names if n not in order]


def mean_ci(values, se_of_one=None):
    """Mean and the half-width of its 95% interval: t over the values, or 1.96 x the
    standard error of a single value's own sample."""
    n = len(values)
    m = sum(values) / n
    if n == 1:
        return m, 1.96 * se_of_one if se_of_one else 0.0
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1))
    t = T975[n - 2] if n - 2 < len(T975) else 1.96
    return m, t * sd / math.sqrt(n)


def pages(items, per_page):
    return [items[i:i + per_page] for i in range(0, len(items), per_page)] or [[]]


def page_path(out, stem, k):
    return os.path.join(out, f"{stem}.png" if k == 0 else f"{stem}_{k + 1}.png")


def panel_grid(n, width=4.2, height=3.0):
    cols = min(4, n)
    nrows = math.ceil(n / cols)
    fig, grid = plt.subplots(nrows, cols, figsize=(width * cols, height * nrows + 0.8), squeeze=False,
                             sharey=True)
    for j in range(n, nrows * cols):
        grid[j // cols][j % cols].axis("off")
    return fig, grid, cols


def attention_cells(data):
    """cell -> bucket -> (region, [mass of each run], [se of each run])."""
    header, rows = read(os.path.join(data, "attention.csv"))
    axes = axes_between(header, "layer")
    cells = OrderedDict()
    for r in rows:
        if r["layer"] != "all":
            continue
        b = cells.setdefault(cell_name(r, axes), {}).setdefault(int(r["bucket"]), [r["region"], [], []])
        b[1].append(100 * float(r["mass"]))
        b[2].append(100 * float(r["mass_se"]) if r["mass_se"] else 0.0)
    return cells


def cell_pages(data, cells):
    """Pages of per-cell panels in the report's order: yields (k, page, fig, grid, cols,
    more), `more` being the title's ", page k of n" when the cells need several pages."""
    order = cell_order(data, list(cells))
    n = len(pages(order, PANELS_PER_PAGE))
    for k, page in enumerate(pages(order, PANELS_PER_PAGE)):
        fig, grid, cols = panel_grid(len(page))
        yield k, page, fig, grid, cols, (f", page {k + 1} of {n}" if len(order) > PANELS_PER_PAGE else "")


def attention_figure(data, out):
    cells = attention_cells(data)
    if not cells:
        return []
    made = []
    for k, page, fig, grid, cols, more in cell_pages(data, cells):
        for i, name in enumerate(page):
            ax = grid[i // cols][i % cols]
            buckets = sorted(cells[name].items())
            stats = [mean_ci(masses, ses[0]) for _, (_, masses, ses) in buckets]
            runs = max(len(masses) for _, (_, masses, _) in buckets)
            colours = [REGION_COLOURS.get(region, "grey") for _, (region, _, _) in buckets]
            ax.bar(range(len(buckets)), [s[0] for s in stats], yerr=[s[1] for s in stats], color=colours,
                   capsize=2)
            ax.set_title(f"{name}  ({runs} seed{'s' if runs != 1 else ''})", fontsize=8)
            ax.set_xticks(range(len(buckets)))
            ax.set_xticklabels([str(b + 1) for b, _ in buckets], fontsize=7)
            ax.set_xlabel("bucket (oldest to newest)", fontsize=7)
            if i % cols == 0:
                ax.set_ylabel("attention (%)", fontsize=8)
        handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in REGION_COLOURS.values()]
        fig.legend(handles, list(REGION_COLOURS), loc="lower center", ncol=3, fontsize=8, frameon=False)
        fig.suptitle("Attention by bucket per cell: mean over seeds (and layers, heads, queries) with 95% CI"
                     + more, fontsize=10)
        fig.tight_layout(rect=(0, 0.05, 1, 0.95))
        made.append(page_path(out, "attention_by_bucket", k))
        fig.savefig(made[-1], dpi=110)
        plt.close(fig)
    return made


def cell_series(rows, axes, predicate):
    """(cell, key) -> step -> [value of each run]."""
    series = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if predicate(r["key"]):
            series[(cell_name(r, axes), r["key"])][int(r["step"])].append(float(r["value"]))
    return series


def draw_curve(ax, colour, label, train, valid):
    """Mean training loss with its 95% band over seeds; validation means as dots."""
    steps = sorted(train)
    stats = [mean_ci(train[s]) for s in steps]
    ax.plot(steps, [m for m, _ in stats], color=colour, linewidth=1.2, label=label)
    if any(len(train[s]) > 1 for s in steps):
        ax.fill_between(steps, [m - h for m, h in stats], [m + h for m, h in stats], color=colour, alpha=0.2,
                        linewidth=0)
    if valid:
        vs = sorted(valid)
        ax.plot(vs, [mean_ci(valid[s])[0] for s in vs], "o", color=colour, markersize=3.5)


def zoom_past_start(ax, curves):
    """Limits the y axis to what the curves reach after the first 10% of their steps: the
    first drop from the initial loss would otherwise flatten every later difference.
    Returns whether anything was left above the axis."""
    last = max((max(c) for c in curves if c), default=0)
    late = [statistics.mean(v) for c in curves for s, v in c.items() if s >= 0.1 * last]
    every = [statistics.mean(v) for c in curves for v in c.values()]
    if not late:
        return False
    low, high = min(late), max(late)
    pad = 0.08 * (high - low) if high > low else 0.05 * abs(high) + 1e-3
    ax.set_ylim(low - pad, high + pad)
    return max(every) > high + pad


def learning_curves(data, out):
    header, rows = read(os.path.join(data, "metrics.csv"))
    axes = axes_between(header, "key")
    train = cell_series(rows, axes, lambda k: k == "train/loss")
    valid = cell_series(rows, axes, lambda k: k == "valid/loss")
    if not train:
        return []
    order = cell_order(data, list(OrderedDict.fromkeys(name for name, _ in train)))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ylabel = "loss (nats per token)"
    if len(order) <= 8:
        fig, ax = plt.subplots(figsize=(7.5, 4.5))
        for i, name in enumerate(order):
            points = train[(name, "train/loss")]
            seeds = max(len(v) for v in points.values())
            draw_curve(ax, colours[i % len(colours)], f"{name} ({seeds} seed{'s' if seeds != 1 else ''})", points,
                       valid.get((name, "valid/loss")))
        curves = [train[(name, "train/loss")] for name in order] + [v for (n, k), v in valid.items()]
        clipped = zoom_past_start(ax, curves)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel + "; dots: validation")
        ax.set_title("Learning curves per cell: mean over seeds, 95% band" +
                     ("\n(y axis from the first 10% of steps on; the start runs above it)" if clipped else ""),
                     fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = os.path.join(out, "learning_curves.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return [path]
    made = []
    for k, page in enumerate(pages(order, PANELS_PER_PAGE)):
        fig, grid, cols = panel_grid(len(page))
        for i, name in enumerate(page):
            ax = grid[i // cols][i % cols]
            draw_curve(ax, colours[0], name, train[(name, "train/loss")], valid.get((name, "valid/loss")))
            zoom_past_start(ax, [train[(name, "train/loss")], valid.get((name, "valid/loss"), {})])
            ax.set_title(name, fontsize=8)
            ax.set_xlabel("step", fontsize=7)
            ax.grid(alpha=0.3)
            if i % cols == 0:
                ax.set_ylabel(ylabel, fontsize=8)
        fig.suptitle("Learning curves per cell: mean over seeds, 95% band; dots: validation (y axis from the first "
                     "10% of steps on)", fontsize=10)
        fig.tight_layout(rect=(0, 0, 1, 0.95))
        made.append(page_path(out, "learning_curves", k))
        fig.savefig(made[-1], dpi=110)
        plt.close(fig)
    return made


def compression_loss(data, out):
    header, rows = read(os.path.join(data, "metrics.csv"))
    axes = axes_between(header, "key")
    series = cell_series(rows, axes, lambda k: k.startswith("train/compression_loss/layer"))
    if not series:
        return []
    order = cell_order(data, list(OrderedDict.fromkeys(name for name, _ in series)))[:PANELS_PER_PAGE]
    fig, grid, cols = panel_grid(len(order))
    for i, name in enumerate(order):
        ax = grid[i // cols][i % cols]
        for (n, key), points in sorted(series.items()):
            if n == name:
                steps = sorted(points)
                ax.plot(steps, [mean_ci(points[s])[0] for s in steps], label=key.split("/")[-1], linewidth=1)
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("step", fontsize=8)
        ax.set_yscale("log")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        if i % cols == 0:
            ax.set_ylabel("compression loss (mean over seeds)", fontsize=8)
    fig.tight_layout()
    path = os.path.join(out, "compression_loss.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


def retention_figure(data, out):
    """Retained (bars) and recovered with and without compressed memory (lines) per distance
    bucket of compressed memory, oldest first; one panel per cell, means over seeds."""
    header, rows = read(os.path.join(data, "retention.csv"))
    axes = axes_between(header, "region")
    cells = OrderedDict()
    for r in rows:
        if r["label"] == "all" or not r["retained"]:
            continue  # the per-run summary, and regions outside compressed memory
        b = cells.setdefault(cell_name(r, axes), OrderedDict()).setdefault(r["label"], [[], [], []])
        for i, key in enumerate(("retained", "recovered", "recovered_no_cmem")):
            if r[key]:
                b[i].append(float(r[key]))
    if not cells:
        return []
    made = []
    for k, page, fig, grid, cols, more in cell_pages(data, cells):
        for i, name in enumerate(page):
            ax = grid[i // cols][i % cols]
            labels = list(cells[name])
            x = range(len(labels))
            retained = [mean_ci(cells[name][l][0]) for l in labels]
            ax.bar(x, [s[0] for s in retained], yerr=[s[1] for s in retained], color="#4c72b0", capsize=2,
                   label="retained (probe)")
            for j, (style, label) in ((1, ("k-o", "recovered")), (2, ("r--x", "recovered, no cmem"))):
                ys = [mean_ci(cells[name][l][j])[0] if cells[name][l][j] else float("nan") for l in labels]
                ax.plot(list(x), ys, style, label=label, markersize=4)
            ax.set_title(name, fontsize=8)
            ax.set_xticks(list(x))
            ax.set_xticklabels([l.replace("tokens ", "").replace(" back", "") for l in labels], fontsize=6,
                               rotation=30)
            ax.set_xlabel("tokens back (compressed memory, oldest first)", fontsize=7)
            ax.axhline(0, color="grey", linewidth=0.5)
            if i % cols == 0:
                ax.set_ylabel("share", fontsize=8)
        grid[0][0].legend(fontsize=6, loc="best")
        fig.suptitle("Retained vs used per distance bucket: mean over seeds" + more, fontsize=10)
        fig.tight_layout(rect=(0, 0, 1, 0.95))
        made.append(page_path(out, "retained_vs_used", k))
        fig.savefig(made[-1], dpi=110)
        plt.close(fig)
    return made


def readout_figure(data, out):
    """Recovered for sources in compressed memory (line) and the attention mass on the slot
    that holds the source (dashed) by query position in the segment; one panel per cell,
    means over seeds. A read-out limited by the slots' positions shows as a comb."""
    path_in = os.path.join(data, "readout.csv")
    if not os.path.exists(path_in):
        return []
    header, rows = read(path_in)
    axes = axes_between(header, "by")
    cells = OrderedDict()
    for r in rows:
        if r["by"] != "position" or not r["recovered"]:
            continue
        per = cells.setdefault(cell_name(r, axes), {}).setdefault(int(r["index"]), [[], []])
        per[0].append(float(r["recovered"]))
        if r["source_mass"]:
            per[1].append(float(r["source_mass"]))
    if not cells:
        return []
    made = []
    for k, page, fig, grid, cols, more in cell_pages(data, cells):
        for i, name in enumerate(page):
            ax = grid[i // cols][i % cols]
            xs = sorted(cells[name])
            ax.plot(xs, [mean_ci(cells[name][x][0])[0] for x in xs], "k-o", markersize=2, label="recovered")
            ax.plot(xs, [mean_ci(cells[name][x][1])[0] if cells[name][x][1] else float("nan") for x in xs],
                    "r--", linewidth=1, label="attention on the source's slot")
            ax.set_title(name, fontsize=8)
            ax.set_ylim(-0.1, 1.05)
            ax.axhline(0, color="grey", linewidth=0.5)
            ax.set_xlabel("query position in the segment", fontsize=7)
        grid[0][0].legend(fontsize=6, loc="best")
        fig.suptitle("Read-out of compressed memory by query position: mean over seeds" + more, fontsize=10)
        fig.tight_layout(rect=(0, 0, 1, 0.95))
        made.append(page_path(out, "readout_by_position", k))
        fig.savefig(made[-1], dpi=110)
        plt.close(fig)
    return made


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="folder with attention.csv, metrics.csv and cells.csv")
    p.add_argument("--out", required=True, help="folder for the PNG files")
    a = p.parse_args()
    if not os.path.isdir(a.data):
        sys.exit(f"figures.py: no data folder {a.data}")
    os.makedirs(a.out, exist_ok=True)
    made = (attention_figure(a.data, a.out) + learning_curves(a.data, a.out) + compression_loss(a.data, a.out)
            + retention_figure(a.data, a.out) + readout_figure(a.data, a.out))
    for f in made:
        print(f)
    if not made:
        sys.exit("figures.py: nothing to draw (no attention rows and no training metrics)")


if __name__ == "__main__":
    main()
