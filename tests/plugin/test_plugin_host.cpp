// Plugin host: loading the built-in plugins through Boost.DLL, the loader's rejections,
// lookup by name@version, guarded calls into plugin code and output validation.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>

#include "config/plugin_binding.h"
#include "plugin/plugin_host.h"
#include "test_util.h"
#include "util/elf_needed.h"
#include "util/sha256.h"

using namespace ctlab;

namespace {

const std::string kPlugins = CTLAB_TEST_PLUGIN_DIR;
std::string fixture(const std::string& name) {
  return std::string(CTLAB_TEST_FIXTURE_DIR) + "/" + name + "/libctlab_plugin_fixture_" + name + ".so";
}

// The message of the ctlab::Error that load_file throws for `path`.
std::string rejection(PluginHost& host, const std::string& path) {
  try {
    host.load_file(path);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Plugin);
    return e.what();
  }
  return "<accepted>";
}

PluginHost builtins() {
  PluginHost host;
  host.load_directories({kPlugins});
  return host;
}

}  // namespace

TEST(PluginHost, LoadsMeanPoolThroughBoostDll) {
  auto host = builtins();
  const auto& e = host.compression_fn("mean_pool");
  EXPECT_EQ(e.id, "mean_pool@1");
  EXPECT_FALSE(e.spec.trainable);
  EXPECT_EQ(e.sha256, sha256_file(e.path));
  EXPECT_EQ(&host.compression_fn("mean_pool@1"), &e);
  EXPECT_EQ(host.compression_loss("none").spec.mode, LossMode::None);

  PluginContext ctx;
  ctx.d_model = 3;
  ctx.rate = 2;
  auto fn = host.create(e, ctx);
  torch::manual_seed(0);
  CompressionInput in;
  in.old = torch::randn({6, 2, 3});
  in.rate = 2;
  auto out = fn->forward(in);
  EXPECT_NO_THROW(check_compression_output(e.id, in, out));
  auto expect =
      torch::stack({(in.old[0] + in.old[1]) / 2, (in.old[2] + in.old[3]) / 2, (in.old[4] + in.old[5]) / 2});
  EXPECT_TRUE(test::tensors_close(out, expect, 1e-6, 1e-7));
  in.old = torch::full({8, 1, 3}, 1.25);
  in.rate = 4;
  EXPECT_TRUE(test::tensors_close(fn->forward(in), torch::full({2, 1, 3}, 1.25)));
}

TEST(PluginHost, RejectsWrongApiVersion) {
  PluginHost host;
  auto msg = rejection(host, fixture("bad_api"));
  EXPECT_NE(msg.find("cannot use plugin file '" + fixture("bad_api") + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("plugin API version 999 but this ctlab speaks versions 1 to 2"), std::string::npos)
      << msg;
}

TEST(PluginHost, RejectsWrongTorchVersion) {
  PluginHost host;
  auto msg = rejection(host, fixture("bad_torch"));
  EXPECT_NE(msg.find("built against LibTorch 0.1 but this ctlab uses LibTorch " CTLAB_TORCH_VERSION_STRING),
            std::string::npos)
      << msg;
}

// A plugin linked against another LibTorch is refused before it is opened (opening it
// would load a second LibTorch and crash the process). The case is made from a real plugin
// whose libc10 dependency is renamed in place, as a plugin built against another LibTorch
// names its own libc10.
TEST(PluginHost, RejectsAPluginLinkedAgainstAnotherLibTorch) {
  const std::string real = kPlugins + "/libctlab_plugin_mean_pool.so";
  const auto needed = elf_needed_libraries(real);
  const auto c10 = std::find_if(needed.begin(), needed.end(),
                                [](const std::string& n) { return n.rfind("libc10", 0) == 0; });
  ASSERT_NE(c10, needed.end()) << "mean_pool needs no libc10?";
  EXPECT_TRUE(foreign_torch_libraries(needed, loaded_library_names()).empty()) << "the real plugin matches";
  EXPECT_EQ(foreign_torch_libraries({"libc10.so.1.13", "libtorch_cpu.so.1.13", "libm.so.6"},
                                    {"libc10.so", "libtorch_cpu.so", "libm.so.6"}),
            (std::vector<std::string>{"libc10.so.1.13", "libtorch_cpu.so.1.13"}));

  test::TempDir dir;
  std::ifstream in(real, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string other = *c10;
  other.back() = other.back() == 'X' ? 'Y' : 'X';  // same length: the file stays valid ELF
  const auto at = bytes.find(*c10 + '\0');
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, c10->size(), other);
  const std::string path = dir.path() + "/libctlab_plugin_other_torch.so";
  std::ofstream(path, std::ios::binary) << bytes;
  ASSERT_EQ(elf_needed_libraries(path).size(), needed.size());
  PluginHost host;
  const auto msg = rejection(host, path);
  EXPECT_NE(msg.find("linked against another LibTorch (it needs " + other), std::string::npos) << msg;
}

TEST(PluginHost, RejectsMissingEntryPoint) {
  PluginHost host;
  auto msg = rejection(host, fixture("no_register"));
  EXPECT_NE(msg.find("missing entry point 'ctlab_plugin_register'"), std::string::npos) << msg;
}

TEST(PluginHost, ANameAtVersionOfferedWithOtherContentsNeedsAPin) {
  auto host = builtins();
  const auto genuine = host.compression_fn("mean_pool@1").path;
  host.load_file(fixture("duplicate"));
  const auto msg = test::error_of([&] { host.compression_fn("mean_pool"); });
  EXPECT_NE(msg.find("compression function mean_pool@1 is offered by libraries with different contents: " +
                     genuine),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("libctlab_plugin_fixture_duplicate.so (sha256 "), std::string::npos) << msg;
  EXPECT_EQ(host.compression_fn("max_pool").id, "max_pool@1");  // other names are unaffected
  PluginHost pinned;
  pinned.set_pins({"mean_pool@1=" + fixture("duplicate")});
  pinned.load_directories({kPlugins, std::string(CTLAB_TEST_FIXTURE_DIR) + "/duplicate"});
  EXPECT_NE(pinned.compression_fn("mean_pool@1").path.find("fixture_duplicate"), std::string::npos);
  EXPECT_EQ(pinned.conflicts().size(), 1u);
}

TEST(PluginHost, RejectsThrowingRegistrationAndNonLibraries) {
  PluginHost host;
  auto msg = rejection(host, fixture("throw_register"));
  EXPECT_NE(msg.find("registration threw: cannot find my lookup table"), std::string::npos) << msg;
  test::TempDir dir;
  auto junk = dir.file("libctlab_plugin_junk.so", "this is not an ELF file");
  msg = rejection(host, junk);
  EXPECT_NE(msg.find("not a loadable shared library"), std::string::npos) << msg;
}

TEST(PluginHost, ListingContinuesPastBadFiles) {
  test::TempDir dir;
  dir.file("libctlab_plugin_junk.so", "junk");
  dir.file("unrelated.so", "ignored: not named libctlab_plugin_*");
  PluginHost host;
  std::vector<std::string> dirs = {kPlugins, dir.path()};
  for (auto n : {"bad_api", "bad_torch", "no_register", "duplicate", "throw_register", "misc"})
    dirs.push_back(std::string(CTLAB_TEST_FIXTURE_DIR) + "/" + n);
  EXPECT_NO_THROW(host.load_directories(dirs));
  int loaded = 0, rejected = 0;
  for (const auto& f : host.files()) {
    (f.loaded ? loaded : rejected)++;
    if (!f.loaded) {
      EXPECT_FALSE(f.error.empty()) << f.path;
    }
  }
  EXPECT_EQ(loaded, 15);   // the thirteen built-ins, misc and duplicate (a second mean_pool@1)
  EXPECT_EQ(rejected, 5);  // junk + four bad fixtures
  EXPECT_EQ(host.compression_fn("throwing").id, "throwing@1");
}

TEST(PluginHost, LookupErrorsListWhatIsAvailable) {
  auto host = builtins();
  try {
    host.compression_fn("mean_pol");
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("no compression function 'mean_pol' (did you mean 'mean_pool'?); available: conv1d@1, "
                     "dilated_conv@1, dilated_conv@2, "
                     "max_pool@1, mean_pool@1, most_used@1"),
              std::string::npos)
        << m;
  }
  EXPECT_THROW(host.compression_fn("mean_pool@2"), Error);
}

TEST(PluginHost, PluginExceptionsNameThePlugin) {
  PluginHost host;
  host.load_file(fixture("misc"));
  const auto& e = host.compression_fn("throwing");
  auto fn = host.create(e, PluginContext{});
  CompressionInput in;
  in.old = torch::zeros({4, 1, 2});
  in.rate = 2;
  in.layer = 3;
  try {
    call_plugin(e.id, e.path, "forward", [&] { return fn->forward(in); });
    FAIL();
  } catch (const Error& err) {
    std::string m = err.what();
    EXPECT_EQ(err.kind(), ErrorKind::Plugin);
    EXPECT_NE(m.find("plugin throwing@1 (" + fixture("misc") +
                     ") failed in forward: throwing fixture refuses layer 3"),
              std::string::npos)
        << m;
    EXPECT_EQ(m.find("Exception raised from"), std::string::npos) << "backtrace leaked: " << m;
  }
}

TEST(PluginHost, OutputValidationNamesPluginLayerAndShapes) {
  PluginHost host;
  host.load_file(fixture("misc"));
  CompressionInput in;
  in.old = torch::zeros({4, 2, 3});
  in.rate = 2;
  in.layer = 1;
  auto run = [&](const std::string& name) -> std::string {
    const auto& e = host.compression_fn(name);
    auto out = host.create(e, PluginContext{})->forward(in);
    try {
      check_compression_output(e.id, in, out);
    } catch (const Error& err) {
      return err.what();
    }
    return "<ok>";
  };
  EXPECT_EQ(run("bad_shape"),
            "compression function bad_shape@1 at layer 1 returned the wrong shape: expected [2, 2, 3] "
            "(input [4, 2, 3], rate 2, output [4, 2, 3])");
  EXPECT_NE(run("nan_out").find("nan_out@1 at layer 1 returned non-finite values"), std::string::npos);
  EXPECT_NE(run("wrong_dtype").find("returned dtype Double, expected Float"), std::string::npos);
}

TEST(PluginHost, ResolveChecksFunctionLossPairs) {
  auto host = builtins();
  host.load_file(fixture("misc"));
  RunConfig cfg;
  cfg.compression.name = "learnable";
  cfg.compression_loss.name = "none";
  try {
    resolve_plugins(host, cfg);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(
        std::string(e.what()).find("compression = learnable@1 has parameters to learn but compression_loss = "
                                   "none@1 trains nothing"),
        std::string::npos)
        << e.what();
  }
  cfg.allow_untrained_compression = true;
  EXPECT_NO_THROW(resolve_plugins(host, cfg));
  cfg.compression.name = "mean_pool";
  cfg.compression_loss.name = "aux";
  EXPECT_THROW(resolve_plugins(host, cfg), Error);
  cfg.compression.name = "learnable";
  cfg.compression.params = {{"gain", "2"}};
  auto r = resolve_plugins(host, cfg);
  pin_plugins(cfg, r);
  EXPECT_EQ(cfg.compression.name, "learnable@1");
  EXPECT_EQ(cfg.compression.params.at("gain"), "2");
  EXPECT_EQ(cfg.compression_loss.name, "aux@1");
}
