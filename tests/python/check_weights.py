#!/usr/bin/env python3
"""Checks that analysis/reference_model/ reproduces ctlab's evaluation of exported weights.

Usage: check_weights.py WEIGHTS EXPECTED_LOSS SEGMENTS [--split valid] [--data-path P]
                        [--tokens-file F] [--tolerance 1e-5]

Loads WEIGHTS (from `ctlab export weights`) with reference_model, evaluates the first SEGMENTS
segments of the split as `ctlab eval --segments SEGMENTS` does, prints both losses and
exits 0 when they agree within the tolerance (nats per token), 1 when they do not, 2 when
the weights cannot be evaluated.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "analysis"))

import reference_model  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights")
    ap.add_argument("expected_loss", type=float, help="ctlab eval's recorded loss (nats per token)")
    ap.add_argument("segments", type=int, help="segments evaluated (0 = the whole split)")
    ap.add_argument("--split", default="valid", choices=["train", "valid", "test"])
    ap.add_argument("--data-path", help="the corpus instead of the config's data_path")
    ap.add_argument("--tokens-file", help="the split's tokens instead of the corpus")
    ap.add_argument("--tolerance", type=float, default=1e-5)
    args = ap.parse_args(argv)
    try:
        model, cfg, meta = reference_model.load(args.weights)
        if args.tokens_file:
            tokens = reference_model.read_tokens_file(args.tokens_file)
        else:
            tokens = reference_model.corpus_split(cfg, args.split, args.data_path)
        r = reference_model.evaluate(model, cfg, tokens, args.segments, args.split, details=True)
    except (OSError, ValueError, NotImplementedError) as e:
        print(f"check_weights: cannot evaluate {args.weights}: {e}", file=sys.stderr)
        return 2
    diff = abs(r["loss"] - args.expected_loss)
    print(f"run {meta.get('run_id', '?')} step {meta.get('step', '?')}, {args.split} {r['tag']}: "
          f"{r['segments']} segments, {r['tokens']} tokens")
    print(f"ctlab eval loss      {args.expected_loss:.10f}")
    print(f"reference_model loss {r['loss']:.10f}")
    print(f"|difference|         {diff:.3e} (tolerance {args.tolerance:g})")
    if diff <= args.tolerance:
        print("OK")
        return 0
    print(f"MISMATCH: reference_model gives {r['loss']:.10f}, ctlab eval recorded {args.expected_loss:.10f} "
          f"(|difference| {diff:.3e} > {args.tolerance:g})")
    return 1


if __name__ == "__main__":
    sys.exit(main())
