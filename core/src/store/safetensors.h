// The safetensors format (a JSON header, then the raw little-endian tensors), written by
// ctlab so that a run's weights open in PyTorch, numpy or the `safetensors` package
// without LibTorch's archive format. Layout: an 8-byte little-endian length N, N bytes of
// JSON ({"__metadata__": {...}, "<name>": {"dtype", "shape", "data_offsets"}, ...}, padded
// with spaces to a multiple of 8), then the tensors' bytes back to back in the order given.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ctlab {

struct SafeTensor {
  std::string name;
  std::string dtype;  // "F32", "F64", "BF16", "F16", "I64", "I32", "U8", "BOOL"
  std::vector<int64_t> shape;
  std::string bytes;  // little-endian, row-major; size = product(shape) * itemsize
};

// The file's bytes. Throws ctlab::Error for a repeated name or bytes that do not match the
// shape and dtype.
std::string safetensors_bytes(const std::vector<SafeTensor>& tensors,
                              const std::map<std::string, std::string>& metadata);

}  // namespace ctlab
