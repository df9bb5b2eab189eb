// Which process owns something, and whether it is still there. An owner is written
// "host:pid:start" (start = the process's start time in clock ticks after boot, from
// /proc/<pid>/stat), so that a pid reused by an unrelated process is not mistaken for the
// owner. Older stores wrote "host:pid", which is still understood.
#pragma once

#include <sys/types.h>

#include <string>

namespace ctlab {

std::string this_host();
// "host:pid:start" of the calling process (pid 0) or of `pid` on this host.
std::string process_owner(pid_t pid = 0);

enum class Liveness {
  Alive,    // a process on this host with that pid (and start time) exists
  Gone,     // it does not, or the owner text is empty or malformed
  Unknown,  // another host: only its heartbeat can tell
};
Liveness owner_liveness(const std::string& owner);
// Whether `owner` is the parent of the calling process (a grid scheduler and its worker).
bool owner_is_parent(const std::string& owner);
// Whether the owner text carries a start time (written by this version or later).
bool owner_has_start_time(const std::string& owner);

}  // namespace ctlab
