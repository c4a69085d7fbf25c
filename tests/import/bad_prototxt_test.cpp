// Data-driven malformed-input tests: every tests/import/bad_prototxt/<case>.prototxt must fail to import with
// exactly the one-line message in <case>.expected (a BadInput, never a crash or another exception).
#include "import/load.h"
#include "util/error.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace convergy {
namespace {

namespace fs = std::filesystem;

const fs::path kCorpus = fs::path(CONVERGY_SOURCE_DIR) / "tests/import/bad_prototxt";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> cases() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(kCorpus))
    if (e.path().extension() == ".prototxt") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

class BadPrototxt : public ::testing::TestWithParam<std::string> {};

TEST_P(BadPrototxt, FailsWithTheExpectedMessage) {
  const std::string name = GetParam();
  const fs::path expected_path = kCorpus / (name + ".expected");
  ASSERT_TRUE(fs::exists(expected_path)) << "missing " << expected_path;
  std::string expected = slurp(expected_path);
  while (!expected.empty() && (expected.back() == '\n' || expected.back() == '\r')) expected.pop_back();
  ASSERT_EQ(expected.find('\n'), std::string::npos) << "an expected message is one line";

  const std::string text = slurp(kCorpus / (name + ".prototxt"));
  try {
    import_caffe_prototxt(text, name + ".prototxt");
    FAIL() << name << " imported without an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_EQ(std::string(e.what()), expected);
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadPrototxt, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           return param_info.param;
                         });

TEST(BadPrototxtCorpus, HasAtLeastTwentyFiveKinds) { EXPECT_GE(cases().size(), 25u); }

}  // namespace
}  // namespace convergy
