// The zoo files are generated: this fails when someone edits a zoo/*.prototxt by hand or changes
// tools/zoo/gen_zoo.py without regenerating, so the files and the generator's documented totals stay one
// thing.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace {

TEST(ZooGenerator, CommittedFilesMatchTheGenerator) {
  const std::filesystem::path python = "/usr/bin/python3";
  const std::filesystem::path script = std::filesystem::path(CONVERGY_SOURCE_DIR) / "tools/zoo/gen_zoo.py";
  if (!std::filesystem::exists(python)) GTEST_SKIP() << "no " << python << " to run the generator";
  ASSERT_TRUE(std::filesystem::exists(script)) << script;
  // --check writes nothing; it exits 1 and names the stale files on stderr.
  const std::string command = python.string() + " " + script.string() + " --check > /dev/null";
  const int status = std::system(command.c_str());
  EXPECT_EQ(status, 0) << "zoo/ is out of date with tools/zoo/gen_zoo.py; run: " << command;
}

}  // namespace
