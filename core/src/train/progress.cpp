// The terminal line and the run's log.
#include "train/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace ctlab {

Progress::Progress(const std::string& log_path, bool echo)
    : log_(log_path, std::ios::app), tty_(echo && isatty(fileno(stdout))), echo_(echo) {}

void Progress::line(const std::string& s) {
  if (!echo_)
    ;
  else if (tty_)
    std::printf("\r\033[K%s", s.c_str());
  else
    std::printf("%s\n", s.c_str());
  std::fflush(stdout);
  log_ << s << "\n";
  log_.flush();
}

void Progress::note(const std::string& s) {
  if (echo_) {
    if (tty_) std::printf("\r\033[K");
    std::printf("%s\n", s.c_str());
    std::fflush(stdout);
  }
  log_ << s << "\n";
  log_.flush();
}

void Progress::done() {
  if (tty_) std::printf("\n");
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%dh%02dm", int(s / 3600), int(s / 60) % 60);
  else
    std::snprintf(buf, sizeof buf, "%dm%02ds", int(s / 60), int(s) % 60);
  return buf;
}

}  // namespace ctlab
