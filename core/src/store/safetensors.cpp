#include "store/safetensors.h"

#include <nlohmann/json.hpp>
#include <set>

#include "util/error.h"
#include "util/file_io.h"

namespace ctlab {
namespace {

int64_t itemsize(const std::string& dtype) {
  static const std::map<std::string, int64_t> sizes = {{"F64", 8}, {"F32", 4}, {"BF16", 2}, {"F16", 2},
                                                       {"I64", 8}, {"I32", 4}, {"U8", 1},   {"BOOL", 1}};
  auto it = sizes.find(dtype);
  if (it == sizes.end()) throw Error("safetensors: unknown dtype '" + dtype + "'");
  return it->second;
}

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

std::string safetensors_bytes(const std::vector<SafeTensor>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header;
  header["__metadata__"] = metadata;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (!names.insert(t.name).second) throw Error("safetensors: tensor '" + t.name + "' given twice");
    const auto expected = static_cast<size_t>(numel(t.shape) * itemsize(t.dtype));
    if (t.bytes.size() != expected)
      throw Error("safetensors: tensor '" + t.name + "' has " + std::to_string(t.bytes.size()) +
                  " bytes, its shape and dtype need " + std::to_string(expected));
    header[t.name] = {
        {"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string out;
  out.reserve(8 + json.size() + offset);
  put_u64(out, json.size());
  out += json;
  for (const auto& t : tensors) out += t.bytes;
  return out;
}

SafeTensorsHeader read_safetensors(const std::string& path) {
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

}  // namespace ctlab
