// Exception message helpers.
#include "util/error.h"

#include <c10/util/Exception.h>

namespace ctlab {

std::string brief_what(const std::exception& e) {
  std::string msg;
  if (auto* c10e = dynamic_cast<const c10::Error*>(&e)) {
    msg = c10e->what_without_backtrace();
  } else {
    msg = e.what();
  }
  // LibTorch appends "Exception raised from ... (most recent call first)" lines.
  auto cut = msg.find("\nException raised from");
  if (cut != std::string::npos) msg.resize(cut);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  return msg;
}

}  // namespace ctlab
