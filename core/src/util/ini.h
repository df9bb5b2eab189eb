// Minimal INI reader for run and grid files: `key = value` lines, `[section]` headers,
// `#` or `;` comments. Keeps the line of every entry so errors can point at it.
#pragma once

#include <string>
#include <vector>

namespace ctlab {

struct IniEntry {
  std::string section;  // "" before the first header
  std::string key;
  std::string value;
  int line = 0;
};

struct IniFile {
  std::string path;
  std::vector<IniEntry> entries;
};

// Throws ctlab::Error naming path:line for unreadable files and malformed lines
// (missing '=', empty key, unterminated section, a key repeated within a section).
IniFile read_ini(const std::string& path);
IniFile parse_ini(const std::string& text, const std::string& path_for_errors);

}  // namespace ctlab
