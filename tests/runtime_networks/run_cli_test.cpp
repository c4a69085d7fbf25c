// `convergy run` as users see it: the table layout, the JSON fields, fallback warnings on stderr, and exit
// codes for bad arguments. Times vary, so only their presence and form are checked.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sys/wait.h>
#include <array>
#include <cstdio>
#include <regex>
#include <string>

namespace {

struct Output {
  int code = -1;
  std::string out;
};

Output cli(const std::string& args) {
  Output o;
  const std::string cmd = std::string(CONVERGY_CLI) + " " + args;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return o;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) o.out.append(buf.data(), n);
  const int status = pclose(p);
  o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return o;
}

TEST(RunCli, PrintsEveryLayerAndTheTotal) {
  const Output o = cli("run squeezenet1_1 --backend onednn --repeat 2 2>/dev/null");
  ASSERT_EQ(o.code, 0) << o.out;
  EXPECT_NE(o.out.find("network squeezenet1_1 (squeezenet1_1), backend onednn, threads 1, median of 2 runs"),
            std::string::npos)
      << o.out;
  EXPECT_TRUE(std::regex_search(o.out, std::regex(R"(\nlayer +type +backend +time_ms\n)"))) << o.out;
  EXPECT_TRUE(std::regex_search(o.out, std::regex(R"(\nconv1 +Convolution +onednn +[0-9]+\.[0-9]{3}\n)")))
      << o.out;
  EXPECT_FALSE(std::regex_search(o.out, std::regex(R"(\nconv1 +Convolution +onednn +0\.000\n)"))) << o.out;
  EXPECT_TRUE(std::regex_search(o.out, std::regex(R"(\ntotal_ms [0-9]+\.[0-9]{3}\n)"))) << o.out;
}

TEST(RunCli, JsonCarriesTimesInMilliseconds) {
  const Output o = cli("run squeezenet1_1 --backend openblas --repeat 1 --format json 2>/dev/null");
  ASSERT_EQ(o.code, 0) << o.out;
  const auto j = nlohmann::json::parse(o.out);
  EXPECT_EQ(j["backend"], "openblas");
  EXPECT_GT(j["total_time_ms"].get<double>(), 0.0);
  ASSERT_FALSE(j["layers"].empty());
  // Every layer is timed by the host clock on a CPU backend: convolutions take measurable time, and the
  // layers together are most of the run (until a device-timer change they all read 0).
  double sum = 0;
  for (const auto& l : j["layers"]) {
    EXPECT_GE(l["time_ms"].get<double>(), 0.0) << l.dump();
    if (l["type"] == "Convolution") {
      EXPECT_GT(l["time_ms"].get<double>(), 0.0) << l.dump();
    }
    sum += l["time_ms"].get<double>();
  }
  EXPECT_GT(sum, 0.5 * j["total_time_ms"].get<double>()) << o.out;
}

TEST(RunCli, WarnsOnStderrAboutFallbacks) {
  // ShuffleNetV2's channel shuffles have no openblas kernel.
  const Output o = cli("run shufflenet_v2_1_0 --backend openblas --repeat 1 2>&1 >/dev/null");
  EXPECT_EQ(o.code, 0);
  EXPECT_NE(
      o.out.find("warning: layer \"stage2.0.shuffle\" ran on the reference backend: ChannelShuffle has no "
                 "openblas kernel"),
      std::string::npos)
      << o.out;
  // AlexNet runs wholly on openblas (LRN included): no warning.
  EXPECT_EQ(cli("run alexnet --backend openblas --repeat 1 2>&1 >/dev/null").out, "");
}

TEST(RunCli, BadArgumentsExitWithTwo) {
  EXPECT_EQ(cli("run squeezenet1_1 --backend cudnn 2>/dev/null").code, 2);
  EXPECT_EQ(cli("run squeezenet1_1 --repeat 0 2>/dev/null").code, 2);
  EXPECT_EQ(cli("run no_such_net 2>/dev/null").code, 2);
}

}  // namespace
