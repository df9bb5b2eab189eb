// Disk space held back for a process's last write: a file of real blocks that is removed
// just before that write when the disk is full, so a run that filled its filesystem can
// still record how it ended.
#pragma once

#include <cstdint>
#include <string>

namespace ctlab {

class SpaceReserve {
 public:
  SpaceReserve() = default;
  ~SpaceReserve() { release(); }
  SpaceReserve(const SpaceReserve&) = delete;
  SpaceReserve& operator=(const SpaceReserve&) = delete;

  // Writes `bytes` of zeros to `path` (replacing a reserve that a killed process left
  // there) and syncs them, so the blocks are allocated. Returns false, leaving no file,
  // when the filesystem cannot hold them. Releases a reserve held before.
  bool hold(const std::string& path, int64_t bytes);
  // Removes the file, giving its blocks back; true when there was one. Idempotent.
  bool release() noexcept;
  bool held() const { return !path_.empty(); }

 private:
  std::string path_;
};

}  // namespace ctlab
