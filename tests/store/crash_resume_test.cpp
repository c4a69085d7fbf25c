// Crash safety of a real profiling campaign: the convergy CLI is killed with SIGKILL at random points several
// times, then resumed to the end; the database must pass integrity_check and hold every expected measurement
// exactly once. SIGINT must finish the current row, exit 130 and leave a resumable campaign.
#include "store/store.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace convergy {
namespace {

// conv1(+relu fused), pool1, conv2(+relu fused), fc1, prob: 5 profiled layers after the default passes.
const char* kTinyNet = R"(name: "tiny"
input: "data"
input_shape { dim: 1 dim: 3 dim: 32 dim: 32 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 16 kernel_size: 3 pad: 1 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
        pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2"
        convolution_param { num_output: 32 kernel_size: 3 pad: 1 } }
layer { name: "relu2" type: "ReLU" bottom: "conv2" top: "conv2" }
layer { name: "fc1" type: "InnerProduct" bottom: "conv2" top: "fc1" inner_product_param { num_output: 10 } }
layer { name: "prob" type: "Softmax" bottom: "fc1" top: "prob" }
)";

constexpr int kReps = 4;

struct Fixture {
  std::string dir, net, db;
  Fixture(const std::string& name) {
    // The process id keeps two test runs at once (two build folders) out of each other's database.
    dir = ::testing::TempDir() + "convergy_crash_" + std::to_string(::getpid()) + "_" + name;
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    net = dir + "/tiny.prototxt";
    db = dir + "/campaign.db";
    std::ofstream(net) << kTinyNet;
  }
  ~Fixture() { std::filesystem::remove_all(dir); }
};

pid_t spawn_profile(const Fixture& f) {
  pid_t pid = ::fork();
  if (pid == 0) {
    FILE* null = std::fopen("/dev/null", "w");
    if (null) {
      ::dup2(::fileno(null), 1);
      ::dup2(::fileno(null), 2);
    }
    ::execl(CONVERGY_CLI, CONVERGY_CLI, "profile", f.net.c_str(), "--backend", "reference", "--reps",
            std::to_string(kReps).c_str(), "--max-reps", std::to_string(kReps).c_str(), "--min-window-ms",
            "15", "--warmup", "1", "--sensor", "none", "--no-counters", "--db", f.db.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

// The exit code, or 1000 + the signal that killed the process.
int wait_exit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 1000 + WTERMSIG(status);
}

int64_t scalar(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sql;
  int64_t v = -1;
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

// True once the profile run has created the measurements table (sqlite directly: Store refuses a file without
// it).
bool schema_written(const std::string& path) {
  if (!std::filesystem::exists(path)) return false;
  sqlite3* db = nullptr;
  bool yes = false;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 10000);
    yes = scalar(db,
                 "SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN ('campaigns', "
                 "'measurements')") == 2;
  }
  sqlite3_close(db);
  return yes;
}

int64_t finished_campaigns(const std::string& path) {
  Store s(path, /*read_only=*/true);
  return scalar(s.handle(), "SELECT count(*) FROM campaigns WHERE status = 'finished'");
}

// Every expected (layer, mode, rep) row exactly once: 5 layers + the network row in markers mode, 5 layers in
// isolated mode, kReps raw rows and one aggregate each.
void expect_complete(const std::string& path) {
  Store s(path, /*read_only=*/true);
  EXPECT_EQ(s.integrity_check(), "ok");
  sqlite3* db = s.handle();
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM campaigns"), 1) << "a resume must continue the same campaign";
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM campaigns WHERE status = 'finished'"), 1);
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM layers"), 6);
  const int64_t expected = (6 + 5) * (kReps + 1);
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM measurements"), expected);
  for (const char* mode : {"markers", "isolated"}) {
    for (int rep = -1; rep < kReps; ++rep) {
      std::string q = fmt::format(
          "SELECT count(*) FROM layers l JOIN measurements m ON m.layer_id = l.id AND m.mode = '{}' AND "
          "m.rep = {}",
          mode, rep);
      EXPECT_EQ(scalar(db, q), std::string(mode) == "markers" ? 6 : 5) << mode << " rep " << rep;
    }
  }
  EXPECT_EQ(scalar(db,
                   "SELECT count(*) FROM (SELECT layer_id, mode, rep FROM measurements GROUP BY 1, 2, 3 "
                   "HAVING count(*) > 1)"),
            0);
  EXPECT_EQ(
      scalar(db, "SELECT count(*) FROM measurements WHERE energy_mj IS NOT NULL OR power_w IS NOT NULL"), 0)
      << "no sensor: energy must be NULL, never 0";
}

TEST(CrashResume, KillNineAtRandomPointsThenResumeHasEveryRowOnce) {
  ASSERT_TRUE(std::filesystem::exists(CONVERGY_CLI)) << "build the convergy CLI first: " << CONVERGY_CLI;
  Fixture f("kill9");
  std::mt19937 rng(20260526);  // fixed: the kill points are reproducible
  std::uniform_int_distribution<int> delay_ms(80, 700);
  int kills = 0;
  bool finished = false;
  for (int attempt = 0; attempt < 5 && !finished; ++attempt) {
    pid_t pid = spawn_profile(f);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    ::kill(pid, SIGKILL);
    int rc = wait_exit(pid);
    if (rc == 1000 + SIGKILL) {
      ++kills;
      // A kill that lands after the campaign was marked finished (a slow machine) leaves nothing to resume:
      // another run would rightly open a second campaign.
      if (schema_written(f.db) && finished_campaigns(f.db) == 1) finished = true;
    } else {
      ASSERT_EQ(rc, 0) << "the campaign failed rather than finishing";
      finished = true;
    }
    // A kill before the schema was written (a slow start) leaves no database or an empty one: nothing to
    // check.
    if (!schema_written(f.db)) continue;
    Store s(f.db, /*read_only=*/true);  // after each kill the file must be sound
    ASSERT_EQ(s.integrity_check(), "ok") << "after kill " << attempt;
  }
  EXPECT_GE(kills, 1) << "no run was interrupted: the campaign is too short for this test";
  if (!finished) {
    ASSERT_EQ(wait_exit(spawn_profile(f)), 0);
  }
  expect_complete(f.db);
}

TEST(CrashResume, SigintFinishesTheRowExits130AndResumes) {
  ASSERT_TRUE(std::filesystem::exists(CONVERGY_CLI)) << "build the convergy CLI first: " << CONVERGY_CLI;
  Fixture f("sigint");
  pid_t pid = spawn_profile(f);
  // Signal once the first rows are committed, so the handler is certainly installed.
  for (int i = 0; i < 500; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!std::filesystem::exists(f.db)) continue;
    try {
      Store s(f.db, /*read_only=*/true);
      if (s.count("measurements") > 0) break;
    } catch (const std::exception&) {
      // the schema is not there yet
    }
  }
  ::kill(pid, SIGINT);
  int rc = wait_exit(pid);
  if (rc == 130) {
    Store s(f.db, true);
    EXPECT_EQ(scalar(s.handle(), "SELECT count(*) FROM campaigns WHERE status = 'interrupted'"), 1);
  } else {
    ASSERT_EQ(rc, 0) << "neither interrupted cleanly nor finished";
  }
  // A run that finished before the signal leaves nothing to resume (another run would open a second
  // campaign).
  if (finished_campaigns(f.db) == 0) {
    ASSERT_EQ(wait_exit(spawn_profile(f)), 0);
  }
  expect_complete(f.db);
}

// Adaptive repetitions: with an unreachable interval target every layer gets repetitions up to --max-reps, in
// both modes, and the aggregate is over all of them; with a target every median meets, --reps is enough.
TEST(CrashResume, AdaptiveRepetitionsStopAtTheCapOrTheTarget) {
  ASSERT_TRUE(std::filesystem::exists(CONVERGY_CLI)) << "build the convergy CLI first: " << CONVERGY_CLI;
  for (const auto& [target, expected_reps] :
       std::vector<std::pair<std::string, int>>{{"1e-12", 6}, {"100", 2}}) {
    Fixture f("adaptive");
    std::string cmd = fmt::format(
        "'{}' profile '{}' --backend reference --reps 2 --max-reps 6 --target-ci {} --ci-min-ms 0 "
        "--min-window-ms 1 --warmup 1 --sensor none --no-counters --db '{}' >/dev/null 2>&1",
        CONVERGY_CLI, f.net, target, f.db);
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    Store s(f.db, /*read_only=*/true);
    sqlite3* db = s.handle();
    EXPECT_EQ(scalar(db, "SELECT count(*) FROM measurements WHERE rep >= 0"), (6 + 5) * expected_reps)
        << "target " << target;
    EXPECT_EQ(scalar(db, "SELECT count(*) FROM measurements WHERE rep < 0 AND n = " +
                             std::to_string(expected_reps)),
              6 + 5)
        << "every aggregate summarises all repetitions";
    EXPECT_EQ(scalar(db, "SELECT count(*) FROM measurements WHERE rep < 0 AND median_ci95_ms IS NULL"), 0);
  }
}

}  // namespace
}  // namespace convergy
