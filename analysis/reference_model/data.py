"""Tokens: a byte corpus's splits as ctlab cuts them, a token file, and the segment stream."""
import glob
import os

import torch

# --------------------------------------------------------------------------------------
# Data (core/src/data/corpus.cpp, datasets/text.cpp and default.cpp).

def split_sizes(n, split):
    """split_sizes: train and valid sizes truncated from n * fraction, test the rest."""
    n_train = int(n * split[0])
    n_valid = int(n * split[1])
    n_test = n - n_train - n_valid
    if n_train < 2 or (split[1] > 0 and n_valid < 2) or (split[2] > 0 and n_test < 2):
        raise ValueError(f"{n} bytes are too few for the split {split}")
    return n_train, n_valid, n_test


def _python_docs_bytes(data_path):
    """default.cpp python_docs: every *.rst.txt under the first python3.X-doc _sources
    folder (or data_path), concatenated in byte-wise sorted path order."""
    if data_path:
        root = data_path
    else:
        roots = sorted(d for d in glob.glob("/usr/share/doc/python3.*")
                       if os.path.isdir(os.path.join(d, "html", "_sources")))
        if not roots:
            raise FileNotFoundError("dataset = default needs /usr/share/doc/python3.*/html/_sources "
                                    "(Debian's python3.X-doc), or pass the tokens yourself")
        root = os.path.join(roots[0], "html", "_sources")
    files = []
    for dirpath, _, names in os.walk(root):
        files += [os.path.join(dirpath, n) for n in names
                  if n.endswith(".rst.txt") and len(os.path.join(dirpath, n)) > 8
                  and os.path.isfile(os.path.join(dirpath, n))]
    files.sort(key=lambda p: p.encode("utf-8", "surrogateescape"))
    if not files:
        raise FileNotFoundError(f"default corpus folder '{root}' holds no *.rst.txt files")
    parts = []
    for p in files:
        with open(p, "rb") as f:
            parts.append(f.read())
    return b"".join(parts)


def corpus_split(config, split, data_path=None):
    """The tokens (int64, 0..255) of one split of a byte corpus (dataset text or default)."""
    dataset = config["dataset"]
    path = data_path if data_path is not None else config["data_path"]
    if dataset == "text":
        if not path:
            raise ValueError("dataset = text needs data_path = a file of text")
        with open(path, "rb") as f:
            data = f.read()
        if not data:
            raise ValueError(f"text file '{path}' is empty")
    elif dataset == "default":
        data = _python_docs_bytes(path)
    else:
        raise NotImplementedError(f"dataset '{dataset}' is not read by reference_model: pass the split's "
                                  "tokens yourself (evaluate(model, config, tokens), or --tokens-file)")
    n_train, n_valid, _ = split_sizes(len(data), config["split"])
    begin = {"train": 0, "valid": n_train, "test": n_train + n_valid}
    end = {"train": n_train, "valid": n_train + n_valid, "test": len(data)}
    if split not in begin:
        raise ValueError(f"unknown split '{split}': expected train, valid or test")
    chunk = bytearray(data[begin[split]:end[split]])
    return torch.frombuffer(chunk, dtype=torch.uint8).to(torch.int64)


# --------------------------------------------------------------------------------------
# Evaluation (core/src/data/stream.cpp, core/src/train/evaluator.cpp).

class SegmentStream:
    """SegmentStream: the split cut into `batch` contiguous streams (the N % batch tail
    dropped); segment t holds positions [t*L, (t+1)*L) of every stream (the last one may be
    shorter), targets are the next tokens."""

    def __init__(self, tokens, batch, seq_len):
        tokens = torch.as_tensor(tokens).reshape(-1)
        self.rows = tokens.numel() // batch
        if self.rows < 2:
            raise ValueError(f"a split of {tokens.numel()} tokens is too short for batch size {batch}")
        self.seq_len = seq_len
        self.data = tokens[:self.rows * batch].view(batch, self.rows).t()  # [rows, B]

    def segments(self):
        return (self.rows - 1 + self.seq_len - 1) // self.seq_len

    def segment(self, t):
        start = t * self.seq_len
        if t < 0 or start >= self.rows - 1:
            raise IndexError(f"segment {t} is past the end ({self.segments()} segments)")
        n = min(self.seq_len, self.rows - 1 - start)
        x = self.data[start:start + n].to(torch.int64).contiguous()
        y = self.data[start + 1:start + 1 + n].to(torch.int64).contiguous()
        return x, y


def segment_stream(tokens, batch, seq_len):
    return SegmentStream(tokens, batch, seq_len)


def read_tokens_file(path):
    """A 1-D token tensor from .pt (torch.save), .npy, or any other file as bytes."""
    if path.endswith(".pt"):
        t = torch.load(path, map_location="cpu")
    elif path.endswith(".npy"):
        import numpy as np  # only for .npy files
        t = torch.from_numpy(np.load(path))
    else:
        with open(path, "rb") as f:
            t = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8)
    return torch.as_tensor(t).reshape(-1).to(torch.int64)
