"""The command line: python3 analysis/reference_model WEIGHTS [--split S] [--segments K]
[--tokens-file F] [--data-path P] [--float64] prints `loss <mean nats per token>`."""
import argparse
import os
import sys

import torch

if __package__ in (None, ""):  # run as a folder (python3 analysis/reference_model): import it as a package
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from reference_model.data import corpus_split, read_tokens_file  # noqa: E402
from reference_model.evaluate import evaluate  # noqa: E402
from reference_model.loader import load  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description="Evaluate ctlab-exported weights in plain PyTorch.")
    ap.add_argument("weights", help="a safetensors file from `ctlab export weights`")
    ap.add_argument("--split", default="valid", choices=["train", "valid", "test"])
    ap.add_argument("--segments", type=int, default=None,
                    help="the first K segments (default: the run's eval_segments; 0 = all)")
    ap.add_argument("--tokens-file", help="the split's tokens instead of reading the corpus")
    ap.add_argument("--data-path", help="the corpus file or folder instead of the config's data_path")
    ap.add_argument("--float64", action="store_true", help="compute in float64 (reference)")
    args = ap.parse_args(argv)
    model, cfg, _ = load(args.weights, torch.float64 if args.float64 else torch.float32)
    if args.tokens_file:
        tokens = read_tokens_file(args.tokens_file)
    else:
        tokens = corpus_split(cfg, args.split, args.data_path)
    print("loss %.8f" % evaluate(model, cfg, tokens, args.segments, args.split))
    return 0


if __name__ == "__main__":
    sys.exit(main())
