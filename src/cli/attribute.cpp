// `convergy attribute --trace METER.csv --markers LOG.csv`: per-layer energy from an external power meter
// (Monsoon, Joulescope, ARM energy probe) recorded during `convergy profile --marker-log LOG.csv`.
#include "cli/command.h"
#include "measure/external_trace.h"
#include "measure/marker_log.h"
#include "util/error.h"

#include <fmt/core.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace convergy::cli {
namespace {

struct AttributeOptions {
  std::string trace, markers, out;
};

std::string read_all(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_bad_input("{}: cannot open the {}", path, what);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int run_attribute(const AttributeOptions& o) {
  ExternalTrace trace = read_external_trace(read_all(o.trace, "meter trace"), o.trace);
  auto log = read_marker_log(read_all(o.markers, "marker log"), o.markers);
  if (std::none_of(log.begin(), log.end(), [](const MarkerEvent& e) { return e.event == "sync_start"; }))
    throw_bad_input("{}: no sync_start event, expected the sync pulses that `convergy profile --marker-log` plays",
                    o.markers);
  double offset = 0;
  auto rows = attribute_with_markers(trace.power, log, &offset);
  std::string csv = "network,layer_index,layer,rep,runs,time_ms,energy_mj,power_w\n";
  for (const auto& r : rows)
    csv += fmt::format("{},{},{},{},{},{:.9g},{:.9g},{:.9g}\n", r.network, r.layer_index, r.layer, r.rep, r.runs,
                       r.time_ms, r.energy_mj, r.power_w);
  fmt::print(stderr, "trace: {} samples ({}); clock offset {:.6f} s; {} layer rows\n", trace.power.size(),
             trace.columns, offset, rows.size());
  if (o.out.empty() || o.out == "-") {
    fmt::print("{}", csv);
    return 0;
  }
  std::string tmp = fmt::format("{}.tmp{}", o.out, ::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw_bad_input("{}: cannot write the output file", o.out);
    f << csv;
    if (!f.flush()) {
      std::remove(tmp.c_str());
      throw_failure("{}: write failed", o.out);
    }
  }
  if (std::rename(tmp.c_str(), o.out.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw_failure("{}: cannot move the finished file into place", o.out);
  }
  return 0;
}

const Command kAttribute{{"attribute", "Per-layer energy from an external meter trace and a profile marker log", 55,
                          [](CLI::App& sub) -> std::function<int()> {
                            auto o = std::make_shared<AttributeOptions>();
                            sub.add_option("--trace", o->trace, "Meter CSV: time and power, or time, current, voltage")
                                ->required();
                            sub.add_option("--markers", o->markers, "Marker log from `convergy profile --marker-log`")
                                ->required();
                            sub.add_option("--out", o->out, "Output CSV (default: standard output)");
                            return [o] { return run_attribute(*o); };
                          }}};

}  // namespace
}  // namespace convergy::cli
