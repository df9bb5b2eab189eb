#!/usr/bin/env python3
"""ctlab's evaluation forward pass in plain PyTorch, for probing a trained model in a notebook.

Loads the weights that `ctlab export weights <run_id>` writes (a safetensors file whose
metadata holds the run's config.ini text) into a torch.nn.Module that computes what ctlab's
CompressiveTransformer computes in evaluation mode (no dropout): Transformer-XL relative
attention over concat(compressed memory, memory, segment), post- or pre-LN layers, the
memory update of the Compressive Transformer's Algorithm 1 with the parameter-free
compression functions mean_pool and max_pool (cmem_len = 0 is Transformer-XL), and a full
softmax output (tied or untied). `evaluate` streams a split as `ctlab eval` does, so its loss
matches the `eval/<split>/<tag>/loss` that ctlab records (to about 1e-6 nats in float32).

Mirrors, file by file: core/src/model/{model,block,attention}.cpp, plugins/{mean,max}_pool,
core/src/train/evaluator.cpp (eval_settings, stream_split, EvalAccumulator), core/src/data/
stream.cpp (SegmentStream), core/src/data/corpus.cpp (split_sizes, fractional) and the
datasets text and default (core/src/data/datasets/{text,default}.cpp).

Not supported (a clear error says so): other compression functions (conv1d, ...; their
trained weights would be needed), position maps other than `slot` (cmem_positions), the
adaptive softmax (cutoffs), and corpora other than
`text` and `default` (pass the split's tokens yourself). bf16 runs evaluate in float32 here,
as ctlab does on the CPU.

Public API
----------
read_safetensors(path) -> (tensors: dict name -> Tensor, metadata: dict)
    The file reader (no `safetensors` package needed).
parse_config(text) -> dict
    A run's config.ini text as {key: typed value}, every key of ctlab's flag table (defaults
    for keys the text lacks); plugin parameters as "compression.<k>" / "compression_loss.<k>".
load(path, dtype=torch.float32) -> (model, config, metadata)
    model: CompressiveTransformer (torch.nn.Module, in eval mode); it holds no memories:
      model(tokens[L, B], targets[L, B], memory=None) -> (nll[L, B], memory)
          per-token NLL in nats and the memories for the next segment (Algorithm 1's update,
          as ctlab computes it); `memory` is what the previous call returned, None for a
          fresh stream, and is not changed. A memory is a list, per layer, of
          {"mem": [n_m,B,D], "cmem": [n_cm,B,D]}. Keyword options: memory_config (a dict
          from check_memory_config; default the trained settings), update_memory=True (False:
          the memory comes back as passed), want_logits=False, need_attention=False; with
          either of the last two the first value is a dict {"nll", "logits", "attention"
          (per layer [B, H, L, klen]), "cmem_slots", "mem_slots"}.
      model.memory_config()                      the trained memory settings (a dict)
      model.check_memory_config(mem_len, cmem_len, clamp_len, same_length) -> dict
          evaluation settings, validated as ctlab does
      parameters by ctlab's names: model.embedding.weight, model.layers[0].attn.q_net.weight,
          model.layers[0].attn.r_w_bias, model.final_ln, model.out / model.out_bias, ...;
          model.get_parameter("layers.0.attn.kv_net.weight") takes the exported names as they are.
      model.extra_tensors                        exported tensors evaluation does not use
                                                 (compression-loss plugins' parameters)
    config: parse_config of the run's config.ini; metadata: the file's __metadata__.
eval_settings(config, split="valid", segments=None) -> dict
    seq_len, batch_size, segments, mem_len, cmem_len, clamp_len, same_length, tag (as ctlab).
corpus_split(config, split, data_path=None) -> LongTensor
    The split's tokens for dataset = text (data_path: a file of bytes) or default (the Python
    documentation sources), cut by the `split` fractions exactly as ctlab does.
segment_stream(tokens, batch, seq_len) -> SegmentStream   (.segments(), .segment(t) -> (x, y))
evaluate(model, config, tokens, segments=None, split="valid", details=False) -> float
    Mean NLL (nats per predicted token) over the first `segments` segments of the split
    (None: the config's eval_segments; 0: the whole split), eval_batch_size streams, the
    [eval] memory settings, memories carried from segment to segment; details=True returns
    a dict with loss, tokens, segments, segment_loss, tag. The model is left as it was.

Command line:
    python3 analysis/ctlab_torch.py model.safetensors [--split valid] [--segments K]
        [--tokens-file F] [--data-path P] [--float64]
prints `loss <mean nats per token, 8 decimals>`. --tokens-file: .pt (torch.save of a 1-D
tensor), .npy, or any other file read as bytes (tokens 0..255). --float64 runs in float64
(a higher-precision reference, not what ctlab computes).
"""
import argparse
import glob
import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

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
# Positions and masks (core/src/model/attention.cpp).

def sinusoid_positions(klen, d_model, clamp_len, dtype):
    """[klen, D] embeddings of distances klen-1 .. 0 (sinusoid_positions): sines, then cosines."""
    f = torch.float64 if dtype == torch.float64 else torch.float32
    pos = torch.arange(klen - 1, -1, -1.0, dtype=f)
    if clamp_len >= 0:
        pos = pos.clamp_max(float(clamp_len))
    inv_freq = 1.0 / torch.pow(10000.0, torch.arange(0.0, float(d_model), 2.0, dtype=f) / d_model)
    angles = torch.outer(pos, inv_freq)
    return torch.cat([angles.sin(), angles.cos()], 1).to(dtype)


def causal_memory_mask(L, mlen, window):
    """[L, mlen + L] bool, True = hidden (causal_memory_mask): key j hidden from query i iff
    j > mlen + i, or, with a same_length window > 0, j <= mlen + i - window."""
    i = torch.arange(L).unsqueeze(1)
    j = torch.arange(mlen + L).unsqueeze(0)
    hidden = j > (i + mlen)
    if window > 0:
        hidden = hidden | (j <= (i + mlen - window))
    return hidden


def rel_shift(x):
    """Transformer-XL's relative shift (rel_shift): y[..., i, j] = x[..., i, j + L-1-i]."""
    L, klen = x.shape[-2], x.shape[-1]
    lead = list(x.shape[:-2])
    padded = F.pad(x, (1, 0))
    return padded.view(lead + [klen + 1, L])[..., 1:, :].reshape(lead + [L, klen])


# --------------------------------------------------------------------------------------
# The model (core/src/model/attention.cpp, block.cpp, model.cpp), evaluation mode only.

class RelAttention(nn.Module):
    """RelMultiHeadAttnImpl::forward: relative multi-head attention, time-major."""

    def __init__(self, d_model, n_head, own_biases):
        super().__init__()
        self.n_head, self.d_head = n_head, d_model // n_head
        hd = n_head * self.d_head
        self.scale = 1.0 / math.sqrt(self.d_head)
        self.q_net = nn.Linear(d_model, hd, bias=False)
        self.kv_net = nn.Linear(d_model, 2 * hd, bias=False)
        self.r_net = nn.Linear(d_model, hd, bias=False)
        self.o_net = nn.Linear(hd, d_model, bias=False)
        if own_biases:
            self.r_w_bias = nn.Parameter(torch.zeros(n_head, self.d_head))
            self.r_r_bias = nn.Parameter(torch.zeros(n_head, self.d_head))
        else:
            self.register_parameter("r_w_bias", None)
            self.register_parameter("r_r_bias", None)

    def forward(self, q_src, kv_src, r, u, v, mask):
        """q_src [L,B,D], kv_src [klen,B,D], r [klen,D], u/v [H,Dh] or None (own), mask [L,klen].
        Returns (output [L,B,D], probabilities [B,H,L,klen] in float32/float64)."""
        L, B, klen = q_src.shape[0], q_src.shape[1], kv_src.shape[0]
        H, Dh = self.n_head, self.d_head
        u = self.r_w_bias if u is None else u
        v = self.r_r_bias if v is None else v
        w_kv = self.kv_net.weight
        q = self.q_net(q_src).view(L, B, H, Dh)
        k = F.linear(kv_src, w_kv[:H * Dh]).view(klen, B, H, Dh)
        val = F.linear(kv_src, w_kv[H * Dh:]).view(klen, B, H, Dh)
        rk = self.r_net(r).view(klen, H, Dh)
        # Content term (q + u) . k, [B, H, L, klen].
        ac = torch.matmul((q + u.view(1, 1, H, Dh)).permute(1, 2, 0, 3), k.permute(1, 2, 3, 0))
        # Position term (q + v) . r, one product per head, viewed as [B, H, L, klen].
        qv = (q + v.view(1, 1, H, Dh)).view(L * B, H, Dh).permute(1, 0, 2)
        bd = torch.matmul(qv, rk.permute(1, 2, 0)).view(H, L, B, klen).permute(2, 0, 1, 3)
        # attention_probs (model/fused.cpp): shift, scale, mask, softmax in float32 at least.
        score = (ac + rel_shift(bd)) * self.scale
        sdt = torch.float64 if score.dtype == torch.float64 else torch.float32
        probs = torch.softmax(score.to(sdt).masked_fill(mask, float("-inf")), -1)
        attn = torch.matmul(probs.to(val.dtype), val.permute(1, 2, 0, 3))  # [B, H, L, Dh]
        return self.o_net(attn.permute(2, 0, 1, 3).reshape(L, B, H * Dh)), probs


class Block(nn.Module):
    """BlockImpl::forward: post-LN a = LN1(h + Attn(h)), out = LN2(a + FF(a));
    pre-LN a = h + Attn(LN1(h), LN1(memories)), out = a + FF(LN2(a))."""

    def __init__(self, d_model, n_head, d_ff, pre_norm, own_biases):
        super().__init__()
        self.pre_norm = pre_norm
        self.attn = RelAttention(d_model, n_head, own_biases)
        self.ln1 = nn.LayerNorm(d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff1 = nn.Linear(d_model, d_ff)
        self.ff2 = nn.Linear(d_ff, d_model)

    def ff(self, x):
        return self.ff2(torch.relu(self.ff1(x)))

    def forward(self, h, memories, r, u, v, mask):
        if self.pre_norm:
            hn = self.ln1(h)
            kv = torch.cat([self.ln1(memories), hn], 0) if memories.shape[0] > 0 else hn
            out, probs = self.attn(hn, kv, r, u, v, mask)
            a = h + out
            return a + self.ff(self.ln2(a)), probs
        kv = torch.cat([memories, h], 0) if memories.shape[0] > 0 else h
        out, probs = self.attn(h, kv, r, u, v, mask)
        a = self.ln1(h + out)
        return self.ln2(a + self.ff(a)), probs


def mean_pool(old, rate):
    """plugins/mean_pool: the mean of each block of `rate` consecutive evicted slots."""
    return old.reshape(old.shape[0] // rate, rate, old.shape[1], old.shape[2]).mean(1)


def max_pool(old, rate):
    """plugins/max_pool: the elementwise max over each block of `rate` evicted slots."""
    return old.reshape(old.shape[0] // rate, rate, old.shape[1], old.shape[2]).max(1).values


COMPRESSION_FNS = {"mean_pool": mean_pool, "max_pool": max_pool}


def _rows(t):
    return 0 if t is None else t.shape[0]


def _cat_time(a, b):
    """cat_time in model.cpp: concatenation along time, skipping empty parts."""
    if _rows(a) == 0:
        return b
    if _rows(b) == 0:
        return a
    return torch.cat([a, b], 0)


class CompressiveTransformer(nn.Module):
    """CompressiveTransformerImpl in evaluation mode: forward, output head and Algorithm 1's
    memory update. Parameter names are those of ctlab's named_parameters()."""

    def __init__(self, cfg, compression=None):
        super().__init__()
        V, D, H = cfg["vocab_size"], cfg["d_model"], cfg["n_head"]
        if D % H != 0:
            raise ValueError(f"d_model {D} not divisible by n_head {H}")
        if cfg["cutoffs"]:
            raise NotImplementedError("the adaptive softmax (cutoffs = %s) is not supported by ctlab_torch"
                                      % ",".join(map(str, cfg["cutoffs"])))
        self.n_layer, self.d_model, self.vocab_size = cfg["n_layer"], D, V
        self.cmem_rate = cfg["cmem_rate"]
        self.compression_name = compression
        self.compress_fn = COMPRESSION_FNS[compression] if compression else None
        self.embedding = nn.Embedding(V, D)
        self.layers = nn.ModuleList(
            Block(D, H, cfg["d_ff"], cfg["norm"] == "pre", cfg["untie_r"]) for _ in range(cfg["n_layer"]))
        self.r_w_bias = None if cfg["untie_r"] else nn.Parameter(torch.zeros(H, D // H))
        self.r_r_bias = None if cfg["untie_r"] else nn.Parameter(torch.zeros(H, D // H))
        self.final_ln = nn.LayerNorm(D) if cfg["norm"] == "pre" else None
        self.out = None if cfg["tie_weight"] else nn.Linear(D, V)
        self.out_bias = nn.Parameter(torch.zeros(V)) if cfg["tie_weight"] else None
        self.extra_tensors = {}
        self.trained_config = {"mem_len": cfg["mem_len"], "cmem_len": cfg["cmem_len"],
                               "clamp_len": cfg["clamp_len"], "same_length": cfg["same_length"]}
        self.eval()

    # --- memory settings (check_memory_config, validate_memory_config) ---
    def check_memory_config(self, mem_len, cmem_len, clamp_len=-1, same_length=False):
        """Evaluation memory settings, validated as ctlab does; returns them as a dict."""
        if mem_len < 0 or cmem_len < 0:
            raise ValueError(f"mem_len and cmem_len must be >= 0, got {mem_len} and {cmem_len}")
        if cmem_len > 0 and mem_len == 0:
            raise ValueError(f"cmem_len = {cmem_len} needs mem_len > 0")
        if cmem_len > 0 and mem_len % self.cmem_rate != 0:
            raise ValueError(f"mem_len = {mem_len} is not a multiple of cmem_rate = {self.cmem_rate}")
        if cmem_len > 0 and self.compress_fn is None:
            raise ValueError(f"cmem_len = {cmem_len} but the model was built without compression "
                             "functions (trained with cmem_len = 0)")
        return {"mem_len": mem_len, "cmem_len": cmem_len, "clamp_len": clamp_len,
                "same_length": bool(same_length)}

    def memory_config(self):
        return dict(self.trained_config)

    def _start_memory(self, memory, B):
        """start_memories in model.cpp: the memories a pass starts from, checked."""
        if not memory:
            return [{"mem": None, "cmem": None} for _ in range(self.n_layer)]
        if len(memory) != self.n_layer:
            raise ValueError(f"the memories passed to the model have {len(memory)} layers, "
                             f"expected {self.n_layer} (or none, for a fresh stream)")
        m0 = memory[0]
        if _rows(m0["cmem"]) + _rows(m0["mem"]) > 0:
            mb = (m0["mem"] if _rows(m0["mem"]) > 0 else m0["cmem"]).shape[1]
            if mb != B:
                raise ValueError(f"the memories hold batch size {mb} but this segment has {B}: "
                                 "start a fresh stream when the batch size changes")
        return [dict(lm) for lm in memory]

    # --- forward (CompressiveTransformerImpl::forward) ---
    def forward(self, tokens, targets=None, memory=None, memory_config=None, update_memory=True,
                want_logits=False, need_attention=False):
        if tokens.dim() != 2:
            raise ValueError(f"tokens must be [L, B], got {list(tokens.shape)}")
        L, B, D = tokens.shape[0], tokens.shape[1], self.d_model
        mc = memory_config or self.trained_config
        nxt = self._start_memory(memory, B)
        cmem_slots, mem_slots = _rows(nxt[0]["cmem"]), _rows(nxt[0]["mem"])
        mlen = cmem_slots + mem_slots
        dtype = self.embedding.weight.dtype
        h = self.embedding(tokens) * math.sqrt(float(D))
        r = sinusoid_positions(mlen + L, D, mc["clamp_len"], dtype)
        window = mc["mem_len"] + mc["cmem_len"] if mc["same_length"] else 0  # eval mode only
        mask = causal_memory_mask(L, mlen, window)
        inputs, probs = [], []
        for i, block in enumerate(self.layers):
            inputs.append(h)
            lm = nxt[i]
            mems = _cat_time(lm["cmem"], lm["mem"])
            if mems is None:
                mems = h.new_empty((0, B, D))
            h, p = block(h, mems, r, self.r_w_bias, self.r_r_bias, mask)
            probs.append(p)
        if self.final_ln is not None:
            h = self.final_ln(h)
        nll, logits = self.output_head(h, targets)
        if update_memory:
            self._update_memory(nxt, inputs, mc)
        if not (want_logits or need_attention):
            return nll, nxt
        return {"nll": nll, "logits": logits if want_logits else None,
                "attention": probs if need_attention else None,
                "cmem_slots": cmem_slots, "mem_slots": mem_slots}, nxt

    def output_head(self, h, targets):
        """output_head: logits (tied: the embedding matrix and out_bias) and per-token NLL."""
        L, B = h.shape[0], h.shape[1]
        if self.out_bias is not None:
            logits = F.linear(h, self.embedding.weight, self.out_bias)
        else:
            logits = self.out(h)
        nll = None
        if targets is not None:
            # ctlab takes the loss in float32; a float64 model keeps float64 here (reference).
            ldt = torch.float64 if logits.dtype == torch.float64 else torch.float32
            nll = F.cross_entropy(logits.reshape(L * B, self.vocab_size).to(ldt), targets.reshape(L * B),
                                  reduction="none").view(L, B)
        return nll, logits

    def _update_memory(self, memory, inputs, mc):
        """update_memory: append the layer inputs to memory; the oldest slots beyond mem_len
        are evicted, their oldest whole blocks of cmem_rate compressed into cmem (FIFO)."""
        c = self.cmem_rate
        for i, lm in enumerate(memory):
            full = _cat_time(lm["mem"], inputs[i].detach())
            n_evict = max(0, full.shape[0] - mc["mem_len"])
            old = full[:n_evict]
            lm["mem"] = full[n_evict:]
            n_c = (n_evict // c) * c
            if mc["cmem_len"] == 0 or n_c == 0:
                continue
            compressed = self.compress_fn(old[:n_c], c)
            cm = _cat_time(lm["cmem"], compressed)
            n_cm = mc["cmem_len"]
            lm["cmem"] = cm[cm.shape[0] - n_cm:] if cm.shape[0] > n_cm else cm


# --------------------------------------------------------------------------------------
# Loading.

def _compression_name(cfg):
    """The compression function a model with cmem_len > 0 was built with (factory.cpp), or None."""
    if cfg["cmem_len"] == 0:
        return None
    name = cfg["compression"].split("@", 1)[0]
    if name not in COMPRESSION_FNS:
        raise NotImplementedError(
            f"compression function '{cfg['compression']}' is not supported by ctlab_torch "
            f"(only {', '.join(sorted(COMPRESSION_FNS))} and cmem_len = 0)")
    if cfg["cmem_positions"] not in ("slot", "slot@1"):
        raise NotImplementedError(
            f"position map cmem_positions = '{cfg['cmem_positions']}' is not supported by ctlab_torch "
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
        raise NotImplementedError(f"dataset '{dataset}' is not read by ctlab_torch: pass the split's "
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


def eval_settings(config, split="valid", segments=None):
    """eval_settings: the [eval] keys, unset ones taken from training; tag as EvalSettings::tag."""
    c = config
    s = {"split": split,
         "seq_len": c["eval_seq_len"] if c["eval_seq_len"] is not None else c["seq_len"],
         "batch_size": c["eval_batch_size"],
         "segments": c["eval_segments"] if segments is None else int(segments),
         "mem_len": c["eval_mem_len"] if c["eval_mem_len"] is not None else c["mem_len"],
         "cmem_len": c["eval_cmem_len"] if c["eval_cmem_len"] is not None else c["cmem_len"],
         "clamp_len": c["eval_clamp_len"] if c["eval_clamp_len"] is not None else c["clamp_len"],
         "same_length": c["same_length"]}
    if s["cmem_len"] > 0 and s["seq_len"] % c["cmem_rate"] != 0:
        raise ValueError(f"evaluation seq_len = {s['seq_len']} is not a multiple of "
                         f"cmem_rate = {c['cmem_rate']}")
    s["tag"] = "seq%d-mem%d-cmem%d-clamp%d-same%d-batch%d-%s" % (
        s["seq_len"], s["mem_len"], s["cmem_len"], s["clamp_len"], int(s["same_length"]),
        s["batch_size"], "first%d" % s["segments"] if s["segments"] > 0 else "all")
    return s


def evaluate(model, config, tokens, segments=None, split="valid", details=False):
    """stream_split + EvalAccumulator: mean NLL per predicted token over the first
    `segments` segments (None: eval_segments of the config; 0: all), memories carried."""
    s = eval_settings(config, split, segments)
    mc = model.check_memory_config(s["mem_len"], s["cmem_len"], s["clamp_len"], s["same_length"])
    was_training = model.training
    model.eval()
    try:
        stream = SegmentStream(tokens, s["batch_size"], s["seq_len"])
        n = min(s["segments"], stream.segments()) if s["segments"] > 0 else stream.segments()
        nll_sum, count, per_segment = 0.0, 0, []
        memory = None
        with torch.no_grad():
            for t in range(n):
                x, y = stream.segment(t)
                nll, memory = model(x, y, memory, memory_config=mc)
                seg = float(nll.sum())  # nll.sum().item<double>(): a sum in the nll's dtype
                nll_sum += seg
                count += nll.numel()
                per_segment.append(seg / nll.numel())
    finally:
        model.train(was_training)
    loss = nll_sum / count if count > 0 else 0.0
    if not details:
        return loss
    return {"loss": loss, "tokens": count, "segments": n, "segment_loss": per_segment, "tag": s["tag"]}


# --------------------------------------------------------------------------------------
# Command line.

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
