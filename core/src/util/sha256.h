// SHA-256 of byte strings and files (FIPS 180-4), used to identify plugin libraries and
// artifacts in the results store.
#pragma once

#include <string>

namespace ctlab {

std::string sha256_hex(const std::string& bytes);
// Throws ctlab::Error when the file cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace ctlab
