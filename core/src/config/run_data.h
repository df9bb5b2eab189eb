// A run's data, bound to its configuration. The resolve pipeline (session/resolve.h) loads
// a configuration's corpus (data/dataset.h, once per data_identity in a grid) and binds it
// with bind_run_data: `ctlab train`, `ctlab eval`, grid expansion and workers all go
// through it.
#pragma once

#include "config/options.h"
#include "data/corpus.h"

namespace ctlab {

// Binds cfg to the corpus loaded for its data keys: checks that the splits hold a training
// segment per stream and two tokens per validation stream, sets cfg.model.vocab_size from
// the corpus (the data decide the vocabulary; a vocab_size the user set must agree with
// them, or ctlab::Error names both), and validates the keys that depend on the data
// (cutoffs below the vocabulary size) and the whole configuration again. Throws
// ctlab::Error naming the key and the dataset.
void bind_run_data(RunConfig& cfg, const Corpus& corpus);

// Every data key's value in one string: configurations with equal keys load equal corpora.
std::string data_identity(const RunConfig& cfg);

}  // namespace ctlab
