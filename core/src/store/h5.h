// Owning HDF5 handles: every identifier is closed by its destructor (also when an error
// unwinds), and every call that can fail goes through check(), which throws ctlab::Error
// naming the file and the step. Only store/analysis_file.cpp uses HDF5.
#pragma once

#if CTLAB_HAVE_HDF5
#include <hdf5.h>

#include <string>
#include <utility>

#include "util/error.h"

namespace ctlab::h5 {

// A failed call (negative result) becomes ctlab::Error: "HDF5 file '<path>': <what> failed".
inline hid_t check(hid_t v, const std::string& what, const std::string& path) {
  if (v < 0) throw Error("HDF5 file '" + path + "': " + what + " failed", ErrorKind::Run);
  return v;
}
inline void check_status(herr_t v, const std::string& what, const std::string& path) {
  if (v < 0) throw Error("HDF5 file '" + path + "': " + what + " failed", ErrorKind::Run);
}

class Id {
 public:
  using Closer = herr_t (*)(hid_t);
  Id() = default;
  // Takes a checked identifier: throws (closing nothing) when `id` is negative.
  Id(hid_t id, Closer close, const std::string& what, const std::string& path)
      : id_(check(id, what, path)), close_(close) {}
  ~Id() {
    if (id_ >= 0) close_(id_);  // errors while unwinding cannot be reported
  }
  Id(Id&& o) noexcept : id_(std::exchange(o.id_, -1)), close_(o.close_) {}
  Id& operator=(Id&& o) noexcept {
    if (this != &o) {
      if (id_ >= 0) close_(id_);
      id_ = std::exchange(o.id_, -1);
      close_ = o.close_;
    }
    return *this;
  }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  hid_t get() const { return id_; }
  // Closes now and checks the result (a file's close flushes it: its failure loses data).
  void close(const std::string& what, const std::string& path) {
    hid_t id = std::exchange(id_, -1);
    check_status(close_(id), what, path);
  }

 private:
  hid_t id_ = -1;
  Closer close_ = nullptr;
};

inline Id file(hid_t id, const std::string& what, const std::string& path) {
  return Id(id, H5Fclose, what, path);
}
inline Id group(hid_t id, const std::string& what, const std::string& path) {
  return Id(id, H5Gclose, what, path);
}
inline Id dataset(hid_t id, const std::string& what, const std::string& path) {
  return Id(id, H5Dclose, what, path);
}
inline Id space(hid_t id, const std::string& what, const std::string& path) {
  return Id(id, H5Sclose, what, path);
}
inline Id attribute(hid_t id, const std::string& what, const std::string& path) {
  return Id(id, H5Aclose, what, path);
}
inline Id type(hid_t id, const std::string& what, const std::string& path) {
  return Id(id, H5Tclose, what, path);
}
inline Id plist(hid_t id, const std::string& what, const std::string& path) {
  return Id(id, H5Pclose, what, path);
}

}  // namespace ctlab::h5

#endif
