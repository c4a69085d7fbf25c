// Golden-output tests of `convergy info` and `convergy zoo` (table, CSV, JSON), and the exit codes and
// one-line messages for bad files, missing files and bad usage.
// Regenerate the goldens after an intended change with:  CONVERGY_UPDATE_GOLDEN=1 ctest -R Golden
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;

const fs::path kData = fs::path(CONVERGY_SOURCE_DIR) / "tests" / "cli" / "data";
const fs::path kGolden = fs::path(CONVERGY_SOURCE_DIR) / "tests" / "cli" / "golden";

struct CliRun {
  int exit_code = -1;
  std::string out, err;
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs the CLI from the test data folder (so paths in the output are relative and stable) with `args`.
CliRun run_cli(const std::string& args) {
  const fs::path err_file =
      fs::temp_directory_path() / ("convergy_cli_test_" + std::to_string(::getpid()) + ".err");
  const std::string cmd =
      "cd '" + kData.string() + "' && '" + CONVERGY_CLI + "' " + args + " 2>'" + err_file.string() + "'";
  CliRun r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) {
    ADD_FAILURE() << "cannot run " << cmd;
    return r;
  }
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = read_file(err_file);
  fs::remove(err_file);
  return r;
}

bool updating() {
  const char* v = std::getenv("CONVERGY_UPDATE_GOLDEN");
  return v && std::string(v) == "1";
}

// Compares stdout with the golden file, or rewrites the golden when CONVERGY_UPDATE_GOLDEN=1.
void expect_golden(const std::string& args, const std::string& golden) {
  SCOPED_TRACE("convergy " + args);
  CliRun r = run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const fs::path path = kGolden / golden;
  if (updating()) {
    std::ofstream(path, std::ios::binary) << r.out;
    std::printf("updated %s\n", path.c_str());
    return;
  }
  ASSERT_TRUE(fs::exists(path)) << path << " is missing; run with CONVERGY_UPDATE_GOLDEN=1 to create it";
  EXPECT_EQ(r.out, read_file(path)) << "stdout differs from " << path
                                    << " (if the change is intended: CONVERGY_UPDATE_GOLDEN=1)";
}

TEST(Golden, InfoTinyTable) { expect_golden("info tiny.prototxt", "info_tiny.txt"); }
TEST(Golden, InfoTinyCsv) { expect_golden("info tiny.prototxt --format csv", "info_tiny.csv"); }
TEST(Golden, InfoTinyJson) { expect_golden("info tiny.prototxt --format json", "info_tiny.json"); }
TEST(Golden, InfoTinyNoPassesTable) {
  expect_golden("info tiny.prototxt --no-passes", "info_tiny_no_passes.txt");
}
TEST(Golden, InfoTinyNoPassesJson) {
  expect_golden("info --no-passes --format json tiny.prototxt", "info_tiny_no_passes.json");
}
TEST(Golden, InfoTinyInputShape) {
  expect_golden("info tiny.prototxt --input-shape data=2x3x33x31 --format csv", "info_tiny_2x3x33x31.csv");
}
TEST(Golden, InfoBranchesTable) { expect_golden("info branches.prototxt", "info_branches.txt"); }
TEST(Golden, InfoBranchesCsv) { expect_golden("info branches.prototxt --format csv", "info_branches.csv"); }
TEST(Golden, InfoBranchesJson) {
  expect_golden("info branches.prototxt --format json", "info_branches.json");
}
TEST(Golden, InfoZooAlexnetTable) { expect_golden("info alexnet", "info_alexnet.txt"); }
TEST(Golden, InfoZooAlexnetJson) { expect_golden("info alexnet --format json", "info_alexnet.json"); }
TEST(Golden, ZooCsv) { expect_golden("zoo --format csv", "zoo.csv"); }
TEST(Golden, ZooTable) { expect_golden("zoo", "zoo.txt"); }

// A failed command prints nothing on stdout and exactly one line on stderr.
void expect_one_line_error(const CliRun& r, int code, const std::string& must_contain) {
  EXPECT_EQ(r.exit_code, code) << r.err;
  EXPECT_EQ(r.out, "");
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not exactly one line: " << r.err;
  EXPECT_NE(r.err.find(must_contain), std::string::npos) << r.err;
}

TEST(CliErrors, BadShapeInFileIsExit2) {
  expect_one_line_error(
      run_cli("info bad_group.prototxt"), 2,
      "bad_group.prototxt:5:1: layer \"conv1\" (Convolution): input has 4 channels, not divisible by "
      "group 3");
}

TEST(CliErrors, BadSyntaxIsExit2) {
  for (const char* format : {"table", "csv", "json"})
    expect_one_line_error(run_cli(std::string("info bad_syntax.prototxt --format ") + format), 2,
                          "bad_syntax.prototxt:");
}

TEST(CliErrors, MissingFileIsExit2) {
  expect_one_line_error(run_cli("info no_such_file.prototxt"), 2, "no_such_file.prototxt");
}

TEST(CliErrors, UnknownZooNameIsExit2) {
  expect_one_line_error(run_cli("info no_such_net"), 2, "no_such_net");
}

TEST(CliErrors, BadInputShapeIsExit2) {
  expect_one_line_error(run_cli("info tiny.prototxt --input-shape data=1x3x0x5"), 2, "--input-shape");
}

TEST(CliErrors, BadUsageIsExit2) {
  for (const char* args : {"info", "info tiny.prototxt --format yaml", "info tiny.prototxt --bogus",
                           "zoo --format", "zoo extra_argument", "no_such_command", ""}) {
    SCOPED_TRACE(args);
    CliRun r = run_cli(args);
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_EQ(r.out.find("layer"), std::string::npos) << "no partial output on usage errors";
  }
}

TEST(CliErrors, HelpIsExit0) {
  CliRun r = run_cli("info --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--no-passes"), std::string::npos);
  EXPECT_NE(r.out.find("--format"), std::string::npos);
}

}  // namespace

namespace {

// Invariants of the passes over every zoo network, read back from `convergy info --format json`: the passes
// never change the MAC count or the total ops (fused activations keep their ops), the reported params are
// the as-defined ones, and no Dropout or fusable activation right after a single-consumer Conv/FC survives.
TEST(ZooPasses, PassesKeepMacsAndOpsOnEveryZooNetwork) {
  CliRun zoo = run_cli("zoo --format json");
  ASSERT_EQ(zoo.exit_code, 0) << zoo.err;
  const auto nets = nlohmann::json::parse(zoo.out).at("networks");
  ASSERT_GE(nets.size(), 14u);
  for (const auto& net : nets) {
    const std::string name = net.at("name").get<std::string>();
    SCOPED_TRACE(name);
    CliRun with = run_cli("info " + name + " --format json");
    CliRun without = run_cli("info " + name + " --format json --no-passes");
    ASSERT_EQ(with.exit_code, 0) << with.err;
    ASSERT_EQ(without.exit_code, 0) << without.err;
    const auto a = nlohmann::json::parse(with.out), b = nlohmann::json::parse(without.out);
    EXPECT_EQ(a.at("totals").at("macs"), b.at("totals").at("macs"));
    EXPECT_EQ(a.at("totals").at("macs"), net.at("macs"));
    EXPECT_EQ(a.at("totals").at("params"), net.at("params"));
    EXPECT_EQ(b.at("totals").at("params"), b.at("totals").at("params_executed"));
    EXPECT_LE(a.at("totals").at("layers").get<int>(), b.at("totals").at("layers").get<int>());
    EXPECT_EQ(b.at("passes").size(), 0u);
    // Folding removes BatchNorm/Scale ops and adds bias adds, so ops are only comparable without folds.
    bool folded = false;
    for (const auto& c : a.at("passes")) folded = folded || c.at("pass") == "fold-bn";
    if (!folded) {
      EXPECT_EQ(a.at("totals").at("ops"), b.at("totals").at("ops"));
    }
    for (const auto& l : a.at("layers")) EXPECT_NE(l.at("type"), "Dropout") << l.at("name");
  }
}

}  // namespace
