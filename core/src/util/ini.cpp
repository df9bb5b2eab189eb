// INI parsing with line-accurate errors.
#include "util/ini.h"

#include <sys/stat.h>

#include <fstream>
#include <map>
#include <sstream>

#include "util/error.h"
#include "util/text.h"

namespace ctlab {

IniFile read_ini(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    throw Error("config file '" + path +
                "' is a folder; expected an INI file (e.g. experiments/default/run.ini)");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read config file '" + path + "': no such file or not readable");
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_ini(ss.str(), path);
}

IniFile parse_ini(const std::string& text, const std::string& path) {
  IniFile file;
  file.path = path;
  std::map<std::string, int> seen;  // "section\nkey" -> line
  std::string section;
  std::istringstream in(text);
  std::string raw;
  int line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    std::string line = trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    auto where = path + ":" + std::to_string(line_no);
    if (line[0] == '[') {
      if (line.back() != ']') throw Error(where + ": section header '" + line + "' lacks a closing ']'");
      section = trim(line.substr(1, line.size() - 2));
      if (section.empty()) throw Error(where + ": empty section name '[]'");
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string::npos) throw Error(where + ": expected 'key = value', got '" + line + "'");
    IniEntry e{section, trim(line.substr(0, eq)), trim(line.substr(eq + 1)), line_no};
    if (e.key.empty()) throw Error(where + ": missing key before '='");
    // A value in double quotes is taken as it is (it may hold " #" or " ;"); otherwise
    // whitespace followed by '#' or ';' starts a comment, and a '#' or ';' that follows
    // a non-space character is part of the value ("run#1").
    if (e.value.size() >= 2 && e.value.front() == '"') {
      auto close = e.value.find('"', 1);
      if (close == std::string::npos)
        throw Error(where + ": the value of '" + e.key + "' opens a double quote that does not close");
      const std::string rest = trim(e.value.substr(close + 1));
      if (!rest.empty() && rest[0] != '#' && rest[0] != ';')
        throw Error(where + ": unexpected '" + rest + "' after the quoted value of '" + e.key + "'");
      e.value = e.value.substr(1, close - 1);
    } else {
      for (const char* marker : {" #", "\t#", " ;", "\t;"}) {
        auto c = e.value.find(marker);
        if (c != std::string::npos) e.value = trim(e.value.substr(0, c));
      }
    }
    auto id = section + "\n" + e.key;
    auto it = seen.find(id);
    if (it != seen.end())
      throw Error(where + ": key '" + e.key + "' already set on line " + std::to_string(it->second));
    seen[id] = line_no;
    file.entries.push_back(std::move(e));
  }
  return file;
}

}  // namespace ctlab
