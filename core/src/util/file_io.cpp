#include "util/file_io.h"

#include <boost/filesystem.hpp>
#include <fstream>
#include <sstream>

#include "util/error.h"

namespace ctlab {

std::string read_file(const std::string& path, const std::string& what) {
  namespace fs = boost::filesystem;
  boost::system::error_code ec;
  if (!fs::exists(path, ec)) throw Error(what + " '" + path + "' does not exist");
  if (fs::is_directory(path, ec)) throw Error(what + " '" + path + "' is a folder, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(what + " '" + path + "' cannot be read");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace ctlab
