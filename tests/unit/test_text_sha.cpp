// Unit tests: SHA-256 test vectors, string helpers, value canonicalisation.
#include <gtest/gtest.h>

#include "config/params.h"
#include "test_util.h"
#include "util/error.h"
#include "util/sha256.h"
#include "util/text.h"

using namespace ctlab;

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, FileEqualsBytes) {
  test::TempDir dir;
  std::string content(200000, 'x');
  content += "tail";
  auto p = dir.file("f.bin", content);
  EXPECT_EQ(sha256_file(p), sha256_hex(content));
  EXPECT_THROW(sha256_file(dir.path() + "/missing"), Error);
}

TEST(Text, SplitTrimJoin) {
  EXPECT_EQ(split(" a, b ,c ", ','), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(join({"x", "y"}, "+"), "x+y");
  EXPECT_EQ(trim("  q \t"), "q");
}

TEST(Text, DidYouMean) {
  EXPECT_EQ(closest_match("mem_lenn", {"mem_len", "cmem_len", "seq_len"}), "mem_len");
  EXPECT_EQ(closest_match("zzzzzz", {"mem_len", "seed"}), "");
}

TEST(Values, Canonical) {
  EXPECT_EQ(canonical_value(ParamType::Int, " 042 "), "42");
  EXPECT_EQ(canonical_value(ParamType::Float, "1e-3"), "0.001");
  EXPECT_EQ(canonical_value(ParamType::Float, "0.10"), "0.1");
  EXPECT_EQ(canonical_value(ParamType::Bool, "Yes"), "true");
  EXPECT_EQ(canonical_value(ParamType::Bool, "0"), "false");
  EXPECT_THROW(canonical_value(ParamType::Int, "4.5"), std::invalid_argument);
  EXPECT_THROW(canonical_value(ParamType::Int, ""), std::invalid_argument);
  EXPECT_THROW(canonical_value(ParamType::Float, "nan"), std::invalid_argument);
  EXPECT_THROW(canonical_value(ParamType::Bool, "maybe"), std::invalid_argument);
}

TEST(PluginParams, DefaultsOverridesAndErrors) {
  std::vector<ParamSpec> specs = {{"layers", ParamType::Int, "2", "h"},
                                  {"scale", ParamType::Float, "0.5", "h"}};
  auto p = resolve_plugin_params(specs, {{"layers", "3"}}, "compression.", "dilated_conv@1");
  EXPECT_EQ(p.get_int("layers"), 3);
  EXPECT_DOUBLE_EQ(p.get_float("scale"), 0.5);
  try {
    resolve_plugin_params(specs, {{"layer", "3"}}, "compression.", "dilated_conv@1");
    FAIL() << "unknown key accepted";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("unknown key 'compression.layer'"), std::string::npos) << m;
    EXPECT_NE(m.find("dilated_conv@1"), std::string::npos) << m;
    EXPECT_NE(m.find("did you mean 'layers'"), std::string::npos) << m;
  }
  try {
    resolve_plugin_params(specs, {{"layers", "two"}}, "compression.", "dilated_conv@1");
    FAIL() << "bad value accepted";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("'compression.layers' = 'two'"), std::string::npos) << m;
    EXPECT_NE(m.find("expects an integer"), std::string::npos) << m;
  }
}
