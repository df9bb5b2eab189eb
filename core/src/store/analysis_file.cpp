// HDF5 writing and reading through the C API; every call is checked.
#include "store/analysis_file.h"

#if CTLAB_HAVE_HDF5
#include <hdf5.h>

#include <boost/filesystem.hpp>

#include "util/atomic_file.h"
#include "util/error.h"

namespace ctlab {
namespace {

// Checks an HDF5 return value (negative = failure) and names the file and the step.
hid_t ok(hid_t v, const std::string& what, const std::string& path) {
  if (v < 0) throw Error("HDF5 file '" + path + "': " + what + " failed", ErrorKind::Run);
  return v;
}

class H5Writer {
 public:
  H5Writer(hid_t file, const std::string& path) : file_(file), path_(path) {}
  hid_t group(const std::string& name) {
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t g =
        ok(H5Gcreate2(file_, name.c_str(), lcpl, H5P_DEFAULT, H5P_DEFAULT), "create group " + name, path_);
    H5Pclose(lcpl);
    return g;
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
    string_attr(loc, name, H5Screate_simple(1, &n, nullptr), v);
  }
  // A scalar string.
  void attr_string(hid_t loc, const std::string& name, const std::string& v) {
    string_attr(loc, name, H5Screate(H5S_SCALAR), {v});
  }

 private:
  void string_attr(hid_t loc, const std::string& name, hid_t space, const std::vector<std::string>& v) {
    std::vector<const char*> ptrs;
    for (const auto& s : v) ptrs.push_back(s.c_str());
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    hid_t a = ok(H5Acreate2(loc, name.c_str(), t, space, H5P_DEFAULT, H5P_DEFAULT),
                 "create attribute " + name, path_);
    ok(H5Awrite(a, t, ptrs.data()), "write attribute " + name, path_);
    H5Aclose(a);
    H5Sclose(space);
    H5Tclose(t);
  }
  void write(hid_t loc, const std::string& name, const std::vector<hsize_t>& dims, hid_t mem, hid_t file_type,
             const void* data) {
    hid_t space = dims.empty() ? H5Screate(H5S_SCALAR)
                               : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    hid_t d = ok(H5Dcreate2(loc, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                 "create dataset " + name, path_);
    ok(H5Dwrite(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "write dataset " + name, path_);
    H5Dclose(d);
    H5Sclose(space);
  }
  void attr(hid_t loc, const std::string& name, const std::vector<hsize_t>& dims, hid_t mem, hid_t file_type,
            const void* data) {
    hid_t space = dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims.data(), nullptr);
    hid_t a = ok(H5Acreate2(loc, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT),
                 "create attribute " + name, path_);
    ok(H5Awrite(a, mem, data), "write attribute " + name, path_);
    H5Aclose(a);
    H5Sclose(space);
  }
  hid_t file_;
  std::string path_;
};

std::vector<double> to_vector(const torch::Tensor& t) {
  auto c = t.to(torch::kCPU, torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

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

}  // namespace

void write_analysis_file(const std::string& path, const std::string& group, const AnalysisResult& r,
                         const AnalysisMeta& meta, const CompressionSeries& series) {
  namespace fs = boost::filesystem;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors are reported through ctlab::Error
  const std::string tmp = temp_path_for(path);
  hid_t file;
  if (fs::exists(path)) {
    fs::copy_file(path, tmp, fs::copy_options::overwrite_existing);
    file = ok(H5Fopen(tmp.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), "open", path);
  } else {
    file = ok(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "create", path);
  }
  try {
    H5Writer w(file, path);
    for (const char* child : {"attention", "frequency"}) {
      auto p = join_path(group, child);
      if (link_exists(file, p)) ok(H5Ldelete(file, p.c_str(), H5P_DEFAULT), "replace " + p, path);
    }
    if (r.attention) {
      const auto& a = *r.attention;
      const auto& lay = a.layout();
      auto mass = a.mass_mean();
      std::vector<hsize_t> dims = {static_cast<hsize_t>(mass.size(0)), static_cast<hsize_t>(mass.size(1)),
                                   static_cast<hsize_t>(mass.size(2))};
      hid_t g = w.group(join_path(group, "attention"));
      auto put = [&](const char* name, const torch::Tensor& t) {
        auto v = to_vector(t);
        w.doubles(g, name, dims, v.data());
      };
      put("mass", mass);
      put("mass_sq", a.mass_sq_mean());
      put("slot_mean", a.slot_mean());
      put("slot_mean_sq", a.slot_sq_mean());
      auto all = to_vector(a.all_mass_mean());
      w.doubles(g, "mass_all_layers", {all.size()}, all.data());
      auto all_sq = to_vector(a.all_mass_sq_mean());
      w.doubles(g, "mass_all_layers_sq", {all_sq.size()}, all_sq.data());
      auto all_slot = to_vector(a.slot_mean().mean(0).mean(0));
      w.doubles(g, "slot_mean_all_layers", {all_slot.size()}, all_slot.data());
      int64_t count = a.samples();
      w.ints(g, "count", {}, &count);
      w.attr_strings(g, "regions", lay.regions);
      w.attr_ints(g, "bucket_region", lay.region_of);
      w.attr_ints(g, "edges", lay.edges);
      w.attr_int(g, "sequences", r.full_segments);
      w.attr_int(g, "warmup_sequences", r.warmup_segments);
      w.attr_int(g, "step", meta.step);
      w.attr_string(g, "run_id", meta.run_id);
      w.attr_string(g, "split", meta.split);
      w.attr_string(g, "settings", meta.settings);
      w.attr_string(g, "reduction",
                    "mean over samples (one sample = one stream of one segment); *_sq are mean squares");
      H5Gclose(g);
    }
    if (r.frequency) {
      const auto& f = *r.frequency;
      hid_t g = w.group(join_path(group, "frequency"));
      auto nll = to_vector(f.nll_sum());
      auto count_t = f.count().contiguous();
      std::vector<int64_t> count(count_t.data_ptr<int64_t>(), count_t.data_ptr<int64_t>() + count_t.numel());
      auto types_t = f.types().contiguous();
      std::vector<int64_t> types(types_t.data_ptr<int64_t>(), types_t.data_ptr<int64_t>() + types_t.numel());
      std::vector<double> ppl;
      for (size_t i = 0; i < nll.size(); ++i) ppl.push_back(count[i] ? std::exp(nll[i] / count[i]) : NAN);
      w.ints(g, "edges", {f.edges().size()}, f.edges().data());
      w.doubles(g, "nll_sum", {nll.size()}, nll.data());
      w.ints(g, "count", {count.size()}, count.data());
      w.ints(g, "types", {types.size()}, types.data());
      w.doubles(g, "ppl", {ppl.size()}, ppl.data());
      w.attr_strings(g, "labels", f.labels());
      w.attr_double(g, "loss", r.eval.loss);
      w.attr_double(g, "ppl_overall", std::exp(r.eval.loss));
      w.attr_int(g, "tokens", r.eval.tokens);
      w.attr_int(g, "step", meta.step);
      w.attr_string(g, "run_id", meta.run_id);
      w.attr_string(g, "split", meta.split);
      H5Gclose(g);
    }
    if (!series.steps.empty()) {
      if (link_exists(file, "/compression"))
        ok(H5Ldelete(file, "/compression", H5P_DEFAULT), "replace /compression", path);
      hid_t g = w.group("/compression");
      std::vector<double> flat;
      for (const auto& row : series.loss) flat.insert(flat.end(), row.begin(), row.end());
      w.doubles(g, "loss_per_layer", {series.steps.size(), series.loss.front().size()}, flat.data());
      w.ints(g, "step", {series.steps.size()}, series.steps.data());
      w.attr_string(g, "run_id", meta.run_id);
      H5Gclose(g);
    }
  } catch (...) {
    H5Fclose(file);
    fs::remove(tmp);
    throw;
  }
  ok(H5Fclose(file), "close", path);
  commit_temp_file(tmp, path);
}

namespace {

template <class T>
std::vector<T> read_dataset(hid_t loc, const std::string& name, hid_t mem, const std::string& path) {
  hid_t d = ok(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), "open dataset " + name, path);
  hid_t space = H5Dget_space(d);
  hssize_t n = H5Sget_simple_extent_npoints(space);
  std::vector<T> v(static_cast<size_t>(std::max<hssize_t>(n, 0)));
  ok(H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), "read dataset " + name, path);
  H5Sclose(space);
  H5Dclose(d);
  return v;
}

std::vector<int64_t> read_int_attr(hid_t loc, const std::string& name, const std::string& path) {
  hid_t a = ok(H5Aopen(loc, name.c_str(), H5P_DEFAULT), "open attribute " + name, path);
  hid_t space = H5Aget_space(a);
  hssize_t n = H5Sget_simple_extent_npoints(space);
  std::vector<int64_t> v(static_cast<size_t>(std::max<hssize_t>(n, 1)));
  ok(H5Aread(a, H5T_NATIVE_INT64, v.data()), "read attribute " + name, path);
  H5Sclose(space);
  H5Aclose(a);
  return v;
}

std::vector<std::string> read_string_attr(hid_t loc, const std::string& name, const std::string& path) {
  hid_t a = ok(H5Aopen(loc, name.c_str(), H5P_DEFAULT), "open attribute " + name, path);
  hid_t space = H5Aget_space(a);
  hssize_t n = H5Sget_simple_extent_npoints(space);
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  std::vector<char*> raw(static_cast<size_t>(std::max<hssize_t>(n, 1)), nullptr);
  ok(H5Aread(a, t, raw.data()), "read attribute " + name, path);
  std::vector<std::string> v;
  for (auto* p : raw) v.push_back(p ? p : "");
  H5Dvlen_reclaim(t, space, H5P_DEFAULT, raw.data());
  H5Tclose(t);
  H5Sclose(space);
  H5Aclose(a);
  return v;
}

// Opens group `name` of the file at path; returns -1 (and closes the file) when absent.
hid_t open_group(const std::string& path, const std::string& name, hid_t& file) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  file = -1;
  if (!boost::filesystem::exists(path)) return -1;
  file = ok(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open", path);
  if (!link_exists(file, name)) {
    H5Fclose(file);
    return -1;
  }
  return ok(H5Gopen2(file, name.c_str(), H5P_DEFAULT), "open group " + name, path);
}

}  // namespace

bool read_attention(const std::string& path, const std::string& group, AttentionRecord& out) {
  hid_t file;
  hid_t g = open_group(path, join_path(group, "attention"), file);
  if (g < 0) return false;
  out.mass = read_dataset<double>(g, "mass", H5T_NATIVE_DOUBLE, path);
  out.mass_sq = read_dataset<double>(g, "mass_sq", H5T_NATIVE_DOUBLE, path);
  out.slot = read_dataset<double>(g, "slot_mean", H5T_NATIVE_DOUBLE, path);
  out.slot_sq = read_dataset<double>(g, "slot_mean_sq", H5T_NATIVE_DOUBLE, path);
  out.all = read_dataset<double>(g, "mass_all_layers", H5T_NATIVE_DOUBLE, path);
  out.all_sq = read_dataset<double>(g, "mass_all_layers_sq", H5T_NATIVE_DOUBLE, path);
  out.samples = read_dataset<int64_t>(g, "count", H5T_NATIVE_INT64, path).at(0);
  out.regions = read_string_attr(g, "regions", path);
  out.edges = read_int_attr(g, "edges", path);
  out.region_of = read_int_attr(g, "bucket_region", path);
  out.sequences = read_int_attr(g, "sequences", path).at(0);
  hid_t d = H5Dopen2(g, "mass", H5P_DEFAULT);
  hid_t space = H5Dget_space(d);
  hsize_t dims[3] = {0, 0, 0};
  H5Sget_simple_extent_dims(space, dims, nullptr);
  out.n_layer = static_cast<int64_t>(dims[0]);
  out.n_head = static_cast<int64_t>(dims[1]);
  H5Sclose(space);
  H5Dclose(d);
  H5Gclose(g);
  H5Fclose(file);
  return true;
}

bool read_frequency(const std::string& path, const std::string& group, FrequencyRecord& out) {
  hid_t file;
  hid_t g = open_group(path, join_path(group, "frequency"), file);
  if (g < 0) return false;
  out.nll_sum = read_dataset<double>(g, "nll_sum", H5T_NATIVE_DOUBLE, path);
  out.count = read_dataset<int64_t>(g, "count", H5T_NATIVE_INT64, path);
  out.types = read_dataset<int64_t>(g, "types", H5T_NATIVE_INT64, path);
  out.labels = read_string_attr(g, "labels", path);
  H5Gclose(g);
  H5Fclose(file);
  return true;
}

}  // namespace ctlab

#else  // built without HDF5 (CTLAB_WITH_HDF5=OFF)

#include "util/error.h"

namespace ctlab {
static const char* kNoHdf5 = "this ctlab was built without HDF5 (CTLAB_WITH_HDF5=OFF): no analysis.h5";
void write_analysis_file(const std::string&, const std::string&, const AnalysisResult&, const AnalysisMeta&,
                         const CompressionSeries&) {
  throw Error(kNoHdf5, ErrorKind::Run);
}
bool read_attention(const std::string&, const std::string&, AttentionRecord&) {
  throw Error(kNoHdf5, ErrorKind::Run);
}
bool read_frequency(const std::string&, const std::string&, FrequencyRecord&) {
  throw Error(kNoHdf5, ErrorKind::Run);
}
}  // namespace ctlab

#endif
