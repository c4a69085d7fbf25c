// The bad-input corpus: every case of cases.tsv runs the real convergy executable on a malformed or hostile
// input and must exit with the expected code (2), print exactly one line on stderr that matches the expected
// message, print nothing on stdout, leave no output file behind, and neither crash nor hang.
//
// cases.tsv: one case per line, four tab-separated columns (# starts a comment line):
//   name    arguments (split on spaces)    exit code    message (ECMAScript regex, matched in full)
// The message is the stderr line without its "convergy: error: " prefix. Commands run in data/, so relative
// file names in the arguments appear in messages as written. Placeholders in the arguments:
//   {out}       a path inside a fresh, empty folder; after the run the folder must still be empty
//   {gen:NAME}  a generated hostile input too large to check in (see cli_run.h)
#include "bad_inputs/cli_run.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace convergy::bad_inputs {
namespace {

struct Case {
  std::string name;
  std::string args;
  int exit_code = 2;
  std::string message;
  int line = 0;  // in cases.tsv
};

const fs::path kManifest = fs::path(CONVERGY_SOURCE_DIR) / "tests/bad_inputs/cases.tsv";

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep))
    if (sep != ' ' || !cur.empty()) out.push_back(cur);
  return out;
}

std::vector<Case> load_cases() {
  std::ifstream in(kManifest);
  std::vector<Case> cases;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    auto cols = split(line, '\t');
    Case c;
    c.line = line_no;
    if (cols.size() != 4) {  // reported by the ManifestIsWellFormed test
      c.name = "malformed_line_" + std::to_string(line_no);
      c.exit_code = -1;
    } else {
      c.name = cols[0];
      c.args = cols[1];
      c.exit_code = std::atoi(cols[2].c_str());
      c.message = cols[3];
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

const std::vector<Case>& all_cases() {
  static const std::vector<Case> cases = load_cases();
  return cases;
}

// The corpus's own file for a case, for counting formats: the first argument under data/ or generated.
std::string format_of(const Case& c) {
  for (const auto& a : split(c.args, ' ')) {
    if (a.starts_with("{gen:")) {
      const std::string ext = fs::path(a.substr(5, a.size() - 6)).extension().string().substr(1);
      return ext == "json" ? "model" : ext;
    }
    std::string arg = a.starts_with("@") ? a.substr(1) : a;
    for (const char* dir : {"prototxt/", "onnx/", "csv/", "model/", "trace/", "markers/", "list/", "db/"})
      if (arg.starts_with(dir) && !arg.ends_with("/good.csv") && !arg.ends_with("/good.json") &&
          !arg.ends_with("/good.prototxt"))
        return std::string(dir, std::string(dir).size() - 1);
    if (arg.starts_with("../../import/bad_prototxt/")) return "prototxt";
  }
  return "option";
}

// GoogleTest prints a failing parameter with this (else as raw bytes).
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class BadInput : public ::testing::TestWithParam<Case> {};

TEST_P(BadInput, FailsWithOneLineAndNoTrace) {
  const Case& c = GetParam();
  ASSERT_GE(c.exit_code, 0) << "cases.tsv:" << c.line << ": expected four tab-separated columns";
  const fs::path out_dir = scratch_dir("out_" + c.name);
  std::vector<std::string> args;
  for (std::string a : split(c.args, ' ')) {
    if (a == "{out}") a = (out_dir / "result").string();
    if (a.starts_with("{gen:") && a.ends_with("}")) a = generated(a.substr(5, a.size() - 6)).string();
    args.push_back(a);
  }
  const CliRun r = run_cli(args, data_dir(), default_timeout_s());
  const std::string where = "cases.tsv:" + std::to_string(c.line) + " (" + c.args + ")";

  EXPECT_FALSE(r.timed_out) << where << ": still running after " << default_timeout_s() << " s";
  EXPECT_EQ(r.signal, 0) << where << ": killed by signal " << r.signal << "\n" << r.err;
  EXPECT_EQ(r.exit_code, c.exit_code) << where << "\n" << r.err;
  EXPECT_EQ(r.out, "") << where << ": wrote to standard output";

  const std::string prefix = "convergy: error: ";
  ASSERT_TRUE(r.err.starts_with(prefix)) << where << ": stderr is\n" << r.err;
  ASSERT_TRUE(r.err.ends_with("\n")) << where << ": stderr does not end with a newline";
  const std::string message = r.err.substr(prefix.size(), r.err.size() - prefix.size() - 1);
  EXPECT_EQ(message.find('\n'), std::string::npos) << where << ": more than one line:\n" << r.err;
  EXPECT_TRUE(std::none_of(message.begin(), message.end(),
                           [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f; }))
      << where << ": control bytes in the message";
  EXPECT_TRUE(std::regex_match(message, std::regex(c.message)))
      << where << "\n  message:  " << message << "\n  expected: " << c.message;

  // No partial output: nothing at --out, and no temporary file beside it.
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(out_dir)) left.push_back(e.path().filename().string());
  EXPECT_TRUE(left.empty()) << where << ": left " << left.front() << " in the output folder";
  fs::remove_all(out_dir);
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadInput, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<Case>& param_info) { return param_info.param.name; });

TEST(BadInputCorpus, ManifestIsWellFormed) {
  std::map<std::string, int> seen;
  for (const auto& c : all_cases()) {
    EXPECT_GE(c.exit_code, 0) << "cases.tsv:" << c.line << ": expected four tab-separated columns";
    EXPECT_TRUE(seen.emplace(c.name, c.line).second) << "cases.tsv:" << c.line << ": case " << c.name << " twice";
    EXPECT_NO_THROW(std::regex{c.message}) << "cases.tsv:" << c.line << ": the message is not a valid regex";
  }
}

TEST(BadInputCorpus, HasAtLeastSixtyCasesAcrossEveryFormat) {
  std::map<std::string, int> per_format;
  for (const auto& c : all_cases()) ++per_format[format_of(c)];
  std::string summary;
  for (const auto& [format, n] : per_format) summary += " " + format + "=" + std::to_string(n);
  RecordProperty("formats", summary);
  std::cout << "bad-input corpus: " << all_cases().size() << " cases:" << summary << "\n";
  EXPECT_GE(all_cases().size(), 60u);
  for (const char* format : {"prototxt", "onnx", "csv", "model", "trace", "markers", "list", "db"})
    EXPECT_GE(per_format[format], 2) << "too few cases for " << format;
}

// Every checked-in data file is used by some case (a file no case names tests nothing).
TEST(BadInputCorpus, EveryDataFileIsUsed) {
  std::string all_args;
  for (const auto& c : all_cases()) all_args += " " + c.args + " ";
  for (const auto& e : fs::recursive_directory_iterator(data_dir())) {
    if (!e.is_regular_file()) continue;
    const std::string rel = fs::relative(e.path(), data_dir()).string();
    if (rel.ends_with("/good.csv") || rel.ends_with("/good.json") || rel.ends_with("/good.prototxt"))
      continue;  // good files pair with bad ones
    const bool used = all_args.find(" " + rel + " ") != std::string::npos ||
                      all_args.find(" @" + rel + " ") != std::string::npos;
    EXPECT_TRUE(used) << rel << " is in no case of cases.tsv";
  }
}

class Cleanup : public ::testing::Environment {
 public:
  void TearDown() override { remove_scratch(); }
};
const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new Cleanup);

}  // namespace
}  // namespace convergy::bad_inputs
