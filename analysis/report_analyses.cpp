// `ctlab report`'s sections on the analyses of evaluation passes: attention by bucket,
// perplexity by token frequency, retained vs used.
#include <algorithm>
#include <array>
#include <map>

#include "report_parts.h"
#include "util/format.h"

namespace ctlab::report {
namespace {

std::string region_tag(const std::string& region) {
  return region == "compressed memory" ? "cm" : region == "memory" ? "m" : "s";
}

}  // namespace

// Columns are (region, ordinal within the region), so cells with and without compressed
// memory line up.
void write_attention(std::ostream& md, const ReportTables& t) {
  const Table& attention = t.attention;
  if (attention.rows.empty()) return;
  md << "## Attention by bucket\n\nShare of attention (%, mean over layers, heads, queries and "
        "sequences with full memories) on each bucket of key slots, oldest first: compressed memory (cm), "
        "memory "
        "(m), current sequence (s). Mean over seeds.\n\n";
  const int c_layer = attention.column("layer"), c_region = attention.column("region");
  const int c_bucket = attention.column("bucket"), c_mass = attention.column("mass");
  std::map<std::string, std::map<std::string, int>> first_in_region;  // run -> region -> first bucket
  for (const auto& r : attention.rows) {
    if (r[c_layer] != "all") continue;
    auto& first = first_in_region[r[0]];
    if (!first.count(r[c_region])) first[r[c_region]] = std::stoi(r[c_bucket]);
  }
  std::vector<std::string> columns, cells;
  for (const std::string region : {"compressed memory", "memory", "sequence"}) {
    int most = 0;
    for (const auto& r : attention.rows)
      if (r[c_layer] == "all" && r[c_region] == region)
        most = std::max(most, std::stoi(r[c_bucket]) - first_in_region[r[0]][region] + 1);
    for (int i = 1; i <= most; ++i) columns.push_back(region_tag(region) + std::to_string(i));
  }
  std::map<std::string, std::map<std::string, std::vector<double>>> by_cell;
  for (const auto& r : attention.rows) {
    if (r[c_layer] != "all") continue;
    auto ck = cell_key(attention, r, t.cell_axes);
    add_unique(cells, ck);
    int ordinal = std::stoi(r[c_bucket]) - first_in_region[r[0]][r[c_region]] + 1;
    by_cell[ck][region_tag(r[c_region]) + std::to_string(ordinal)].push_back(std::stod(r[c_mass]));
  }
  std::vector<std::string> head = {"cell"};
  head.insert(head.end(), columns.begin(), columns.end());
  std::vector<std::vector<std::string>> rows;
  for (const auto& ck : cells) {
    std::vector<std::string> row = {ck};
    for (const auto& c : columns) {
      auto& xs = by_cell[ck][c];
      row.push_back(xs.empty() ? "" : format_fixed(100.0 * mean_of(xs), 1));
    }
    rows.push_back(row);
  }
  md_table(md, head, rows);
}

void write_frequency(std::ostream& md, const ReportTables& t) {
  const Table& frequency = t.frequency;
  if (frequency.rows.empty()) return;
  md << "## Perplexity by token frequency\n\nTargets bucketed by their count in the training split ([CT] "
        "Table "
        "7); exp(mean NLL) per bucket, mean over seeds.\n\n";
  std::map<std::string, std::map<std::string, std::vector<double>>> by_cell;
  std::vector<std::string> labels, cells;
  for (const auto& r : frequency.rows) {
    auto ck = cell_key(frequency, r, t.cell_axes);
    const auto& label = r[frequency.column("label")];
    add_unique(cells, ck);
    add_unique(labels, label);
    const auto& p = r[frequency.column("ppl")];
    if (!p.empty()) by_cell[ck][label].push_back(std::stod(p));
  }
  std::vector<std::string> head = {"cell"};
  head.insert(head.end(), labels.begin(), labels.end());
  std::vector<std::vector<std::string>> rows;
  for (const auto& ck : cells) {
    std::vector<std::string> row = {ck};
    for (const auto& l : labels) {
      auto& xs = by_cell[ck][l];
      row.push_back(xs.empty() ? "-" : format_fixed(mean_of(xs), 2));
    }
    rows.push_back(row);
  }
  md_table(md, head, rows);
}

// Retained vs used (runs with retention_segments > 0): per cell and distance region, mean
// over seeds of what a linear probe decodes from the compressed slots and of recovered with
// compressed memory as trained and knocked out.
void write_retention(std::ostream& md, const ReportTables& t) {
  const Table& r = t.retention;
  if (r.rows.empty()) return;
  md << "## Retained vs used\n\nretained: share of the compressed tokens' identity a linear probe decodes "
        "from the compressed slots (1 = all, 0 = nothing beyond token frequencies); recovered: share of the "
        "long-range information the model recovers on the tokens whose source lies in the region, with "
        "compressed memory as trained and knocked out. Low retained: the function loses it; high retained "
        "and low recovered: attention does not find it. Mean over seeds.\n\n";
  std::vector<std::string> cells, labels;
  std::map<std::string, std::map<std::string, std::array<std::vector<double>, 3>>> by_cell;
  const int c_label = r.column("label");
  const int cols[3] = {r.column("retained"), r.column("recovered"), r.column("recovered_no_cmem")};
  for (const auto& row : r.rows) {
    auto ck = cell_key(r, row, t.cell_axes);
    add_unique(cells, ck);
    add_unique(labels, row[c_label]);
    for (int i = 0; i < 3; ++i)
      if (!row[cols[i]].empty()) by_cell[ck][row[c_label]][i].push_back(std::stod(row[cols[i]]));
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& ck : cells)
    for (const auto& l : labels) {
      const auto& v = by_cell[ck][l];
      if (v[0].empty() && v[1].empty()) continue;
      std::vector<std::string> row = {ck, l};
      for (int i = 0; i < 3; ++i) row.push_back(v[i].empty() ? "-" : format_fixed(mean_of(v[i]), 3));
      rows.push_back(row);
    }
  md_table(md, {"cell", "region", "retained", "recovered", "recovered, no cmem"}, rows);
}

}  // namespace ctlab::report
