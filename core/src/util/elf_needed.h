// The shared libraries an ELF file asks the dynamic loader for (its DT_NEEDED entries), and
// the ones this process has loaded: read before a plugin is opened, so that a plugin linked
// against another LibTorch is refused with a message instead of crashing the host inside
// dlopen (two LibTorch copies in one process clash in their static initialisers).
#pragma once

#include <string>
#include <vector>

namespace ctlab {

// The DT_NEEDED names of a 64-bit little-endian ELF file ("libc10.so", "libtorch_cpu.so");
// empty when the file is not such an ELF file or has no dynamic section.
std::vector<std::string> elf_needed_libraries(const std::string& path);

// The file names (without folders) of the shared objects loaded in this process.
std::vector<std::string> loaded_library_names();

// The LibTorch libraries (libc10*, libtorch*) among `needed` that are not among `loaded`:
// the plugin would bring a second LibTorch into the process.
std::vector<std::string> foreign_torch_libraries(const std::vector<std::string>& needed,
                                                 const std::vector<std::string>& loaded);

}  // namespace ctlab
