// `convergy sensors` as a user reads it: on a fake TX2 it lists the rails, marks the board total and picks it
// for --sensor auto; on a fake RAPL machine without permission it gives the reason and the fix.
#include "measure/fake_tree.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>

namespace convergy {
namespace {

using ::testing::HasSubstr;

std::string run_cli(const std::string& args, int* rc) {
  std::string cmd = std::string(CONVERGY_CLI) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  while (p && std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  int status = p ? ::pclose(p) : -1;
  *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

TEST(SensorsCli, Tx2BoardListsRailsAndChoosesTheBoardTotal) {
  ASSERT_TRUE(std::filesystem::exists(CONVERGY_CLI)) << "build the convergy CLI first";
  testing::FakeTree t;
  const char* rails[2][3] = {{"VDD_SYS_GPU", "VDD_SYS_SOC", "VDD_4V0_WIFI"}, {"VDD_IN", "VDD_SYS_CPU", "VDD_SYS_DDR"}};
  for (int d = 0; d < 2; ++d) {
    std::string dir = "sys/bus/iio/devices/iio:device" + std::to_string(d);
    t.write(dir + "/name", "ina3221x");
    for (int ch = 0; ch < 3; ++ch) {
      t.write(dir + "/rail_name_" + std::to_string(ch), rails[d][ch]);
      t.write(dir + "/in_power" + std::to_string(ch) + "_input", "1000");
    }
  }
  int rc = 0;
  std::string out = run_cli("sensors --root " + t.root(), &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_THAT(out, HasSubstr("ina3221:VDD_IN"));
  EXPECT_THAT(out, HasSubstr("board total"));
  EXPECT_THAT(out, HasSubstr("inside ina3221:VDD_IN"));
  EXPECT_THAT(out, HasSubstr("`--sensor auto` uses ina3221:VDD_IN"));
}

TEST(SensorsCli, EmptyMachineSaysThereIsNoSensorAndWhy) {
  ASSERT_TRUE(std::filesystem::exists(CONVERGY_CLI)) << "build the convergy CLI first";
  testing::FakeTree t;
  t.write("proc/.keep", "");
  int rc = 0;
  std::string out = run_cli("sensors --root " + t.root(), &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_THAT(out, HasSubstr("/sys/class/powercap does not exist"));
  EXPECT_THAT(out, HasSubstr("No readable power or energy sensor on this machine"));
  EXPECT_THAT(out, HasSubstr("stores energy as missing (NULL), never 0"));
}

}  // namespace
}  // namespace convergy
