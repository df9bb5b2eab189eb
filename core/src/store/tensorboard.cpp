// TensorBoard event files: records framed with masked CRC-32C (Boost.CRC), Event messages
// from store/tensorboard.proto, the resume cut, and the reader the cut and the tests use.
#include "store/tensorboard.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/crc.hpp>
#include <boost/filesystem.hpp>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "store/tensorboard.pb.h"
#include "util/clock.h"
#include "util/error.h"

namespace fs = boost::filesystem;

namespace ctlab {

namespace {

constexpr const char* kFilePrefix = "events.out.tfevents.";
constexpr const char* kStartTag = "_hparams_/session_start_info";
constexpr const char* kEndTag = "_hparams_/session_end_info";
constexpr const char* kHparamsPlugin = "hparams";

std::string le64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

std::string le32(uint32_t v) { return le64(v).substr(0, 4); }

uint64_t read_le(const std::string& bytes, size_t at, int width) {
  uint64_t v = 0;
  for (int i = width - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
  return v;
}

// One framed record around serialised bytes.
std::string frame(const std::string& data) {
  const std::string len = le64(data.size());
  return len + le32(masked_crc32c(len.data(), len.size())) + data +
         le32(masked_crc32c(data.data(), data.size()));
}

// A hyperparameter's value as the hparams plugin's google.protobuf.Value: a number when the
// whole text reads as a finite number, a boolean for true/false, else the text.
google::protobuf::Value hparam_value(const std::string& text) {
  google::protobuf::Value v;
  char* end = nullptr;
  errno = 0;
  const double d = text.empty() ? NAN : std::strtod(text.c_str(), &end);
  if (!text.empty() && end && *end == '\0' && errno == 0 && std::isfinite(d))
    v.set_number_value(d);
  else if (text == "true" || text == "false")
    v.set_bool_value(text == "true");
  else
    v.set_string_value(text);
  return v;
}

std::string value_text(const google::protobuf::Value& v) {
  if (v.has_number_value()) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v.number_value());
    return buf;
  }
  if (v.has_bool_value()) return v.bool_value() ? "true" : "false";
  return v.string_value();
}

std::string hparams_event(const tb::HParamsPluginData& data, const char* tag, int64_t step,
                          double wall_time) {
  tb::Event e;
  e.set_wall_time(wall_time);
  e.set_step(step);
  auto* value = e.mutable_summary()->add_value();
  value->set_tag(tag);
  auto* plugin = value->mutable_metadata()->mutable_plugin_data();
  plugin->set_plugin_name(kHparamsPlugin);
  plugin->set_content(data.SerializeAsString());
  return e.SerializeAsString();
}

// What one Event message holds, for the reader.
TbRecord to_record(const tb::Event& e) {
  TbRecord r;
  r.step = e.step();
  r.wall_time = e.wall_time();
  r.file_version = e.file_version();
  for (const auto& v : e.summary().value()) {
    if (v.has_simple_value()) r.values.emplace_back(v.tag(), v.simple_value());
    if (v.metadata().plugin_data().plugin_name() != kHparamsPlugin) continue;
    tb::HParamsPluginData data;
    if (!data.ParseFromString(v.metadata().plugin_data().content())) continue;
    if (data.has_session_start_info()) {
      r.session_start = true;
      r.group = data.session_start_info().group_name();
      for (const auto& [k, val] : data.session_start_info().hparams())
        r.hparams.emplace_back(k, value_text(val));
    }
    if (data.has_session_end_info()) r.session_end = true;
  }
  return r;
}

// The newest event file in `dir`, or "" when there is none.
std::string newest_event_file(const std::string& dir) {
  std::string best;
  boost::system::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (name.rfind(kFilePrefix, 0) == 0 && fs::is_regular_file(it->path()) && name > best) best = name;
  }
  return best.empty() ? "" : dir + "/" + best;
}

std::string new_event_file(const std::string& dir) {
  char host[256] = "host";
  if (gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "host");
  host[sizeof host - 1] = '\0';
  return dir + "/" + kFilePrefix + std::to_string(static_cast<long long>(unix_seconds())) + "." + host +
         ".ctlab";
}

}  // namespace

uint32_t crc32c(const void* data, size_t size) {
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;
  crc.process_bytes(data, size);
  return crc.checksum();
}

uint32_t masked_crc32c(const void* data, size_t size) {
  const uint32_t c = crc32c(data, size);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

TbReadResult read_event_file(const std::string& path) {
  std::string bytes;
  {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      throw Error("TensorBoard event file '" + path + "': cannot open (" + std::strerror(errno) + ")");
    char buf[1 << 16];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) bytes.append(buf, static_cast<size_t>(n));
    const int err = errno;
    ::close(fd);
    if (n < 0) throw Error("TensorBoard event file '" + path + "': cannot read (" + std::strerror(err) + ")");
  }
  TbReadResult out;
  size_t at = 0;
  while (at + 12 <= bytes.size()) {
    const uint64_t len = read_le(bytes, at, 8);
    if (static_cast<uint32_t>(read_le(bytes, at + 8, 4)) != masked_crc32c(bytes.data() + at, 8)) break;
    if (len > bytes.size() - at - 12 || bytes.size() - at - 12 - len < 4) break;
    const char* data = bytes.data() + at + 12;
    if (static_cast<uint32_t>(read_le(bytes, at + 12 + len, 4)) != masked_crc32c(data, len)) break;
    tb::Event e;
    if (!e.ParseFromArray(data, static_cast<int>(len))) break;
    at += 16 + len;
    out.records.push_back(to_record(e));
    out.records.back().end_offset = static_cast<int64_t>(at);
  }
  out.intact_bytes = static_cast<int64_t>(at);
  return out;
}

TbEventFile::TbEventFile(const std::string& dir, int64_t keep_through) {
  boost::system::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error("TensorBoard folder '" + dir + "': cannot create (" + ec.message() + ")");
  path_ = newest_event_file(dir);
  int64_t keep = 0;
  if (!path_.empty()) {
    // Keep the prefix up to the first record that comes after the resume step or ends a
    // session (an attempt's end record is its last).
    for (const auto& r : read_event_file(path_).records) {
      if (r.step > keep_through || r.session_end) break;
      keep = r.end_offset;
      has_start_ = has_start_ || r.session_start;
    }
  } else {
    path_ = new_event_file(dir);
  }
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw Error("TensorBoard event file '" + path_ + "': cannot open (" + std::strerror(errno) + ")");
  if (::ftruncate(fd_, keep) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    throw Error("TensorBoard event file '" + path_ + "': cannot cut at byte " + std::to_string(keep) + " (" +
                std::strerror(err) + ")");
  }
  if (keep == 0) {
    tb::Event e;
    e.set_wall_time(unix_seconds());
    e.set_file_version("brain.Event:2");
    append({e.SerializeAsString()});
  }
}

TbEventFile::~TbEventFile() {
  if (fd_ >= 0) ::close(fd_);
}

void TbEventFile::append(const std::vector<std::string>& events) {
  std::string bytes;
  for (const auto& e : events) bytes += frame(e);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw Error("TensorBoard event file '" + path_ + "': cannot write (" + std::strerror(errno) + ")",
                  ErrorKind::Run);
    done += static_cast<size_t>(n);
  }
}

void TbEventFile::scalars(const std::vector<TbScalar>& values) {
  std::vector<std::string> events;
  for (const auto& s : values) {
    tb::Event e;
    e.set_wall_time(s.wall_time);
    e.set_step(s.step);
    auto* v = e.mutable_summary()->add_value();
    v->set_tag(s.tag);
    v->set_simple_value(static_cast<float>(s.value));
    events.push_back(e.SerializeAsString());
  }
  if (!events.empty()) append(events);
}

void TbEventFile::session_start(const std::vector<std::pair<std::string, std::string>>& hparams,
                                const std::string& group, double wall_time) {
  tb::HParamsPluginData data;
  data.set_version(0);
  auto* info = data.mutable_session_start_info();
  for (const auto& [k, v] : hparams) (*info->mutable_hparams())[k] = hparam_value(v);
  info->set_group_name(group);
  info->set_start_time_secs(wall_time);
  append({hparams_event(data, kStartTag, 0, wall_time)});
  has_start_ = true;
}

void TbEventFile::session_end(TbSessionEnd status, int64_t step, double wall_time) {
  tb::HParamsPluginData data;
  data.set_version(0);
  auto* info = data.mutable_session_end_info();
  info->set_status(status == TbSessionEnd::Success ? tb::STATUS_SUCCESS : tb::STATUS_FAILURE);
  info->set_end_time_secs(wall_time);
  append({hparams_event(data, kEndTag, step, wall_time)});
}

}  // namespace ctlab
