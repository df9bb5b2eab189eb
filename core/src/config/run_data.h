// A run's data, bound to its configuration: the one way the trainer's command, `ctlab
// eval` and grid validation load a corpus for a configuration.
#pragma once

#include "config/options.h"
#include "data/corpus.h"

namespace ctlab {

// Loads cfg's corpus, sets cfg.model.vocab_size from it (the data decide the vocabulary;
// a vocab_size the user set must agree with them, or ctlab::Error names both),
// and validates the keys that depend on the data (cutoffs below the vocabulary size) and
// the whole configuration again. Throws ctlab::Error naming the key and the dataset.
Corpus load_run_data(RunConfig& cfg);
// The same for a corpus already loaded for an identical data configuration.
void bind_run_data(RunConfig& cfg, const Corpus& corpus);

// Every data key's value in one string: configurations with equal keys load equal corpora.
std::string data_identity(const RunConfig& cfg);

}  // namespace ctlab
