// `convergy info --format json` on ONNX files: the totals users read match PyTorch's own counts, and a broken
// file exits with code 2 and a one-line message.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

struct CliRun {
  int exit_code = -1;
  std::string out;
};

CliRun run(const std::string& args) {
  CliRun r;
  const std::string cmd = std::string(CONVERGY_CLI) + " " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) r.out.append(buf, n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

const std::string kData = std::string(CONVERGY_SOURCE_DIR) + "/tests/onnx/data/";

TEST(OnnxCli, InfoJsonTotalsMatchPyTorch) {
  ASSERT_TRUE(std::filesystem::exists(CONVERGY_CLI)) << "build the convergy executable first";
  std::ifstream in(kData + "fixtures.json");
  const auto expected = nlohmann::json::parse(in);
  for (const auto& item : expected.at("files").items()) {
    const CliRun r = run("info --format json '" + kData + item.key() + "'");
    ASSERT_EQ(r.exit_code, 0) << r.out;
    const auto totals = nlohmann::json::parse(r.out).at("totals");
    EXPECT_EQ(totals.at("params").get<uint64_t>(), expected.at("params").get<uint64_t>()) << item.key();
    EXPECT_EQ(totals.at("macs").get<uint64_t>(), expected.at("macs").get<uint64_t>()) << item.key();
  }
}

TEST(OnnxCli, InputShapeOptionReachesTheImporter) {
  ASSERT_TRUE(std::filesystem::exists(CONVERGY_CLI)) << "build the convergy executable first";
  const CliRun r = run("info --format json --input-shape input=3x3x32x32 '" + kData + "tinynet_opset13.onnx'");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::ifstream in(kData + "fixtures.json");
  const auto expected = nlohmann::json::parse(in);
  EXPECT_EQ(nlohmann::json::parse(r.out).at("totals").at("macs").get<uint64_t>(),
            3 * expected.at("macs").get<uint64_t>());
}

TEST(OnnxCli, MalformedFileExitsWithTwoAndOneLine) {
  ASSERT_TRUE(std::filesystem::exists(CONVERGY_CLI)) << "build the convergy executable first";
  const auto path = std::filesystem::temp_directory_path() / "convergy-cli-malformed.onnx";
  {
    std::ofstream out(path, std::ios::binary);
    out << "\x08\x07\x3a\xff\xff\xff\x7f";  // ir_version 7, then a graph longer than the file
  }
  const CliRun r = run("info '" + path.string() + "'");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("not a valid ONNX model"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << "expected one line: " << r.out;
}

}  // namespace
