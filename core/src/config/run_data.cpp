// Loading a configuration's corpus.
#include "config/run_data.h"

#include "util/error.h"

namespace ctlab {

namespace {

// The splits must hold what training and validation will ask of them: at least one full
// training segment per stream, and at least two tokens per validation stream.
void check_split_lengths(const RunConfig& cfg, const Corpus& corpus) {
  const auto& t = cfg.train;
  const int64_t need = t.batch_size * (cfg.model.seq_len + 1);
  if (corpus.train.numel() < need)
    throw Error("the training split of dataset " + cfg.data.dataset + " has " +
                std::to_string(corpus.train.numel()) + " tokens, too few for one segment: batch_size " +
                std::to_string(t.batch_size) + " x (seq_len " + std::to_string(cfg.model.seq_len) +
                " + 1) = " + std::to_string(need) +
                " needed; use more data or a smaller batch_size or seq_len");
  const int64_t eval_need = 2 * cfg.eval.batch_size;
  if (corpus.valid.numel() < eval_need)
    throw Error("the validation split of dataset " + cfg.data.dataset + " has " +
                std::to_string(corpus.valid.numel()) + " tokens, too few for eval_batch_size " +
                std::to_string(cfg.eval.batch_size) +
                " (each stream needs at least 2 tokens); use more data, " +
                "a larger validation fraction or a smaller eval_batch_size");
}

}  // namespace

void bind_run_data(RunConfig& cfg, const Corpus& corpus) {
  check_split_lengths(cfg, corpus);
  if (!cfg.vocab_size_set_at.empty() && cfg.model.vocab_size != corpus.vocab_size)
    throw Error(cfg.vocab_size_set_at + ": vocab_size = " + std::to_string(cfg.model.vocab_size) +
                ", but dataset " + cfg.data.dataset + " has a vocabulary of " +
                std::to_string(corpus.vocab_size) + ": the data decide it; remove the key or set it to " +
                std::to_string(corpus.vocab_size));
  cfg.model.vocab_size = corpus.vocab_size;
  check_cutoffs(cfg.model.cutoffs, corpus.vocab_size,
                "dataset " + cfg.data.dataset + " has a vocabulary of " + std::to_string(corpus.vocab_size));
  validate_run_config(cfg);
}

std::string data_identity(const RunConfig& cfg) {
  std::string key;
  for (const auto& o : option_infos())
    if (o.group == "data") key += o.key + "=" + get_setting(cfg, o.key) + "\n";
  return key;
}

}  // namespace ctlab
