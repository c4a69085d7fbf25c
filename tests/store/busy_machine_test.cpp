// A campaign that shares its CPU with another busy process says so: both are pinned to CPU 0, so the profiler
// gets about half of it, and `convergy profile` must print the inflated-timings warning.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace convergy {
namespace {

TEST(BusyMachine, ProfileWarnsWhenItGetsHalfACpu) {
  ASSERT_TRUE(std::filesystem::exists(CONVERGY_CLI)) << "build the convergy CLI first: " << CONVERGY_CLI;
  if (std::system("command -v taskset >/dev/null 2>&1") != 0) GTEST_SKIP() << "taskset (util-linux) is missing";
  const std::string dir = ::testing::TempDir() + "convergy_busy_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  pid_t hog = ::fork();
  if (hog == 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    ::sched_setaffinity(0, sizeof(set), &set);
    volatile unsigned long spin = 0;
    for (;;) spin = spin + 1;
  }
  ASSERT_GT(hog, 0);
  const std::string out = dir + "/out.txt";
  std::string cmd = fmt::format(
      "taskset -c 0 '{}' profile squeezenet1_1 --backend openblas --mode isolated --reps 3 --max-reps 3 "
      "--warmup 1 --sensor none --no-counters --db '{}/busy.db' >'{}' 2>&1",
      CONVERGY_CLI, dir, out);
  int rc = std::system(cmd.c_str());
  ::kill(hog, SIGKILL);
  ::waitpid(hog, nullptr, 0);
  std::stringstream text;
  text << std::ifstream(out).rdbuf();
  std::filesystem::remove_all(dir);
  ASSERT_EQ(rc, 0) << text.str();
  EXPECT_NE(text.str().find("warning: the measured code got"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("Profile on a quiet machine"), std::string::npos);
}

}  // namespace
}  // namespace convergy
