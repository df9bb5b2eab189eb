// What a training run prints while it trains: one live line on a terminal (plain lines
// otherwise) and every line appended to the run's log (runs/<run_id>/log.txt, or
// rank<r>.log for ranks other than 0).
#pragma once

#include <fstream>
#include <string>

namespace ctlab {

class Progress {
 public:
  // echo: also to the terminal (rank 0); other ranks only write their log.
  Progress(const std::string& log_path, bool echo);
  // The live line: replaces the previous one on a terminal.
  void line(const std::string& s);
  // A line that stays: a note, a warning, a validation result.
  void note(const std::string& s);
  // Ends the live line.
  void done();

 private:
  std::ofstream log_;
  bool tty_, echo_;
};

// "1h05m", "3m07s"; "?" for a negative or non-finite number of seconds.
std::string format_duration(double seconds);

}  // namespace ctlab
