// Exporters over a results root: runs, metrics, attention by bucket and frequency buckets
// as long-format tables (one row per run x ...), with the grid's axes (the parameters that
// differ between the selected runs) as columns; written as CSV or JSON.
#pragma once

#include <ostream>
#include <string>
#include <vector>

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

// what: runs | metrics | attention | frequency. Throws ctlab::Error for an unknown kind or
// a root without a database.
Table export_table(const std::string& what, const std::string& results_root, const ExportFilter& filter);

void write_csv(const Table& t, std::ostream& out);
void write_json(const Table& t, std::ostream& out);

// The parameters that differ between runs (the grid's axes), in a stable order, and each
// run's values of them.
struct Axes {
  std::vector<std::string> names;
  std::vector<std::vector<std::string>> values;  // per run (in the order given)
};
Axes varying_params(const std::string& results_root, const std::vector<std::string>& run_ids);

}  // namespace ctlab
