// Reading a safetensors file back (store/safetensors.h writes them): the tests check
// exported weights with it; ctlab itself only writes the format.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "store/safetensors.h"
#include "util/error.h"
#include "util/file_io.h"

namespace ctlab::test {

struct SafeTensorsHeader {
  std::map<std::string, std::string> metadata;
  std::vector<SafeTensor> tensors;  // with bytes filled in
};

// The metadata and each tensor's name, dtype, shape and bytes. Throws ctlab::Error naming
// the file.
inline SafeTensorsHeader read_safetensors(const std::string& path) {
  const std::string data = read_file(path, "safetensors file");
  if (data.size() < 8)
    throw Error("'" + path + "' is not a safetensors file: shorter than its header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(data[i]);
  if (n > data.size() - 8)
    throw Error("'" + path + "' is not a safetensors file: header length past the end");
  SafeTensorsHeader h;
  try {
    const auto j = nlohmann::json::parse(data.substr(8, n));
    for (const auto& [name, v] : j.items()) {
      if (name == "__metadata__") {
        h.metadata = v.get<std::map<std::string, std::string>>();
        continue;
      }
      SafeTensor t{name, v.at("dtype").get<std::string>(), v.at("shape").get<std::vector<int64_t>>(), {}};
      const auto off = v.at("data_offsets").get<std::vector<uint64_t>>();
      if (off.size() != 2 || off[0] > off[1] || 8 + n + off[1] > data.size())
        throw Error("tensor '" + name + "': offsets outside the file");
      t.bytes = data.substr(8 + n + off[0], off[1] - off[0]);
      h.tensors.push_back(std::move(t));
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error("'" + path + "': bad safetensors header (" + e.what() + ")");
  } catch (const Error& e) {
    throw Error("'" + path + "': " + e.what());
  }
  return h;
}

}  // namespace ctlab::test
