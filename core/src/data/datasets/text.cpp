// dataset = text: any file of text (bytes), split by the `split` fractions.
#include "data/corpus_io.h"
#include "data/dataset.h"
#include "util/error.h"

namespace ctlab {
namespace {

Corpus text_file(const DataOptions& o) {
  if (o.data_path.empty()) throw Error("dataset = text needs data_path = a file of text");
  auto bytes = read_file(o.data_path, "text file");
  if (bytes.empty()) throw Error("text file '" + o.data_path + "' is empty");
  return fractional("text", o.data_path, bytes, o.split);
}

}  // namespace

DatasetDef text_dataset() {
  return {"text", "any file of text (bytes): data_path = the file, split by `split`", false, text_file};
}

}  // namespace ctlab
