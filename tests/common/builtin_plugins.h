// The built-in plugins as the suites that run over every registered plugin see them: one
// host for the process, the ids of its functions and losses, and gtest parameter names.
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

#include "plugin/plugin_host.h"

namespace ctlab::test {

inline const PluginHost& host() {
  static PluginHost* h = [] {
    auto* p = new PluginHost();
    p->load_directories({CTLAB_TEST_PLUGIN_DIR});
    return p;
  }();
  return *h;
}

inline std::vector<std::string> fn_ids() {
  std::vector<std::string> ids;
  for (const auto* e : host().compression_fns()) ids.push_back(e->id);
  return ids;
}

inline std::vector<std::string> loss_ids() {
  std::vector<std::string> ids;
  for (const auto* e : host().compression_losses()) ids.push_back(e->id);
  return ids;
}

// "mean_pool@1" -> "mean_pool_1".
inline std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string n;
  for (char c : info.param) n += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return n;
}

}  // namespace ctlab::test
