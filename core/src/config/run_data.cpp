// Loading a configuration's corpus.
#include "config/run_data.h"

#include "util/error.h"

namespace ctlab {

void bind_run_data(RunConfig& cfg, const Corpus& corpus) {
  cfg.model.vocab_size = corpus.vocab_size;
  if (!cfg.model.cutoffs.empty() && cfg.model.cutoffs.back() >= corpus.vocab_size)
    throw Error("cutoffs end at " + std::to_string(cfg.model.cutoffs.back()) + " but dataset " +
                cfg.data.dataset + " has a vocabulary of " + std::to_string(corpus.vocab_size) +
                ": expected every cutoff below it");
  validate_run_config(cfg);
}

Corpus load_run_data(RunConfig& cfg) {
  Corpus corpus = load_corpus(cfg.data);
  bind_run_data(cfg, corpus);
  return corpus;
}

std::string data_identity(const RunConfig& cfg) {
  std::string key;
  for (const auto& o : option_infos())
    if (o.group == "data") key += o.key + "=" + get_setting(cfg, o.key) + "\n";
  return key;
}

}  // namespace ctlab
