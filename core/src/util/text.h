// Small string helpers shared by config parsing and the command line.
#pragma once

#include <string>
#include <vector>

namespace ctlab {

std::string trim(const std::string& s);
std::vector<std::string> split(const std::string& s, char sep);  // trims each piece
std::string join(const std::vector<std::string>& parts, const std::string& sep);
bool starts_with(const std::string& s, const std::string& prefix);
// A name that is safe as one file-name component everywhere: 1-100 characters out of
// letters, digits, '.', '_' and '-', not starting with '.' or '-'. Experiment names must be.
bool is_safe_name(const std::string& s);

// Closest candidate by edit distance, or "" when none is close enough to suggest.
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);
// " (did you mean 'x'?)" or "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace ctlab
