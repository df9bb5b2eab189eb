// Exporters over a results root: long-format tables (one row per run x ...) with the
// grid's axes (the parameters that differ between the selected runs) as columns, written
// as CSV or JSON. Each table is an ExportTableDef in its own file under analysis/tables/,
// listed once in analysis/builtin_tables.def; `ctlab export` and `ctlab report` find
// them in the registry.
#pragma once

#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "store/results_layout.h"
#include "store/run_store.h"
#include "util/registry.h"

namespace ctlab {

struct Table {
  std::vector<std::string> columns;
  std::vector<bool> numeric;  // per column: written as numbers in JSON
  std::vector<std::vector<std::string>> rows;
  int column(const std::string& name) const;  // -1 when absent
};

struct ExportFilter {
  std::string experiment;  // "" = all
  std::string run;         // "" = all
  std::string key;         // metrics: key prefix
};

// The parameters that differ between runs (the grid's axes), in a stable order, and each
// run's values of them.
struct Axes {
  std::vector<std::string> names;
  std::vector<std::vector<std::string>> values;  // per run (in the order given)
};
Axes varying_params(RunStore& store, const std::vector<std::string>& run_ids);

// What a table's builder reads: the selected runs (in store order), their axes, the store
// and where the run folders are.
struct ExportContext {
  ResultsLayout layout;
  RunStore& store;
  ExportFilter filter;
  std::vector<RunRecord> runs;
  Axes axes;
  // Sets the table's columns: `before`, then one per axis, then `after` ({name, numeric}).
  void columns(Table& t, const std::vector<std::pair<std::string, bool>>& before,
               const std::vector<std::pair<std::string, bool>>& after) const;
  // The first cells of run i's rows: run_id, experiment, then its axis values.
  std::vector<std::string> prefix(size_t i) const;
};

struct ExportTableDef {
  std::string name;  // `ctlab export <name>`
  std::string help;  // one line: what a row is
  std::function<Table(const ExportContext&)> build;
};

// The registry, with the built-in tables registered at first use.
Registry<ExportTableDef>& export_tables();

// Builds the named table over the runs that pass the filter. Throws ctlab::Error for an
// unknown table, a root without a database or a filter that selects no run.
Table export_table(const std::string& what, const ResultsLayout& layout, const ExportFilter& filter);

// The settings in an evaluation's key ("seq64-mem64-cmem32-clamp-1-same0-batch8-all"):
// seq_len, mem_len, cmem_len, clamp_len, same_length (true/false), batch_size, segments
// (0 = the whole split). Empty for text that is not such a key.
std::map<std::string, std::string> parse_eval_tag(const std::string& tag);

// Numbers as text: "%.10g", "" for NaN.
std::string export_number(double v);

void write_csv(const Table& t, std::ostream& out);
void write_json(const Table& t, std::ostream& out);

}  // namespace ctlab
