"""Evaluation as `ctlab eval` streams a split."""
import torch

from .data import SegmentStream


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
