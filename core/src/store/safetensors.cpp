#include "store/safetensors.h"

#include <nlohmann/json.hpp>
#include <set>

#include "util/error.h"

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

}  // namespace ctlab
