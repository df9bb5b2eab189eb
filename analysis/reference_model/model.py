"""The Compressive Transformer's forward pass in evaluation mode (no dropout), with the memory
update of [CT] Algorithm 1; memory is a value passed in and returned."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

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
            raise NotImplementedError("the adaptive softmax (cutoffs = %s) is not supported by reference_model"
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
