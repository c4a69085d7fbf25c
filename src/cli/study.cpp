// `convergy study`: the main job. Profiles the zoo on each backend, fits and evaluates layer-type models,
// adds the Jetson measurements of the shared data, and writes the report (see src/study/study.h).
#include "study/study.h"
#include "cli/command.h"
#include "cli/limits.h"
#include "report/summary.h"
#include "util/error.h"

#include <fmt/core.h>

#include <charconv>
#include <filesystem>
#include <string>
#include <vector>

namespace convergy::cli {
namespace {

// The values of a comma-separated option ("none": no value), each read whole by std::from_chars and accepted
// by `ok`; any other is a one-line error naming the option and what it expects.
template <typename T, typename Ok>
std::vector<T> parse_list(const std::vector<std::string>& texts, const char* option, const char* what,
                          const char* expected, Ok ok) {
  std::vector<T> out;
  if (texts.size() == 1 && texts.front() == "none") return out;
  for (const auto& t : texts) {
    T v{};
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || end != t.data() + t.size() || !ok(v))
      throw_bad_input("{}: \"{}\" is not a {}, expected {} separated by commas, or none", option, t, what,
                      expected);
    out.push_back(v);
  }
  return out;
}

const Command kStudy{{"study", "Run the SyNERGY analysis end to end and write the report (the main job)", 5,
                      [](CLI::App& sub) -> std::function<int()> {
                        add_limit_options(sub);
                        auto o = std::make_shared<study::StudyOptions>();
                        sub.add_option("--backends", o->backends, "Local backends to measure, comma-separated")
                            ->delimiter(',')
                            ->capture_default_str();
                        sub.add_option("--threads", o->threads, "Threads of each backend")->capture_default_str();
                        sub.add_option("--db", o->db, "SQLite database; measurements there are reused")
                            ->capture_default_str();
                        sub.add_option("--out", o->out, "Folder for index.html, results.json and tables/")
                            ->capture_default_str();
                        sub.add_flag("--quick", o->quick,
                                     "A subset of networks and fewer repetitions (about a minute), labelled QUICK");
                        sub.add_option("--shared-data", o->shared_data,
                                       "Folder of the shared Jetson measurements (default: ../shared/data)");
                        sub.add_option("--sensor", o->sensor, "auto | none | a name from `convergy sensors`")
                            ->capture_default_str();
                        sub.add_option("--networks", o->networks, "Measure these networks instead of the zoo")
                            ->delimiter(',');
                        sub.add_option("--features", o->feature_sets, "Feature sets to compare, comma-separated")
                            ->delimiter(',')
                            ->capture_default_str();
                        sub.add_option("--neuralpower-degree", o->neuralpower_degree,
                                       "Polynomial degree of the neuralpower set (3 as in NeuralPower is slow)")
                            ->capture_default_str()
                            ->check(CLI::Range(1, 3));
                        sub.add_option("--reps", o->reps, "Repetitions per network (default 5, quick 3)");
                        sub.add_flag(
                            "!--no-probe", o->probe,
                            "Leave out the operator probe (`convergy info probe`), whose layers teach "
                            "the models per-element rates such as an exponential's");
                        sub.add_option(
                               "--memory-budget-mb", o->memory_budget_mb,
                               "Most memory the networks kept ready between repetition rounds may hold; "
                               "networks that do not fit at once are measured in groups that do (default: "
                               "half of the memory available)")
                            ->check(CLI::PositiveNumber);
                        auto scales = std::make_shared<std::vector<std::string>>(
                            std::vector<std::string>{"0.714", "1.286"});
                        sub.add_option(
                               "--input-scales", *scales,
                               "Transfer across input sizes: every third network again with its input's "
                               "height and width times each scale, comma-separated (none: skip)")
                            ->delimiter(',')
                            ->capture_default_str();
                        auto counts = std::make_shared<std::vector<std::string>>(
                            std::vector<std::string>{"10", "21841"});
                        sub.add_option("--class-counts", *counts,
                                       "Transfer across class counts: every third network (from the second) "
                                       "again with its classifier giving each number of classes, "
                                       "comma-separated (none: skip)")
                            ->delimiter(',')
                            ->capture_default_str();
                        auto archs = std::make_shared<std::vector<std::string>>();
                        sub.add_option("--architectures", *archs,
                                       "Transfer to other architectures: these networks (ONNX or prototxt "
                                       "files, comma-separated) in a campaign of their own, predicted by the "
                                       "models fitted on the study's networks (default: "
                                       "data/architectures/*.onnx, with --quick RegNetX-400MF; none: skip)")
                            ->delimiter(',');
                        return [o, scales, counts, archs] {
                          if (!archs->empty())
                            o->architectures = *archs == std::vector<std::string>{"none"}
                                                   ? std::vector<std::string>{}
                                                   : *archs;
                          o->class_counts = parse_list<int64_t>(
                              *counts, "--class-counts", "class count", "whole numbers from 1 to 1000000",
                              [](int64_t v) { return v >= 1 && v <= 1000000; });
                          o->input_scales = parse_list<double>(*scales, "--input-scales", "scale",
                                                               "numbers between 0.05 and 8",
                                                               [](double v) { return v > 0.05 && v <= 8; });
                          report::StudyResults r = study::run_study(*o);
                          auto index = std::filesystem::path(o->out) / "index.html";
                          fmt::print("\n{}", report::terminal_summary(r, index.string()));
                          return 0;
                        };
                      }}};

}  // namespace
}  // namespace convergy::cli
