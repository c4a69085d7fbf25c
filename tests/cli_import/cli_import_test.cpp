// The malformed-prototxt corpus through the real CLI: `convergy info <case>.prototxt` must exit with code 2
// (bad input), print exactly "convergy: error: <expected message>" on stderr, and never crash.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

const fs::path kCorpus = fs::path(CONVERGY_SOURCE_DIR) / "tests/import/bad_prototxt";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string chomp(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

struct CliRun {
  int exit_code = -1;
  int signal = 0;
  std::string out, err;
};

// Runs the CLI in `dir` with `args` (already shell-quoted), capturing both streams in files.
CliRun run_cli(const fs::path& dir, const std::string& args) {
  // One folder per test process: ctest runs the cases in parallel, and a shared file mixed their output.
  const fs::path tmp = fs::path(::testing::TempDir()) / ("cli_import_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  const fs::path out = tmp / "stdout.txt", err = tmp / "stderr.txt";
  const std::string cmd = "cd '" + dir.string() + "' && '" + std::string(CONVERGY_CLI) + "' " + args + " >'" +
                          out.string() + "' 2>'" + err.string() + "'";
  const int status = std::system(cmd.c_str());
  CliRun r;
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

std::vector<std::string> cases() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(kCorpus))
    if (e.path().extension() == ".prototxt") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

class CliBadPrototxt : public ::testing::TestWithParam<std::string> {};

TEST_P(CliBadPrototxt, InfoExitsWithCodeTwoAndTheExpectedMessage) {
  ASSERT_TRUE(fs::exists(CONVERGY_CLI)) << "build the convergy executable first: " << CONVERGY_CLI;
  const std::string name = GetParam();
  // Run inside the corpus folder so the message names the file exactly as the .expected file does.
  const CliRun r = run_cli(kCorpus, "info '" + name + ".prototxt'");
  EXPECT_EQ(r.signal, 0) << "crashed";
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(chomp(r.err), "convergy: error: " + chomp(slurp(kCorpus / (name + ".expected"))));
}

INSTANTIATE_TEST_SUITE_P(Corpus, CliBadPrototxt, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           return param_info.param;
                         });

TEST(CliImport, MissingFileIsBadInput) {
  const CliRun r = run_cli(kCorpus, "info no_such_network.prototxt");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(chomp(r.err), "convergy: error: cannot open no_such_network.prototxt: No such file or directory");
}

TEST(CliImport, AValidNanoNetworkExitsZero) {
  const fs::path nets = fs::path(CONVERGY_SHARED_DATA) / "jetson-nano/nets";
  const CliRun r = run_cli(nets, "info convnet_L5_F128_K2x2_3_K3x3_2_W50.prototxt --format csv");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("conv5"), std::string::npos) << r.out;
}

// `info` names the classifier and its count; --classes and NAME@classes=N give it another, and `run` runs
// the network with it.
TEST(CliImport, ClassesOptionAndNameRetargetTheClassifier) {
  const fs::path here = fs::path(::testing::TempDir());
  const CliRun as_defined = run_cli(here, "info resnet18");
  EXPECT_EQ(as_defined.exit_code, 0) << as_defined.err;
  EXPECT_NE(as_defined.out.find("\nclassifier: layer fc gives 1000 classes"), std::string::npos)
      << as_defined.out;
  for (const std::string args : {"info resnet18 --classes 10", "info resnet18@classes=10"}) {
    const CliRun r = run_cli(here, args + " --format json");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(
        r.out.find("\"classifiers\": [\n    {\n      \"layer\": \"fc\",\n      \"classes\": 10\n    }\n  ]"),
        std::string::npos)
        << args << "\n"
        << r.out;
    EXPECT_NE(r.out.find("\"params\": 11181642"), std::string::npos) << args;  // torchvision, num_classes=10
  }
  const CliRun run = run_cli(here, "run squeezenet1_1 --classes 10 --repeat 1 --format csv");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("conv10,Convolution"), std::string::npos) << run.out;
  const CliRun bad = run_cli(here, "run squeezenet1_1 --classes 0");
  EXPECT_EQ(bad.exit_code, 2);
}

}  // namespace
