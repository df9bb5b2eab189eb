// Loading, validating and registering plugin libraries.
#include "plugin/plugin_host.h"

#include <algorithm>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <boost/filesystem.hpp>
#include <cstdlib>

#include "util/elf_needed.h"
#include "util/sha256.h"
#include "util/text.h"

namespace fs = boost::filesystem;

namespace ctlab {
namespace {

const char* kFilePrefix = "libctlab_plugin_";
const char* kHostTorch = CTLAB_TORCH_VERSION_STRING;

// Collects what one library registers, so that a library is accepted or rejected whole.
class CollectingRegistrar : public Registrar {
 public:
  void add_compression_fn(CompressionFnSpec spec) override { fns.push_back(std::move(spec)); }
  void add_compression_loss(CompressionLossSpec spec) override { losses.push_back(std::move(spec)); }
  void add_position_map(PositionMapSpec spec) override { maps.push_back(std::move(spec)); }
  std::vector<CompressionFnSpec> fns;
  std::vector<CompressionLossSpec> losses;
  std::vector<PositionMapSpec> maps;
};

std::string make_id(const std::string& name, int version) { return name + "@" + std::to_string(version); }

bool valid_name(const std::string& n) {
  if (n.empty()) return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

template <class Map>
const typename Map::mapped_type* lookup(const Map& m, const std::string& name) {
  auto at = name.find('@');
  if (at != std::string::npos) {
    auto it = m.find(name);
    return it == m.end() ? nullptr : &it->second;
  }
  const typename Map::mapped_type* best = nullptr;
  for (const auto& [id, e] : m)
    if (e.spec.name == name && (!best || e.spec.version > best->spec.version)) best = &e;
  return best;
}

template <class Map>
std::string available(const Map& m) {
  std::vector<std::string> ids;
  for (const auto& [id, e] : m) ids.push_back(id);
  return ids.empty() ? "(nothing loaded)" : join(ids, ", ");
}

}  // namespace

std::vector<std::string> PluginHost::search_path(const std::vector<std::string>& cli_dirs) {
  std::vector<std::string> dirs(cli_dirs.begin(), cli_dirs.end());
  if (const char* env = std::getenv("CTLAB_PLUGIN_PATH")) {
    for (const auto& d : split(env, ':'))
      if (!d.empty()) dirs.push_back(d);
  }
  boost::system::error_code ec;
  fs::path exe = boost::dll::program_location(ec);
  if (!ec) dirs.push_back((exe.parent_path().parent_path() / "lib" / "ctlab" / "plugins").string());
  dirs.push_back((fs::path(CTLAB_INSTALL_PREFIX) / "lib" / "ctlab" / "plugins").string());
  // Drop repeats of the same folder (by canonical path), keeping the first.
  std::vector<std::string> out;
  std::vector<std::string> seen;
  for (const auto& d : dirs) {
    boost::system::error_code ec2;
    auto canon = fs::weakly_canonical(fs::path(d), ec2).string();
    if (std::find(seen.begin(), seen.end(), canon) != seen.end()) continue;
    seen.push_back(canon);
    out.push_back(d);
  }
  return out;
}

void PluginHost::set_pins(const std::vector<std::string>& pins) {
  for (const auto& pin : pins) {
    const auto eq = pin.find('=');
    const std::string id = eq == std::string::npos ? pin : trim(pin.substr(0, eq));
    const std::string file = eq == std::string::npos ? "" : trim(pin.substr(eq + 1));
    const auto at = id.find('@');
    if (eq == std::string::npos || file.empty() || at == std::string::npos || !valid_name(id.substr(0, at)) ||
        id.find_first_not_of("0123456789", at + 1) != std::string::npos || at + 1 == id.size())
      throw Error(
          "plugin pin '" + pin +
          "': expected name@version=FILE, e.g. mean_pool@1=/opt/plugins/libctlab_plugin_mean_pool.so");
    boost::system::error_code ec;
    if (!fs::is_regular_file(file, ec))
      throw Error("plugin pin '" + pin + "': no library file '" + file + "'");
    const std::string canon = fs::weakly_canonical(fs::path(file), ec).string();
    auto [it, added] = pins_.emplace(id, canon);
    if (!added && it->second != canon)
      throw Error("plugin pin '" + pin + "': " + id + " is already pinned to '" + it->second + "'");
  }
}

void PluginHost::load(const PluginSources& sources) {
  set_pins(sources.pins);
  if (const char* env = std::getenv("CTLAB_PLUGIN_PIN")) {
    std::vector<std::string> pins;
    for (const auto& p : split(env, ','))
      if (!trim(p).empty()) pins.push_back(trim(p));
    try {
      set_pins(pins);
    } catch (const Error& e) {
      throw Error(std::string(e.what()) + " (in $CTLAB_PLUGIN_PIN)");
    }
  }
  load_directories(search_path(sources.dirs));
  for (const auto& [id, path] : pins_) {  // a pinned library outside the search path
    try {
      load_file(path);
    } catch (const Error&) {
      // recorded in files_; a lookup of the pinned id names it
    }
  }
}

template <class Map, class Spec>
void PluginHost::add_entry(Map& map, const std::string& kind, Spec spec, const PluginFile& file) {
  const auto id = make_id(spec.name, spec.version);
  auto it = map.find(id);
  if (it == map.end()) {
    map.emplace(id, typename Map::mapped_type{std::move(spec), id, file.path, file.sha256, file.api});
    return;
  }
  auto& existing = it->second;
  if (existing.sha256 == file.sha256) return;  // the same library reached twice (a copy): no conflict
  auto& offered = conflicts_[kind + " " + id];
  if (offered.empty()) offered.push_back({existing.path, existing.sha256});
  offered.push_back({file.path, file.sha256});
  auto pin = pins_.find(id);
  if (pin != pins_.end() && pin->second == file.path)
    existing = typename Map::mapped_type{std::move(spec), id, file.path, file.sha256, file.api};
}

void PluginHost::check_identity(const std::string& kind, const std::string& id,
                                const std::string& chosen) const {
  const std::string what = (kind == "fn"    ? "compression function "
                            : kind == "map" ? "position map "
                                            : "compression loss ") +
                           id;
  const auto conflict = conflicts_.find(kind + " " + id);
  std::vector<std::string> offered;
  if (conflict != conflicts_.end())
    for (const auto& p : conflict->second)
      offered.push_back(p.path + " (sha256 " + p.sha256.substr(0, 12) + ")");
  else
    offered.push_back(chosen);
  const auto pin = pins_.find(id);
  if (pin != pins_.end() && pin->second != chosen)
    throw Error("plugin pin " + id + "=" + pin->second + ": that file does not offer " + what +
                "; it is offered by " + join(offered, " and ") + rejected_summary());
  if (conflict != conflicts_.end() && pin == pins_.end())
    throw Error(what + " is offered by libraries with different contents: " + join(offered, " and ") +
                "; choose one with --plugin-pin " + id + "=FILE (or CTLAB_PLUGIN_PIN=" + id +
                "=FILE), or remove the other from the plugin search path");
}

void PluginHost::load_directories(const std::vector<std::string>& dirs) {
  for (const auto& d : dirs) {
    boost::system::error_code ec;
    if (!fs::is_directory(d, ec)) continue;  // absent defaults are normal
    std::vector<fs::path> found;
    for (fs::directory_iterator it(d, ec), end; !ec && it != end; it.increment(ec)) {
      auto name = it->path().filename().string();
      if (starts_with(name, kFilePrefix) && it->path().extension() == ".so") found.push_back(it->path());
    }
    std::sort(found.begin(), found.end());
    for (const auto& p : found) {
      try {
        load_file(p.string());
      } catch (const Error&) {
        // recorded in files_
      }
    }
  }
}

void PluginHost::record_failure(PluginFile file, const std::string& why) {
  file.loaded = false;
  file.error = why;
  files_.push_back(file);
  throw Error("cannot use plugin file '" + file.path + "': " + why, ErrorKind::Plugin);
}

void PluginHost::load_file(const std::string& path_in) {
  PluginFile file;
  boost::system::error_code ec;
  fs::path canon = fs::weakly_canonical(fs::path(path_in), ec);
  file.path = ec ? path_in : canon.string();
  for (const auto& f : files_)
    if (f.path == file.path) return;  // the same file reached twice: already handled

  try {
    file.sha256 = sha256_file(file.path);
  } catch (const Error&) {
    record_failure(file, "cannot read the file");
  }

  auto* lib = open_library(file);
  file.api = lib->get<int()>("ctlab_plugin_api_version")();
  CollectingRegistrar reg;
  try {
    lib->get<void(Registrar&)>("ctlab_plugin_register")(reg);
  } catch (const std::exception& e) {
    record_failure(file, "registration threw: " + brief_what(e));
  } catch (...) {
    record_failure(file, "registration threw an unknown exception");
  }
  if (reg.fns.empty() && reg.losses.empty() && reg.maps.empty())
    record_failure(file, "registers no compression function, loss or position map");
  validate_registrations(file, reg.fns, reg.losses, reg.maps);
  for (auto& s : reg.fns) add_entry(fns_, "fn", std::move(s), file);
  for (auto& s : reg.losses) add_entry(losses_, "loss", std::move(s), file);
  for (auto& s : reg.maps) add_entry(maps_, "map", std::move(s), file);
  file.loaded = true;
  files_.push_back(file);
}

boost::dll::shared_library* PluginHost::open_library(PluginFile& file) {
  boost::system::error_code ec;
  // Before dlopen: a plugin linked against another LibTorch would load a second copy into
  // this process, whose static initialisers crash it.
  const auto foreign = foreign_torch_libraries(elf_needed_libraries(file.path), loaded_library_names());
  if (!foreign.empty())
    record_failure(file, "linked against another LibTorch (it needs " + join(foreign, ", ") +
                             ", which this ctlab, built with LibTorch " + kHostTorch +
                             ", does not use); build the plugin against this ctlab's installed package "
                             "(find_package(ctlab) finds the LibTorch it was built with)");
  // Kept alive for the whole process: objects created by the plugin may outlive any scope.
  auto* lib = new boost::dll::shared_library();
  lib->load(file.path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
  if (ec) {
    delete lib;
    std::string detail = ec.message();
    record_failure(file, "not a loadable shared library (" + detail + ")");
  }
  for (const char* sym :
       {"ctlab_plugin_api_version", "ctlab_plugin_torch_version", "ctlab_plugin_register"}) {
    if (!lib->has(sym))
      record_failure(file, std::string("missing entry point '") + sym +
                               "' (was it built with the CTLAB_PLUGIN(...) macro?)");
  }
  int api = lib->get<int()>("ctlab_plugin_api_version")();
  if (api < CTLAB_PLUGIN_API_OLDEST || api > CTLAB_PLUGIN_API_VERSION)
    record_failure(file, "plugin API version " + std::to_string(api) + " but this ctlab speaks versions " +
                             std::to_string(CTLAB_PLUGIN_API_OLDEST) + " to " +
                             std::to_string(CTLAB_PLUGIN_API_VERSION) +
                             "; rebuild the plugin against this ctlab's SDK");
  const char* torch_c = lib->get<const char*()>("ctlab_plugin_torch_version")();
  std::string torch = torch_c ? torch_c : "(null)";
  if (torch != kHostTorch)
    record_failure(file, "built against LibTorch " + torch + " but this ctlab uses LibTorch " + kHostTorch +
                             "; C++ types differ between LibTorch releases, rebuild the plugin");
  return lib;
}

// Validates everything before anything is committed: a library is accepted or rejected whole.
void PluginHost::validate_registrations(PluginFile& file, const std::vector<CompressionFnSpec>& fns,
                                        const std::vector<CompressionLossSpec>& losses,
                                        const std::vector<PositionMapSpec>& maps) {
  std::vector<std::string> ids;
  auto check = [&](const std::string& kind, const std::string& name, int version, bool has_factory,
                   const std::vector<ParamSpec>& params) {
    if (!valid_name(name))
      record_failure(file, kind + " name '" + name + "' is not valid (letters, digits, '_' or '-')");
    if (version < 1)
      record_failure(file, kind + " " + name + " has version " + std::to_string(version) + "; expected >= 1");
    auto id = make_id(name, version);
    if (!has_factory) record_failure(file, kind + " " + id + " has no create function");
    // The same id from another library is settled by content (add_entry), not rejected.
    if (std::find(ids.begin(), ids.end(), kind + id) != ids.end())
      record_failure(file, "duplicate " + kind + " " + id +
                               " within this file; a changed plugin must register a new version");
    for (const auto& p : params) {
      if (p.name.empty()) record_failure(file, kind + " " + id + " declares a parameter with no name");
    }
    ids.push_back(kind + id);
    file.provides.push_back(kind + " " + id);
  };
  for (const auto& s : fns) check("fn", s.name, s.version, static_cast<bool>(s.create), s.params);
  for (const auto& s : losses) check("loss", s.name, s.version, static_cast<bool>(s.create), s.params);
  for (const auto& s : maps) check("map", s.name, s.version, static_cast<bool>(s.create), {});
}

std::vector<const FnEntry*> PluginHost::compression_fns() const {
  std::vector<const FnEntry*> v;
  for (const auto& [id, e] : fns_) v.push_back(&e);
  return v;
}

std::vector<const LossEntry*> PluginHost::compression_losses() const {
  std::vector<const LossEntry*> v;
  for (const auto& [id, e] : losses_) v.push_back(&e);
  return v;
}

std::vector<const MapEntry*> PluginHost::position_maps() const {
  std::vector<const MapEntry*> v;
  for (const auto& [id, e] : maps_) v.push_back(&e);
  return v;
}

std::string PluginHost::rejected_summary() const {
  std::string s;
  for (const auto& f : files_)
    if (!f.loaded) s += "\n  rejected " + f.path + ": " + f.error;
  return s;
}

template <class Entry>
const Entry& PluginHost::find_entry(const std::map<std::string, Entry>& entries, const std::string& name,
                                    const std::string& kind, const std::string& what) const {
  if (auto* e = lookup(entries, name)) {
    check_identity(kind, e->id, e->path);
    return *e;
  }
  std::vector<std::string> names;
  for (const auto& [id, e] : entries) names.push_back(e.spec.name);
  throw Error("no " + what + " '" + name + "'" + did_you_mean(name, names) +
              "; available: " + available(entries) + rejected_summary());
}

const FnEntry& PluginHost::compression_fn(const std::string& name) const {
  return find_entry(fns_, name, "fn", "compression function");
}

const LossEntry& PluginHost::compression_loss(const std::string& name) const {
  return find_entry(losses_, name, "loss", "compression loss");
}

const MapEntry& PluginHost::position_map(const std::string& name) const {
  return find_entry(maps_, name, "map", "position map");
}

std::shared_ptr<PositionMap> PluginHost::create(const MapEntry& e, const PluginContext& ctx) const {
  auto obj = call_plugin(e.id, e.path, "create (layer " + std::to_string(ctx.layer) + ")",
                         [&] { return e.spec.create(ctx); });
  if (!obj)
    throw Error("plugin " + e.id + " (" + e.path + ") returned no object from create", ErrorKind::Plugin);
  return obj;
}

std::shared_ptr<CompressionFn> PluginHost::create(const FnEntry& e, const PluginContext& ctx) const {
  auto obj = call_plugin(e.id, e.path, "create (layer " + std::to_string(ctx.layer) + ")",
                         [&] { return e.spec.create(ctx); });
  if (!obj)
    throw Error("plugin " + e.id + " (" + e.path + ") returned no object from create", ErrorKind::Plugin);
  return obj;
}

std::shared_ptr<CompressionLoss> PluginHost::create(const LossEntry& e, const PluginContext& ctx) const {
  auto obj = call_plugin(e.id, e.path, "create (layer " + std::to_string(ctx.layer) + ")",
                         [&] { return e.spec.create(ctx); });
  if (!obj && e.spec.mode == LossMode::Auxiliary)
    throw Error(
        "plugin " + e.id + " (" + e.path + ") is an auxiliary loss but returned no object from create",
        ErrorKind::Plugin);
  return obj;
}

void check_compression_output(const std::string& plugin_id, const CompressionInput& in,
                              const torch::Tensor& out, torch::Tensor* nonfinite) {
  const auto& old = in.old;
  auto where = "compression function " + plugin_id + " at layer " + std::to_string(in.layer);
  auto shapes = " (input " + c10::str(old.sizes()) + ", rate " + std::to_string(in.rate) + ", output " +
                (out.defined() ? c10::str(out.sizes()) : std::string("undefined")) + ")";
  if (!out.defined()) throw Error(where + " returned an undefined tensor" + shapes, ErrorKind::Run);
  std::vector<int64_t> want = {old.size(0) / in.rate, old.size(1), old.size(2)};
  if (out.sizes() != c10::IntArrayRef(want))
    throw Error(where + " returned the wrong shape: expected " + c10::str(c10::IntArrayRef(want)) + shapes,
                ErrorKind::Run);
  if (out.scalar_type() != old.scalar_type())
    throw Error(where + " returned dtype " + std::string(c10::toString(out.scalar_type())) + ", expected " +
                    c10::toString(old.scalar_type()) + shapes,
                ErrorKind::Run);
  if (out.device() != old.device())
    throw Error(
        where + " returned a tensor on " + out.device().str() + ", expected " + old.device().str() + shapes,
        ErrorKind::Run);
  if (nonfinite) {
    auto bad = torch::isfinite(out.detach()).all().logical_not();
    *nonfinite = nonfinite->defined() ? nonfinite->logical_or(bad) : bad;
    return;
  }
  if (!torch::isfinite(out.detach()).all().item<bool>())
    throw Error(where + " returned non-finite values" + shapes, ErrorKind::Run);
}

void check_position_output(const std::string& map_id, const PositionInput& in, int64_t n_cm,
                           const torch::Tensor& out) {
  const auto& q = in.q;
  auto where = "position map " + map_id + " at layer " + std::to_string(in.layer);
  auto shapes = " (queries " + c10::str(q.sizes()) + ", " + std::to_string(n_cm) +
                " compressed slots, output " +
                (out.defined() ? c10::str(out.sizes()) : std::string("undefined")) + ")";
  if (!out.defined()) throw Error(where + " returned an undefined tensor" + shapes, ErrorKind::Run);
  std::vector<int64_t> want = {q.size(1), q.size(2), q.size(0), n_cm};
  if (out.sizes() != c10::IntArrayRef(want))
    throw Error(where + " returned the wrong shape: expected " + c10::str(c10::IntArrayRef(want)) + shapes,
                ErrorKind::Run);
  if (out.device() != q.device())
    throw Error(
        where + " returned a tensor on " + out.device().str() + ", expected " + q.device().str() + shapes,
        ErrorKind::Run);
}

}  // namespace ctlab
