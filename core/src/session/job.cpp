#include "session/job.h"

#include <boost/dll/runtime_symbol_info.hpp>
#include <nlohmann/json.hpp>

#include "config/options.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/file_io.h"
#include "util/spawn.h"

namespace ctlab {

using json = nlohmann::json;

std::string job_to_json(const TrainJob& j) {
  json o = {{"ctlab_job", TrainJob::kVersion},
            {"config_file", j.config_file},
            {"config_text", j.config_text},
            {"overrides", j.overrides},
            {"expect_run_id", j.expect_run_id},
            {"threads", j.threads ? json(*j.threads) : json(nullptr)},
            {"device", j.device ? json(*j.device) : json(nullptr)},
            {"results_root", j.results_root},
            {"hparams", j.hparams},
            {"plugin_dirs", j.plugins.dirs},
            {"plugin_pins", j.plugins.pins},
            {"accept_plugin_change", j.accept_plugin_change},
            {"check_memory", j.check_memory},
            {"nproc", j.nproc},
            {"backend", to_string(j.backend)},
            {"dist_timeout_s", j.dist_timeout_s}};
  return o.dump(2) + "\n";
}

TrainJob job_from_json(const std::string& text, const std::string& path) {
  json o;
  try {
    o = json::parse(text);
  } catch (const json::exception& e) {
    throw Error("job file '" + path + "': not valid JSON (" + e.what() + ")");
  }
  const auto field = [&](const char* key) -> const json& {
    if (!o.is_object() || !o.contains(key)) throw Error("job file '" + path + "': no field '" + key + "'");
    return o.at(key);
  };
  TrainJob j;
  try {
    if (field("ctlab_job").get<int>() != TrainJob::kVersion)
      throw Error("job file '" + path + "': version " + field("ctlab_job").dump() + ", this ctlab reads " +
                  std::to_string(TrainJob::kVersion) + " (written by another ctlab version?)");
    j.config_file = field("config_file").get<std::string>();
    j.config_text = field("config_text").get<std::string>();
    j.overrides = field("overrides").get<std::vector<std::string>>();
    j.expect_run_id = field("expect_run_id").get<std::string>();
    if (!field("threads").is_null()) j.threads = field("threads").get<int64_t>();
    if (!field("device").is_null()) j.device = field("device").get<std::string>();
    j.results_root = field("results_root").get<std::string>();
    j.hparams = field("hparams").get<std::vector<std::pair<std::string, std::string>>>();
    j.plugins.dirs = field("plugin_dirs").get<std::vector<std::string>>();
    j.plugins.pins = field("plugin_pins").get<std::vector<std::string>>();
    j.accept_plugin_change = field("accept_plugin_change").get<bool>();
    j.check_memory = field("check_memory").get<bool>();
    j.nproc = field("nproc").get<int>();
    j.backend = parse_backend(field("backend").get<std::string>());
    j.dist_timeout_s = field("dist_timeout_s").get<int>();
  } catch (const json::exception& e) {
    throw Error("job file '" + path + "': a field has the wrong type (" + e.what() + ")");
  }
  if (j.nproc < 1 || j.nproc > 1024)
    throw Error("job file '" + path + "': nproc " + std::to_string(j.nproc) + ": expected 1 to 1024 ranks");
  if (j.dist_timeout_s < 1)
    throw Error("job file '" + path + "': dist_timeout_s " + std::to_string(j.dist_timeout_s) +
                ": expected >= 1 second");
  if (j.threads && *j.threads < 0)
    throw Error("job file '" + path + "': threads " + std::to_string(*j.threads) + ": expected >= 0");
  if (j.device) {  // the flag table's rule for the key, as for a run file's value
    RunConfig probe;
    apply_setting(probe, "device", *j.device, "job file '" + path + "'");
  }
  if (j.config_file.empty() == j.config_text.empty())
    throw Error("job file '" + path + "': expected either config_file or config_text");
  return j;
}

void write_job(const std::string& path, const TrainJob& job) { write_file_atomic(path, job_to_json(job)); }

TrainJob read_job(const std::string& path) { return job_from_json(read_file(path, "job file"), path); }

std::vector<std::string> job_command(const std::string& job_file) {
  return {boost::dll::program_location().string(), kJobCommand, job_file};
}

pid_t start_job(const TrainJob& job, const std::string& job_file, const JobStart& how) {
  write_job(job_file, job);
  ChildSpec child;
  child.argv = job_command(job_file);
  child.output = how.output;
  if (job.threads && *job.threads > 0) {
    const std::string n = std::to_string(*job.threads);
    child.env = {{"OPENBLAS_NUM_THREADS", n}, {"OMP_NUM_THREADS", n}};
  }
  child.env.insert(child.env.end(), how.env.begin(), how.env.end());
  return spawn_child(child);
}

}  // namespace ctlab
