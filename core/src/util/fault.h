// Fault injection for the tests of what a failed write leaves behind. Real full disks and
// I/O errors are impractical in a test suite, so one environment variable makes a chosen
// write fail the way a full disk does:
//
//   CTLAB_FAIL_WRITE=<target>[@N]
//
// fails the Nth write (default the first) of that target in the process: a file name
// written atomically ("checkpoint.pt", "analysis.h5", "report.md", the name of an export
// file) or "sqlite" for the run store's metric writes. Without the variable nothing is
// ever injected.
#pragma once

#include <string>

namespace ctlab {

// Counts a write of `target`; true when this is the one to fail. Sets errno to ENOSPC
// when it returns true.
bool inject_write_fault(const std::string& target);

}  // namespace ctlab
