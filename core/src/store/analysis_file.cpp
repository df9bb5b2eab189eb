// HDF5 writing and reading through the C API, with owning handles (store/h5.h); every
// call is checked.
#include "store/analysis_file.h"

#if CTLAB_HAVE_HDF5
#include <boost/filesystem.hpp>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "store/h5.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/fault.h"

namespace ctlab {
namespace {

std::vector<hsize_t> dims_of(std::initializer_list<size_t> d) {
  return std::vector<hsize_t>(d.begin(), d.end());
}

// Creates groups, datasets and attributes below an open file; path_ names it in errors.
class H5Writer {
 public:
  explicit H5Writer(std::string path) : path_(std::move(path)) {}
  h5::Id group(hid_t file, const std::string& name) {
    auto lcpl = h5::plist(H5Pcreate(H5P_LINK_CREATE), "create a link property list", path_);
    h5::check_status(H5Pset_create_intermediate_group(lcpl.get(), 1), "set intermediate groups", path_);
    return h5::group(H5Gcreate2(file, name.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT),
                     "create group " + name, path_);
  }
  void doubles(hid_t loc, const std::string& name, const std::vector<hsize_t>& dims, const double* data) {
    write(loc, name, dims, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, data);
  }
  void ints(hid_t loc, const std::string& name, const std::vector<hsize_t>& dims, const int64_t* data) {
    write(loc, name, dims, H5T_NATIVE_INT64, H5T_STD_I64LE, data);
  }
  void attr_int(hid_t loc, const std::string& name, int64_t v) {
    attr(loc, name, {}, H5T_NATIVE_INT64, H5T_STD_I64LE, &v);
  }
  void attr_double(hid_t loc, const std::string& name, double v) {
    attr(loc, name, {}, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, &v);
  }
  void attr_ints(hid_t loc, const std::string& name, const std::vector<int64_t>& v) {
    attr(loc, name, {v.size()}, H5T_NATIVE_INT64, H5T_STD_I64LE, v.data());
  }
  // A 1-D array of variable-length strings.
  void attr_strings(hid_t loc, const std::string& name, const std::vector<std::string>& v) {
    hsize_t n = v.size();
    string_attr(loc, name, h5::space(H5Screate_simple(1, &n, nullptr), "create a dataspace", path_), v);
  }
  // A scalar string.
  void attr_string(hid_t loc, const std::string& name, const std::string& v) {
    string_attr(loc, name, h5::space(H5Screate(H5S_SCALAR), "create a dataspace", path_), {v});
  }

 private:
  h5::Id string_type() {
    auto t = h5::type(H5Tcopy(H5T_C_S1), "copy the string type", path_);
    h5::check_status(H5Tset_size(t.get(), H5T_VARIABLE), "set a variable string size", path_);
    return t;
  }
  void string_attr(hid_t loc, const std::string& name, const h5::Id& space,
                   const std::vector<std::string>& v) {
    std::vector<const char*> ptrs;
    for (const auto& s : v) ptrs.push_back(s.c_str());
    auto t = string_type();
    auto a = h5::attribute(H5Acreate2(loc, name.c_str(), t.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                           "create attribute " + name, path_);
    h5::check_status(H5Awrite(a.get(), t.get(), ptrs.data()), "write attribute " + name, path_);
  }
  h5::Id space_of(const std::vector<hsize_t>& dims) {
    hid_t s = dims.empty() ? H5Screate(H5S_SCALAR)
                           : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    return h5::space(s, "create a dataspace", path_);
  }
  void write(hid_t loc, const std::string& name, const std::vector<hsize_t>& dims, hid_t mem, hid_t file_type,
             const void* data) {
    auto space = space_of(dims);
    auto d = h5::dataset(
        H5Dcreate2(loc, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
        "create dataset " + name, path_);
    h5::check_status(H5Dwrite(d.get(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "write dataset " + name,
                     path_);
  }
  void attr(hid_t loc, const std::string& name, const std::vector<hsize_t>& dims, hid_t mem, hid_t file_type,
            const void* data) {
    auto space = space_of(dims);
    auto a = h5::attribute(H5Acreate2(loc, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                           "create attribute " + name, path_);
    h5::check_status(H5Awrite(a.get(), mem, data), "write attribute " + name, path_);
  }
  std::string path_;
};

std::string join_path(const std::string& group, const std::string& child) {
  return (group.empty() ? "" : group) + "/" + child;
}

bool link_exists(hid_t file, const std::string& path) {
  // Every component must exist for H5Lexists not to fail.
  std::string partial;
  size_t pos = 1;
  while (pos <= path.size()) {
    auto next = path.find('/', pos);
    partial = path.substr(0, next);
    if (H5Lexists(file, partial.c_str(), H5P_DEFAULT) <= 0) return false;
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  return true;
}

void remove_link(hid_t file, const std::string& link, const std::string& path) {
  if (link_exists(file, link))
    h5::check_status(H5Ldelete(file, link.c_str(), H5P_DEFAULT), "replace " + link, path);
}

void write_attention(H5Writer& w, hid_t file, const std::string& group, const AttentionRecord& a,
                     const AnalysisMeta& meta) {
  auto g = w.group(file, join_path(group, "attention"));
  const auto dims =
      dims_of({static_cast<size_t>(a.n_layer), static_cast<size_t>(a.n_head), a.region_of.size()});
  w.doubles(g.get(), "mass", dims, a.mass.data());
  w.doubles(g.get(), "mass_sq", dims, a.mass_sq.data());
  w.doubles(g.get(), "slot_mean", dims, a.slot.data());
  w.doubles(g.get(), "slot_mean_sq", dims, a.slot_sq.data());
  w.doubles(g.get(), "mass_all_layers", {a.all.size()}, a.all.data());
  w.doubles(g.get(), "mass_all_layers_sq", {a.all_sq.size()}, a.all_sq.data());
  w.doubles(g.get(), "slot_mean_all_layers", {a.slot_all.size()}, a.slot_all.data());
  w.ints(g.get(), "count", {}, &a.samples);
  w.attr_strings(g.get(), "regions", a.regions);
  w.attr_ints(g.get(), "bucket_region", a.region_of);
  w.attr_ints(g.get(), "edges", a.edges);
  w.attr_int(g.get(), "sequences", a.sequences);
  w.attr_int(g.get(), "warmup_sequences", a.warmup_sequences);
  w.attr_int(g.get(), "step", meta.step);
  w.attr_string(g.get(), "run_id", meta.run_id);
  w.attr_string(g.get(), "split", meta.split);
  w.attr_string(g.get(), "settings", meta.settings);
  w.attr_string(g.get(), "reduction",
                "mean over samples (one sample = one stream of one segment); *_sq are mean squares");
}

void write_frequency(H5Writer& w, hid_t file, const std::string& group, const FrequencyRecord& f,
                     const AnalysisMeta& meta) {
  auto g = w.group(file, join_path(group, "frequency"));
  std::vector<double> ppl;
  for (size_t i = 0; i < f.nll_sum.size(); ++i)
    ppl.push_back(f.count[i] ? std::exp(f.nll_sum[i] / f.count[i]) : NAN);
  w.ints(g.get(), "edges", {f.edges.size()}, f.edges.data());
  w.doubles(g.get(), "nll_sum", {f.nll_sum.size()}, f.nll_sum.data());
  w.ints(g.get(), "count", {f.count.size()}, f.count.data());
  w.ints(g.get(), "types", {f.types.size()}, f.types.data());
  w.doubles(g.get(), "ppl", {ppl.size()}, ppl.data());
  w.attr_strings(g.get(), "labels", f.labels);
  w.attr_double(g.get(), "loss", f.loss);
  w.attr_double(g.get(), "ppl_overall", std::exp(f.loss));
  w.attr_int(g.get(), "tokens", f.tokens);
  w.attr_int(g.get(), "step", meta.step);
  w.attr_string(g.get(), "run_id", meta.run_id);
  w.attr_string(g.get(), "split", meta.split);
}

void write_validation(H5Writer& w, hid_t file, const std::string& group, const ValidationRecord& v,
                      const AnalysisMeta& meta) {
  auto g = w.group(file, join_path(group, "validation"));
  w.doubles(g.get(), "segment_loss", {v.segment_loss.size()}, v.segment_loss.data());
  w.ints(g.get(), "segment_tokens", {v.segment_tokens.size()}, v.segment_tokens.data());
  w.doubles(g.get(), "segment_recovered", {v.segment_recovered.size()}, v.segment_recovered.data());
  w.attr_double(g.get(), "loss", v.loss);
  w.attr_double(g.get(), "loss_se", v.loss_se);
  w.attr_double(g.get(), "best_loss", v.best_loss);
  w.attr_double(g.get(), "blind_loss", v.blind_loss);
  w.attr_int(g.get(), "step", meta.step);
  w.attr_string(g.get(), "run_id", meta.run_id);
  w.attr_string(g.get(), "split", meta.split);
  w.attr_string(g.get(), "settings", meta.settings);
}

template <class R>
auto readout_series(R& r) {
  return std::vector<std::pair<const char*, decltype(&r.recovered_by_phase)>>{
      {"recovered_by_phase", &r.recovered_by_phase},
      {"source_mass_by_phase", &r.source_mass_by_phase},
      {"recovered_by_position", &r.recovered_by_position},
      {"source_mass_by_position", &r.source_mass_by_position}};
}

void write_retention(H5Writer& w, hid_t file, const std::string& group, const RetentionRecord& r,
                     const AnalysisMeta& meta) {
  auto g = w.group(file, join_path(group, "retention"));
  const auto nl = static_cast<size_t>(r.n_layer);
  w.doubles(g.get(), "retained", {nl, r.buckets.size()}, r.retained.data());
  w.doubles(g.get(), "retained_layer", {nl}, r.retained_layer.data());
  w.doubles(g.get(), "retained_by_source", {nl, static_cast<size_t>(r.rate)}, r.per_source.data());
  w.doubles(g.get(), "baseline_nats", {nl}, r.baseline_nats.data());
  w.doubles(g.get(), "probe_nats", {nl}, r.probe_nats.data());
  w.ints(g.get(), "relevant", {r.relevant.size()}, r.relevant.data());
  w.doubles(g.get(), "recovered", {r.recovered.size()}, r.recovered.data());
  w.doubles(g.get(), "recovered_no_cmem", {r.recovered_no_cmem.size()}, r.recovered_no_cmem.data());
  for (const auto& [name, v] : readout_series(r)) w.doubles(g.get(), name, {v->size()}, v->data());
  w.attr_strings(g.get(), "buckets", r.buckets);
  w.attr_ints(g.get(), "edges", r.edges);
  w.attr_strings(g.get(), "regions", r.regions.empty() ? std::vector<std::string>{""} : r.regions);
  w.attr_int(g.get(), "rate", r.rate);
  w.attr_int(g.get(), "segments", r.segments);
  w.attr_int(g.get(), "train_rows", r.train_rows);
  w.attr_int(g.get(), "valid_rows", r.valid_rows);
  w.attr_int(g.get(), "classes", r.classes);
  w.attr_double(g.get(), "retained_all", r.retained_all);
  w.attr_double(g.get(), "recovered_all", r.recovered_all);
  w.attr_double(g.get(), "recovered_no_cmem_all", r.recovered_no_cmem_all);
  w.attr_int(g.get(), "step", meta.step);
  w.attr_string(g.get(), "run_id", meta.run_id);
  w.attr_string(g.get(), "settings", meta.settings);
}

void write_series(H5Writer& w, hid_t file, const CompressionSeries& series, const AnalysisMeta& meta,
                  const std::string& path) {
  remove_link(file, "/compression", path);
  auto g = w.group(file, "/compression");
  std::vector<double> flat;
  for (const auto& row : series.loss) flat.insert(flat.end(), row.begin(), row.end());
  w.doubles(g.get(), "loss_per_layer", {series.steps.size(), series.loss.front().size()}, flat.data());
  w.ints(g.get(), "step", {series.steps.size()}, series.steps.data());
  w.attr_string(g.get(), "run_id", meta.run_id);
}

}  // namespace

void write_analysis_file(const std::string& path, const std::string& group, const AnalysisRecords& records,
                         const AnalysisMeta& meta, const CompressionSeries& series) {
  namespace fs = boost::filesystem;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors are reported through ctlab::Error
  const std::string tmp = temp_path_for(path);
  try {
    h5::Id file;
    if (fs::exists(path)) {
      fs::copy_file(path, tmp, fs::copy_options::overwrite_existing);
      file = h5::file(H5Fopen(tmp.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), "open", path);
    } else {
      file = h5::file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "create", path);
    }
    H5Writer w(path);
    for (const char* child : {"attention", "frequency", "validation", "retention"})
      remove_link(file.get(), join_path(group, child), path);
    if (records.attention) write_attention(w, file.get(), group, *records.attention, meta);
    if (records.frequency) write_frequency(w, file.get(), group, *records.frequency, meta);
    if (records.validation) write_validation(w, file.get(), group, *records.validation, meta);
    if (records.retention) write_retention(w, file.get(), group, *records.retention, meta);
    if (!series.steps.empty()) write_series(w, file.get(), series, meta, path);
    file.close("close", path);
    if (inject_write_fault(fs::path(path).filename().string()))
      throw Error("cannot write '" + tmp + "' (for '" + path + "'): " + std::strerror(errno) +
                      "; the previous file is unchanged",
                  ErrorKind::Run);
    commit_temp_file(tmp, path);
  } catch (...) {
    boost::system::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

namespace {

template <class T>
std::vector<T> read_dataset(hid_t loc, const std::string& name, hid_t mem, const std::string& path) {
  auto d = h5::dataset(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), "open dataset " + name, path);
  auto space = h5::space(H5Dget_space(d.get()), "get the dataspace of " + name, path);
  hssize_t n = h5::check(H5Sget_simple_extent_npoints(space.get()), "size dataset " + name, path);
  std::vector<T> v(static_cast<size_t>(n));
  h5::check_status(H5Dread(d.get(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), "read dataset " + name,
                   path);
  return v;
}

// The dimensions of a dataset.
std::vector<hsize_t> dataset_dims(hid_t loc, const std::string& name, const std::string& path) {
  auto d = h5::dataset(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), "open dataset " + name, path);
  auto space = h5::space(H5Dget_space(d.get()), "get the dataspace of " + name, path);
  int rank = static_cast<int>(h5::check(H5Sget_simple_extent_ndims(space.get()), "rank of " + name, path));
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  h5::check(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), "dimensions of " + name, path);
  return dims;
}

std::vector<int64_t> read_int_attr(hid_t loc, const std::string& name, const std::string& path) {
  auto a = h5::attribute(H5Aopen(loc, name.c_str(), H5P_DEFAULT), "open attribute " + name, path);
  auto space = h5::space(H5Aget_space(a.get()), "get the dataspace of " + name, path);
  hssize_t n = h5::check(H5Sget_simple_extent_npoints(space.get()), "size attribute " + name, path);
  std::vector<int64_t> v(static_cast<size_t>(std::max<hssize_t>(n, 1)));
  h5::check_status(H5Aread(a.get(), H5T_NATIVE_INT64, v.data()), "read attribute " + name, path);
  return v;
}

std::vector<std::string> read_string_attr(hid_t loc, const std::string& name, const std::string& path) {
  auto a = h5::attribute(H5Aopen(loc, name.c_str(), H5P_DEFAULT), "open attribute " + name, path);
  auto space = h5::space(H5Aget_space(a.get()), "get the dataspace of " + name, path);
  hssize_t n = h5::check(H5Sget_simple_extent_npoints(space.get()), "size attribute " + name, path);
  auto t = h5::type(H5Tcopy(H5T_C_S1), "copy the string type", path);
  h5::check_status(H5Tset_size(t.get(), H5T_VARIABLE), "set a variable string size", path);
  std::vector<char*> raw(static_cast<size_t>(std::max<hssize_t>(n, 1)), nullptr);
  h5::check_status(H5Aread(a.get(), t.get(), raw.data()), "read attribute " + name, path);
  std::vector<std::string> v;
  for (auto* p : raw) v.push_back(p ? p : "");
  H5Dvlen_reclaim(t.get(), space.get(), H5P_DEFAULT, raw.data());
  return v;
}

// The open file and group `name`, or false when the file or the group is absent.
bool open_group(const std::string& path, const std::string& name, h5::Id& file, h5::Id& group) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  if (!boost::filesystem::exists(path)) return false;
  file = h5::file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open", path);
  if (!link_exists(file.get(), name)) return false;
  group = h5::group(H5Gopen2(file.get(), name.c_str(), H5P_DEFAULT), "open group " + name, path);
  return true;
}

}  // namespace

bool read_attention(const std::string& path, const std::string& group, AttentionRecord& out) {
  h5::Id file, g;
  if (!open_group(path, join_path(group, "attention"), file, g)) return false;
  out.mass = read_dataset<double>(g.get(), "mass", H5T_NATIVE_DOUBLE, path);
  out.mass_sq = read_dataset<double>(g.get(), "mass_sq", H5T_NATIVE_DOUBLE, path);
  out.slot = read_dataset<double>(g.get(), "slot_mean", H5T_NATIVE_DOUBLE, path);
  out.slot_sq = read_dataset<double>(g.get(), "slot_mean_sq", H5T_NATIVE_DOUBLE, path);
  out.all = read_dataset<double>(g.get(), "mass_all_layers", H5T_NATIVE_DOUBLE, path);
  out.all_sq = read_dataset<double>(g.get(), "mass_all_layers_sq", H5T_NATIVE_DOUBLE, path);
  out.slot_all = read_dataset<double>(g.get(), "slot_mean_all_layers", H5T_NATIVE_DOUBLE, path);
  out.samples = read_dataset<int64_t>(g.get(), "count", H5T_NATIVE_INT64, path).at(0);
  out.regions = read_string_attr(g.get(), "regions", path);
  out.edges = read_int_attr(g.get(), "edges", path);
  out.region_of = read_int_attr(g.get(), "bucket_region", path);
  out.sequences = read_int_attr(g.get(), "sequences", path).at(0);
  out.warmup_sequences = read_int_attr(g.get(), "warmup_sequences", path).at(0);
  auto dims = dataset_dims(g.get(), "mass", path);
  if (dims.size() != 3) throw Error("HDF5 file '" + path + "': attention/mass is not [layer, head, bucket]");
  out.n_layer = static_cast<int64_t>(dims[0]);
  out.n_head = static_cast<int64_t>(dims[1]);
  return true;
}

bool read_frequency(const std::string& path, const std::string& group, FrequencyRecord& out) {
  h5::Id file, g;
  if (!open_group(path, join_path(group, "frequency"), file, g)) return false;
  out.edges = read_dataset<int64_t>(g.get(), "edges", H5T_NATIVE_INT64, path);
  out.nll_sum = read_dataset<double>(g.get(), "nll_sum", H5T_NATIVE_DOUBLE, path);
  out.count = read_dataset<int64_t>(g.get(), "count", H5T_NATIVE_INT64, path);
  out.types = read_dataset<int64_t>(g.get(), "types", H5T_NATIVE_INT64, path);
  out.labels = read_string_attr(g.get(), "labels", path);
  return true;
}

static double read_double_attr(hid_t loc, const std::string& name, const std::string& path) {
  auto a = h5::attribute(H5Aopen(loc, name.c_str(), H5P_DEFAULT), "open attribute " + name, path);
  double v = 0;
  h5::check_status(H5Aread(a.get(), H5T_NATIVE_DOUBLE, &v), "read attribute " + name, path);
  return v;
}

bool read_validation(const std::string& path, const std::string& group, ValidationRecord& out) {
  h5::Id file, g;
  if (!open_group(path, join_path(group, "validation"), file, g)) return false;
  out.segment_loss = read_dataset<double>(g.get(), "segment_loss", H5T_NATIVE_DOUBLE, path);
  out.segment_tokens = read_dataset<int64_t>(g.get(), "segment_tokens", H5T_NATIVE_INT64, path);
  out.segment_recovered = read_dataset<double>(g.get(), "segment_recovered", H5T_NATIVE_DOUBLE, path);
  out.loss = read_double_attr(g.get(), "loss", path);
  out.loss_se = read_double_attr(g.get(), "loss_se", path);
  out.best_loss = read_double_attr(g.get(), "best_loss", path);
  out.blind_loss = read_double_attr(g.get(), "blind_loss", path);
  return true;
}

bool read_retention(const std::string& path, const std::string& group, RetentionRecord& out) {
  h5::Id file, g;
  if (!open_group(path, join_path(group, "retention"), file, g)) return false;
  out.retained = read_dataset<double>(g.get(), "retained", H5T_NATIVE_DOUBLE, path);
  out.retained_layer = read_dataset<double>(g.get(), "retained_layer", H5T_NATIVE_DOUBLE, path);
  out.per_source = read_dataset<double>(g.get(), "retained_by_source", H5T_NATIVE_DOUBLE, path);
  out.baseline_nats = read_dataset<double>(g.get(), "baseline_nats", H5T_NATIVE_DOUBLE, path);
  out.probe_nats = read_dataset<double>(g.get(), "probe_nats", H5T_NATIVE_DOUBLE, path);
  out.relevant = read_dataset<int64_t>(g.get(), "relevant", H5T_NATIVE_INT64, path);
  out.recovered = read_dataset<double>(g.get(), "recovered", H5T_NATIVE_DOUBLE, path);
  out.recovered_no_cmem = read_dataset<double>(g.get(), "recovered_no_cmem", H5T_NATIVE_DOUBLE, path);
  for (const auto& [name, v] : readout_series(out))
    if (H5Lexists(g.get(), name, H5P_DEFAULT) > 0)
      *v = read_dataset<double>(g.get(), name, H5T_NATIVE_DOUBLE, path);
  out.buckets = read_string_attr(g.get(), "buckets", path);
  out.edges = read_int_attr(g.get(), "edges", path);
  out.regions = read_string_attr(g.get(), "regions", path);
  if (out.regions.size() == 1 && out.regions[0].empty()) out.regions.clear();
  out.rate = read_int_attr(g.get(), "rate", path).at(0);
  out.segments = read_int_attr(g.get(), "segments", path).at(0);
  out.train_rows = read_int_attr(g.get(), "train_rows", path).at(0);
  out.valid_rows = read_int_attr(g.get(), "valid_rows", path).at(0);
  out.classes = read_int_attr(g.get(), "classes", path).at(0);
  out.retained_all = read_double_attr(g.get(), "retained_all", path);
  out.recovered_all = read_double_attr(g.get(), "recovered_all", path);
  out.recovered_no_cmem_all = read_double_attr(g.get(), "recovered_no_cmem_all", path);
  out.n_layer = static_cast<int64_t>(out.retained_layer.size());
  return true;
}

std::string hdf5_version() {
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release);
}

}  // namespace ctlab

#else  // built without HDF5 (CTLAB_WITH_HDF5=OFF)

#include "util/error.h"

namespace ctlab {
static const char* kNoHdf5 = "this ctlab was built without HDF5 (CTLAB_WITH_HDF5=OFF): no analysis.h5";
void write_analysis_file(const std::string&, const std::string&, const AnalysisRecords&, const AnalysisMeta&,
                         const CompressionSeries&) {
  throw Error(kNoHdf5, ErrorKind::Run);
}
bool read_attention(const std::string&, const std::string&, AttentionRecord&) {
  throw Error(kNoHdf5, ErrorKind::Run);
}
bool read_frequency(const std::string&, const std::string&, FrequencyRecord&) {
  throw Error(kNoHdf5, ErrorKind::Run);
}
bool read_validation(const std::string&, const std::string&, ValidationRecord&) {
  throw Error(kNoHdf5, ErrorKind::Run);
}
bool read_retention(const std::string&, const std::string&, RetentionRecord&) {
  throw Error(kNoHdf5, ErrorKind::Run);
}
std::string hdf5_version() { return ""; }
}  // namespace ctlab

#endif
