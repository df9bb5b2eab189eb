// Reading a whole file, with the errors every reader of user files gives.
#pragma once

#include <string>

namespace ctlab {

// The bytes of `path`. Throws ctlab::Error naming `what` and the path when it does not
// exist, is a folder or cannot be read ("text file '/x' does not exist").
std::string read_file(const std::string& path, const std::string& what);

}  // namespace ctlab
