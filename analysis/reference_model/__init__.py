"""ctlab's evaluation forward pass in plain PyTorch, for probing a trained model in a notebook:
a reference implementation of the model that `ctlab export weights` files load into.

Loads the weights that `ctlab export weights <run_id>` writes (a safetensors file whose
metadata holds the run's config.ini text) into a torch.nn.Module that computes what ctlab's
CompressiveTransformer computes in evaluation mode (no dropout): Transformer-XL relative
attention over concat(compressed memory, memory, segment), post- or pre-LN layers, the
memory update of the Compressive Transformer's Algorithm 1 with the parameter-free
compression functions mean_pool and max_pool (cmem_len = 0 is Transformer-XL), and a full
softmax output (tied or untied). `evaluate` streams a split as `ctlab eval` does, so its loss
matches the `eval/<split>/<tag>/loss` that ctlab records (to about 1e-6 nats in float32).

Modules: loader (the weights file and the run's config), model (the forward pass), data
(corpus splits and segment streams), evaluate (eval_settings, evaluate), __main__ (the
command line). Mirrors, file by file: core/src/model/{model,block,attention}.cpp, plugins/{mean,max}_pool,
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
    python3 analysis/reference_model model.safetensors [--split valid] [--segments K]
        [--tokens-file F] [--data-path P] [--float64]
prints `loss <mean nats per token, 8 decimals>`. --tokens-file: .pt (torch.save of a 1-D
tensor), .npy, or any other file read as bytes (tokens 0..255). --float64 runs in float64
(a higher-precision reference, not what ctlab computes).
"""
from .data import SegmentStream, corpus_split, read_tokens_file, segment_stream, split_sizes
from .evaluate import eval_settings, evaluate
from .loader import load, parse_config, read_safetensors
from .model import COMPRESSION_FNS, CompressiveTransformer, causal_memory_mask, rel_shift, sinusoid_positions

__all__ = [
    "COMPRESSION_FNS", "CompressiveTransformer", "SegmentStream", "causal_memory_mask", "corpus_split",
    "eval_settings", "evaluate", "load", "parse_config", "read_safetensors", "read_tokens_file", "rel_shift",
    "segment_stream", "sinusoid_positions", "split_sizes",
]
