"""Loading exported weights: the safetensors reader, the run's config.ini as typed values,
and the model built from both."""
import json
import struct
import sys

import torch

from .model import COMPRESSION_FNS, CompressiveTransformer

# --------------------------------------------------------------------------------------
# The weights file (mirrors core/src/store/safetensors.cpp: an 8-byte little-endian header
# length N, N bytes of JSON, then the tensors' bytes; offsets relative to the data section).

_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}


def read_safetensors(path):
    """Returns ({name: Tensor}, metadata dict) of a safetensors file, without the package."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"'{path}' is not a safetensors file: shorter than its header length")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError(f"'{path}' is not a safetensors file: header length past the end")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", None) or {}
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"'{path}': tensor '{name}' has unsupported dtype {info['dtype']}")
        begin, end = info["data_offsets"]
        shape = [int(d) for d in info["shape"]]
        if base + end > len(data) or begin > end:
            raise ValueError(f"'{path}': tensor '{name}' has offsets outside the file")
        if begin == end:
            tensors[name] = torch.zeros(shape, dtype=dtype)
            continue
        t = torch.frombuffer(bytearray(data[base + begin:base + end]), dtype=dtype)
        if sys.byteorder != "little" and t.element_size() > 1:  # the file is little-endian
            t = torch.from_numpy(t.numpy().byteswap())  # (numpy, only on big-endian machines)
        tensors[name] = t.reshape(shape).clone()
    return tensors, metadata


# --------------------------------------------------------------------------------------
# The run configuration: the INI reader of core/src/util/ini.cpp, the section rules of
# ini_entry_key (core/src/config/options.cpp) and the keys, kinds and defaults of the flag
# table (core/src/config/option_table.cpp, options.h, data/data_options.h).

_KINDS = {  # key -> (kind, default); kind: int, float, bool, str, ints, floats, opt_int
    "experiment": ("str", "default"), "seed": ("int", 1), "device": ("str", "auto"),
    "threads": ("int", 0),
    "vocab_size": ("int", 256), "n_layer": ("int", 2), "d_model": ("int", 128), "n_head": ("int", 4),
    "d_ff": ("int", 512), "seq_len": ("int", 64), "mem_len": ("int", 64), "cmem_len": ("int", 32),
    "cmem_rate": ("int", 2), "clamp_len": ("int", -1), "same_length": ("bool", False),
    "dropout": ("float", 0.1), "dropatt": ("float", 0.0), "norm": ("str", "post"),
    "untie_r": ("bool", True), "tie_weight": ("bool", True), "cmem_positions": ("str", "slot"),
    "cutoffs": ("ints", []), "init_std": ("float", 0.02),
    "dataset": ("str", "default"), "data_path": ("str", ""), "split": ("floats", [0.9, 0.05, 0.05]),
    "synthetic_vocab": ("int", 16), "synthetic_period": ("int", 24), "synthetic_tokens": ("int", 200000),
    "recall_pairs": ("int", 8), "recall_gap": ("int", 64), "ref_distance": ("int", 96),
    "lookup_keys": ("int", 2), "lookup_values": ("int", 6), "lookup_distance": ("int", 98),
    "batch_size": ("int", 8), "max_steps": ("int", 1000), "lr": ("float", 3e-4),
    "lr_start": ("float", 1e-6), "lr_min": ("float", 1e-6), "warmup_steps": ("int", 100),
    "clip": ("float", 0.1), "accumulate": ("int", 1), "update_period": ("int", 1),
    "update_period_from": ("int", 0), "bptt_segments": ("int", 2), "precision": ("str", "fp32"),
    "checks": ("str", "auto"), "eval_every": ("int", 0), "log_every": ("int", 10),
    "checkpoint_every": ("int", 100),
    "eval_seq_len": ("opt_int", None), "eval_mem_len": ("opt_int", None),
    "eval_cmem_len": ("opt_int", None), "eval_clamp_len": ("opt_int", None),
    "eval_batch_size": ("int", 8), "eval_segments": ("int", 0), "buckets_sequences": ("int", 50),
    "buckets_per_region": ("int", 6), "freq_edges": ("ints", [100, 1000, 10000]),
    "compression": ("str", "mean_pool"), "compression_loss": ("str", "none"),
    "allow_untrained_compression": ("bool", False),
}
_SECTIONS = {"", "run", "model", "data", "train", "eval", "compression"}


def _typed(key, kind, value):
    """A value as its kind (canonical_value in core/src/config/params.cpp)."""
    v = value.strip()
    try:
        if kind == "int":
            return int(v)
        if kind == "opt_int":
            return None if v == "" else int(v)
        if kind == "float":
            return float(v)
        if kind == "bool":
            low = v.lower()
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
            raise ValueError(v)
        if kind == "ints":
            return [int(x) for x in v.split(",") if x.strip()]
        if kind == "floats":
            return [float(x) for x in v.split(",")]
    except ValueError:
        raise ValueError(f"config key '{key}' = '{value}': expected {kind}") from None
    return v


def _ini_entries(text):
    """(section, key, value) of an INI text, as core/src/util/ini.cpp parse_ini reads it."""
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line[0] == "[":
            section = line[1:-1].strip()
            continue
        if "=" not in line:
            raise ValueError(f"config line '{line}': expected 'key = value'")
        key, value = (s.strip() for s in line.split("=", 1))
        if len(value) >= 2 and value[0] == '"':
            value = value[1:value.index('"', 1)]
        else:
            for marker in (" #", "\t#", " ;", "\t;"):
                if marker in value:
                    value = value[:value.index(marker)].strip()
        yield section, key, value


def parse_config(text):
    """A run's config.ini text as {key: typed value}, defaults for the keys it lacks."""
    cfg = {k: (list(d) if isinstance(d, list) else d) for k, (_, d) in _KINDS.items()}
    for section, key, value in _ini_entries(text):
        dotted = key.startswith("compression.") or key.startswith("compression_loss.")
        if section == "compression" and not dotted and key not in _KINDS:
            key = "compression." + key
        elif section == "compression_loss" and not dotted:
            key = "compression_loss." + key
        elif section not in _SECTIONS:
            raise ValueError(f"config: unknown section [{section}]")
        cfg[key] = _typed(key, _KINDS[key][0], value) if key in _KINDS else value
    return cfg


# --------------------------------------------------------------------------------------
# Loading.

def _compression_name(cfg):
    """The compression function a model with cmem_len > 0 was built with (factory.cpp), or None."""
    if cfg["cmem_len"] == 0:
        return None
    name = cfg["compression"].split("@", 1)[0]
    if name not in COMPRESSION_FNS:
        raise NotImplementedError(
            f"compression function '{cfg['compression']}' is not supported by reference_model "
            f"(only {', '.join(sorted(COMPRESSION_FNS))} and cmem_len = 0)")
    if cfg["cmem_positions"] not in ("slot", "slot@1"):
        raise NotImplementedError(
            f"position map cmem_positions = '{cfg['cmem_positions']}' is not supported by reference_model "
            f"(only slot, the contiguous placement)")
    return name


def load(path, dtype=torch.float32):
    """Loads an exported weights file: (model, config dict, metadata dict)."""
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != "ctlab" or "config" not in metadata:
        raise ValueError(f"'{path}' has no ctlab metadata (expected format = ctlab and the run's config)")
    cfg = parse_config(metadata["config"])
    if "embedding.weight" in tensors:  # the data decide the vocabulary (run_data.cpp)
        cfg["vocab_size"] = tensors["embedding.weight"].shape[0]
    model = CompressiveTransformer(cfg, _compression_name(cfg))
    own = dict(model.named_parameters())
    missing = sorted(set(own) - set(tensors))
    extra = sorted(k for k in tensors if k not in own)
    unexpected = [k for k in extra if not k.startswith("closs_")]
    if missing or unexpected:
        raise ValueError(f"'{path}' does not match the model of its config: missing {missing}, "
                         f"unexpected {unexpected}")
    with torch.no_grad():
        for name, p in own.items():
            t = tensors[name]
            if tuple(t.shape) != tuple(p.shape):
                raise ValueError(f"'{path}': tensor '{name}' has shape {list(t.shape)}, "
                                 f"the model expects {list(p.shape)}")
            p.copy_(t.to(p.dtype))
    model.extra_tensors = {k: tensors[k] for k in extra}
    model.to(dtype)
    return model, cfg, metadata
