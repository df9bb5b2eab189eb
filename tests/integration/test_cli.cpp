// End to end: the real ctlab binary's commands, help, exit codes and error messages.
#include <gtest/gtest.h>

#include "test_util.h"
#include "util/sha256.h"

using ctlab::test::run_command;
using ctlab::test::run_ctlab;
using ctlab::test::TempDir;

namespace {
const std::string kFixtures = CTLAB_TEST_FIXTURE_DIR;
bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}
}  // namespace

TEST(Cli, HelpListsCommandsAndExitCodes) {
  auto r = run_ctlab("--help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "plugins")) << r.output;
  EXPECT_TRUE(contains(r.output, "config")) << r.output;
  EXPECT_TRUE(contains(r.output, "exit codes")) << r.output;
  for (auto cmd : {"plugins", "config"}) {
    auto h = run_ctlab(std::string(cmd) + " --help");
    EXPECT_EQ(h.exit_code, 0) << cmd;
    EXPECT_TRUE(contains(h.output, std::string("usage: ctlab ") + cmd)) << h.output;
  }
  EXPECT_TRUE(contains(run_ctlab("config --help").output, "--mem_len")) << "config keys missing from help";
}

TEST(Cli, UnknownCommandIsAUsageError) {
  auto r = run_ctlab("plugin list");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.output, "unknown command 'plugin' (did you mean 'plugins'?)")) << r.output;
}

TEST(Cli, PluginsListShowsBuiltins) {
  auto r = run_ctlab("plugins list");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "mean_pool@1")) << r.output;
  EXPECT_TRUE(contains(r.output, std::string(CTLAB_TEST_PLUGIN_DIR) + "/libctlab_plugin_mean_pool.so"))
      << r.output;
  EXPECT_TRUE(contains(r.output, "none@1")) << r.output;
  EXPECT_FALSE(contains(r.output, "rejected")) << r.output;
}

TEST(Cli, PluginsListReportsBadFilesWithoutStopping) {
  std::string dirs;
  for (auto n : {"bad_api", "bad_torch", "no_register", "duplicate", "misc"})
    dirs += " --plugin-dir " + kFixtures + "/" + n;
  auto r = run_ctlab("plugins list" + dirs);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "rejected files:")) << r.output;
  EXPECT_TRUE(contains(r.output, "plugin API version 999")) << r.output;
  EXPECT_TRUE(contains(r.output, "built against LibTorch 0.1")) << r.output;
  EXPECT_TRUE(contains(r.output, "missing entry point 'ctlab_plugin_register'")) << r.output;
  EXPECT_TRUE(contains(r.output, "mean_pool@1")) << r.output;
  EXPECT_TRUE(contains(r.output, "throwing@1")) << r.output;
  // The fixture's mean_pool@1 and the built-in one differ: the listing names the clash.
  EXPECT_TRUE(contains(r.output, "fn mean_pool@1 is offered by libraries with different contents"))
      << r.output;
}

TEST(Cli, PluginPathEnvironmentVariable) {
  auto r = run_command("CTLAB_PLUGIN_PATH=" + std::string(CTLAB_TEST_SOURCE_DIR) + "/nowhere:" + kFixtures +
                       "/misc '" CTLAB_TEST_BIN "' plugins list");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "learnable@1")) << r.output;
}

TEST(Cli, PluginsInfoShowsParametersFileAndHash) {
  auto r = run_ctlab("plugins info learnable --plugin-dir " + kFixtures + "/misc");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto so = kFixtures + "/misc/libctlab_plugin_fixture_misc.so";
  EXPECT_TRUE(contains(r.output, "learnable@1  (compression function)")) << r.output;
  EXPECT_TRUE(contains(r.output, "trainable: yes")) << r.output;
  EXPECT_TRUE(contains(r.output, "gain")) << r.output;
  EXPECT_TRUE(contains(r.output, "default 1.0")) << r.output;
  EXPECT_TRUE(contains(r.output, "file:   " + so)) << r.output;
  EXPECT_TRUE(contains(r.output, "sha256: " + ctlab::sha256_file(so))) << r.output;
  auto missing = run_ctlab("plugins info nosuch");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_TRUE(contains(missing.output, "no compression function 'nosuch'")) << missing.output;
}

TEST(Cli, ConfigResolvesPinsAndOverrides) {
  TempDir dir;
  auto ini = dir.file("run.ini", "experiment = cli\n[model]\nmem_len = 16\nseq_len = 8\n");
  auto r = run_ctlab("config " + ini + " --set seed=5 --cmem-len 8");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "experiment = cli\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "seed = 5\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "mem_len = 16\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "cmem_len = 8\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "compression = mean_pool@1\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "compression_loss = none@1\n")) << r.output;
}

TEST(Cli, ConfigErrorsNameFileKeyValue) {
  TempDir dir;
  auto ini = dir.file("bad.ini", "[model]\nn_layer = 2\nmem_len = lots\n");
  auto r = run_ctlab("config " + ini);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(
      contains(r.output, ini + ":3: bad value for 'mem_len' = 'lots': expected a non-negative integer"))
      << r.output;
  r = run_ctlab("config --set compression.position=3");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(
      contains(r.output, "unknown key 'compression.position': plugin mean_pool@1 takes no parameters"))
      << r.output;
  r = run_ctlab("config --set compression=learnable --plugin-dir " + kFixtures +
                "/misc --set compression.gain=x");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.output,
                       "bad value for 'compression.gain' = 'x': plugin learnable@1 expects a finite number"))
      << r.output;
  r = run_ctlab("config " + dir.path() + "/missing.ini");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.output, "cannot read config file")) << r.output;
  r = run_ctlab("config --bogus 1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.output, "bogus")) << r.output;
}
