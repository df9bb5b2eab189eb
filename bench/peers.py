#!/usr/bin/env python3
"""Training tokens/s of the peers' published packages on ctlab_bench's cpu-small shapes:
d_model 256, 4 layers, 4 heads, d_ff 1024, seq 128, batch 8, bytes (vocab 256), dropout
0.1, Adam, gradient clipping; memory and compressed memory filled before timing, as
ctlab_bench does. Run by bench/peers.sh from its bench-only virtual environment.

  peers.py IMPL --threads N [--steps 10]
  IMPL: lucidrains-ct  compressive-transformer-pytorch: conv compression, attention
                       reconstruction loss (its own), mem 128, cmem 128, rate 4; plain
                       residuals (gru_gated_residual=False, as ctlab and the paper)
        lucidrains-ct-kv  the same with W_k and W_v trained: its attention calls
                       `self.to_kv.weight.detach_()` before the reconstruction loss, which
                       turns the parameter's requires_grad off for good at the first step
                       that compresses, so the published package skips W_k's and W_v's
                       gradients from then on; here that call leaves the parameter alone
                       (W_kv then also gets the reconstruction loss's small gradient)
        labml-ct       labml-nn's Compressive Transformer: Conv1dCompression, its
                       AttentionReconstructionLoss, mem 128, cmem 128, rate 4 (the step of
                       its experiment.py, without the labml tracker)
        labml-txl      labml-nn's Transformer-XL, mem 256 (cpu-small-txl)
Prints one line: IMPL threads tokens/s ms/step.
"""
import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn

D, LAYERS, HEADS, D_FF, SEQ, BATCH, VOCAB, DROPOUT = 256, 4, 4, 1024, 128, 8, 256, 0.1
MEM, CMEM, RATE, TXL_MEM = 128, 128, 4, 256


def lucidrains_ct():
    from compressive_transformer_pytorch import CompressiveTransformer

    model = CompressiveTransformer(num_tokens=VOCAB, dim=D, seq_len=SEQ, depth=LAYERS, heads=HEADS,
                                   mem_len=MEM, cmem_len=CMEM, cmem_ratio=RATE, gru_gated_residual=False,
                                   attn_dropout=DROPOUT, ff_dropout=DROPOUT, attn_layer_dropout=DROPOUT)
    state = {"mem": None}

    def loss_of(x, y):  # batch-first [B, L]
        logits, state["mem"], aux = model(x.t(), memories=state["mem"])
        return F.cross_entropy(logits.transpose(1, 2), y.t()) + aux

    return model, loss_of


def lucidrains_ct_kv():
    model, loss_of = lucidrains_ct()
    for layer in model.attn_layers:
        w = layer.fn.fn.to_kv.weight
        object.__setattr__(w, "detach_", lambda w=w: w)  # the instance attribute shadows the method
    return model, loss_of


class LabmlLm(nn.Module):
    """labml-nn's AutoregressiveModel (experiment.py) without its imports of the labml
    experiment machinery: embedding, the transformer, a generator, masks over memory."""

    def __init__(self, transformer):
        super().__init__()
        self.src_embed = nn.Embedding(VOCAB, D)
        self.transformer = transformer
        self.generator = nn.Linear(D, VOCAB)

    def forward(self, x, *memories):
        from labml_nn.transformers.utils import subsequent_mask

        m_len = sum(len(m[0]) for m in memories if m)
        mask_x = subsequent_mask(len(x)).to(x.device)
        mask = torch.cat((mask_x.new_ones(len(x), m_len, 1), mask_x), dim=1) if m_len else mask_x
        res, mem = self.transformer(self.src_embed(x), *memories, mask)
        return self.generator(res), mem


def labml_layers():
    from labml_nn.transformers.feed_forward import FeedForward
    from labml_nn.transformers.xl.relative_mha import RelativeMultiHeadAttention

    return RelativeMultiHeadAttention(HEADS, D, DROPOUT), FeedForward(D, D_FF, DROPOUT)


def labml_ct():
    from labml_nn.transformers.compressive import (AttentionReconstructionLoss, CompressiveTransformer,
                                                   CompressiveTransformerLayer, Conv1dCompression)

    attn, ff = labml_layers()
    layer = CompressiveTransformerLayer(d_model=D, self_attn=attn, feed_forward=ff, dropout_prob=DROPOUT,
                                        compress=Conv1dCompression(RATE, D))
    model = LabmlLm(CompressiveTransformer(layer, LAYERS))
    ar_loss = AttentionReconstructionLoss(model.transformer.layers)
    state = {"mem": [], "c_mem": []}

    @torch.no_grad()
    def merge_compress(new_mem):  # experiment.py's merge_compress_memory
        mem = [torch.cat((m, x)) for m, x in zip(state["mem"], new_mem)] if state["mem"] else new_mem
        to_compress = []
        if len(mem[0]) > MEM:
            n_old = (len(mem[0]) - MEM + RATE - 1) // RATE * RATE
            to_compress = [m[:n_old] for m in mem]
            mem = [m[n_old:] for m in mem]
            new_c = [l.compress(c) for l, c in zip(model.transformer.layers, to_compress)]
            c_mem = [torch.cat((m, n)) for m, n in zip(state["c_mem"], new_c)] if state["c_mem"] else new_c
            state["c_mem"] = [m[-CMEM:] for m in c_mem]
        state["mem"] = mem
        return to_compress

    def loss_of(x, y):
        out, new_mem = model(x, state["mem"], state["c_mem"])
        to_compress = merge_compress(new_mem)
        loss = F.cross_entropy(out.view(-1, VOCAB), y.reshape(-1))
        return loss + ar_loss(new_mem, to_compress) if to_compress else loss

    return model, loss_of


def labml_txl():
    from labml_nn.transformers.xl import TransformerXL, TransformerXLLayer

    attn, ff = labml_layers()
    model = LabmlLm(TransformerXL(TransformerXLLayer(d_model=D, self_attn=attn, feed_forward=ff,
                                                     dropout_prob=DROPOUT), LAYERS))
    state = {"mem": []}

    def loss_of(x, y):
        out, new_mem = model(x, state["mem"])
        mem = [torch.cat((m, n)) for m, n in zip(state["mem"], new_mem)] if state["mem"] else new_mem
        state["mem"] = [m[-TXL_MEM:].detach() for m in mem]
        return F.cross_entropy(out.view(-1, VOCAB), y.reshape(-1))

    return model, loss_of


IMPLS = {"lucidrains-ct": lucidrains_ct, "lucidrains-ct-kv": lucidrains_ct_kv, "labml-ct": labml_ct,
         "labml-txl": labml_txl}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("impl", choices=sorted(IMPLS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model, loss_of = IMPLS[a.impl]()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)

    def step():
        xy = torch.randint(VOCAB, (SEQ + 1, BATCH))
        loss = loss_of(xy[:-1], xy[1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
        opt.step()

    for _ in range((MEM + CMEM * RATE) // SEQ + 2):  # fill memory and compressed memory, as ctlab_bench
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    secs = time.perf_counter() - t0
    print(f"{a.impl} {a.threads} {a.steps * SEQ * BATCH / secs:.0f} {1000 * secs / a.steps:.1f}")


if __name__ == "__main__":
    main()
