// ELF dynamic-section reading with <elf.h>'s layouts; no library is loaded to do it.
#include "util/elf_needed.h"

#include <elf.h>
#include <link.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>

namespace ctlab {
namespace {

template <class T>
bool read_at(const std::string& bytes, uint64_t offset, T& out) {
  if (offset > bytes.size() || bytes.size() - offset < sizeof(T)) return false;
  std::memcpy(&out, bytes.data() + offset, sizeof(T));
  return true;
}

std::string base_name(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool starts_with_any(const std::string& name, std::initializer_list<const char*> prefixes) {
  for (const char* p : prefixes)
    if (name.rfind(p, 0) == 0) return true;
  return false;
}

}  // namespace

std::vector<std::string> elf_needed_libraries(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Elf64_Ehdr eh;
  if (!read_at(bytes, 0, eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
    return {};
  std::vector<std::string> out;
  for (uint16_t i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr dyn, strtab;
    if (!read_at(bytes, eh.e_shoff + uint64_t{i} * eh.e_shentsize, dyn) || dyn.sh_type != SHT_DYNAMIC ||
        !read_at(bytes, eh.e_shoff + uint64_t{dyn.sh_link} * eh.e_shentsize, strtab))
      continue;
    for (uint64_t off = dyn.sh_offset; off + sizeof(Elf64_Dyn) <= dyn.sh_offset + dyn.sh_size;
         off += sizeof(Elf64_Dyn)) {
      Elf64_Dyn d;
      if (!read_at(bytes, off, d) || d.d_tag == DT_NULL) break;
      const uint64_t at = strtab.sh_offset + d.d_un.d_val;
      if (d.d_tag == DT_NEEDED && at < bytes.size()) out.emplace_back(bytes.c_str() + at);
    }
  }
  return out;
}

std::vector<std::string> loaded_library_names() {
  std::vector<std::string> names;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        if (info->dlpi_name && *info->dlpi_name)
          static_cast<std::vector<std::string>*>(data)->push_back(base_name(info->dlpi_name));
        return 0;
      },
      &names);
  return names;
}

std::vector<std::string> foreign_torch_libraries(const std::vector<std::string>& needed,
                                                 const std::vector<std::string>& loaded) {
  std::vector<std::string> out;
  for (const auto& n : needed)
    if (starts_with_any(n, {"libc10", "libtorch"}) &&
        std::find(loaded.begin(), loaded.end(), n) == loaded.end())
      out.push_back(n);
  return out;
}

}  // namespace ctlab
