// `convergy sensors`: which power/energy sensors and hardware counters this machine has, whether each can be
// read, and if not, why and how to fix it.
#include "cli/command.h"
#include "cli/format.h"
#include "measure/perf_counters.h"
#include "measure/sensor.h"

#include <fmt/core.h>

namespace convergy::cli {
namespace {

struct SensorsOptions {
  std::string root = "/";
  OutputFormat format = OutputFormat::Table;
};

std::string fmt_period(double ms) { return ms > 0 ? fmt::format("{:g} ms", ms) : "unknown"; }

int run_sensors(const SensorsOptions& o) {
  SysFs fs;
  fs.root = o.root;
  Discovery d = discover_sensors(fs, /*with_nvml=*/o.root == "/");
  PerfCounters pc = PerfCounters::open(default_perf_events());
  Sensor* chosen = choose_auto_sensor(d);
  size_t readable = 0;
  for (auto& s : d.sensors) readable += s->available() ? 1 : 0;

  if (o.format == OutputFormat::Json) {
    Json j;
    j["sensors"] = Json::array();
    for (auto& s : d.sensors) {
      const auto& i = s->info();
      j["sensors"].push_back({{"name", i.name},
                              {"source", i.source},
                              {"rail", i.rail},
                              {"kind", to_string(i.kind)},
                              {"unit", i.unit},
                              {"update_period_ms", i.update_period_ms > 0 ? Json(i.update_period_ms) : Json()},
                              {"board_total", i.board_total},
                              {"part_of", i.part_of.empty() ? Json() : Json(i.part_of)},
                              {"path", i.path},
                              {"status", to_string(s->status().availability)},
                              {"reason", s->status().reason},
                              {"fix", s->status().fix}});
    }
    j["not_found"] = Json::array();
    for (auto& n : d.notes)
      j["not_found"].push_back({{"family", n.family},
                                {"status", to_string(n.status.availability)},
                                {"reason", n.status.reason},
                                {"fix", n.status.fix}});
    j["counters"] = Json::array();
    for (auto& e : pc.events()) j["counters"].push_back({{"event", e}, {"status", "available"}});
    for (auto& f : pc.failures()) j["counters"].push_back({{"event", f.event}, {"status", "unavailable"}, {"reason", f.reason}});
    j["auto_sensor"] = chosen ? Json(chosen->info().name) : Json();
    fmt::print("{}", json_text(j));
    return 0;
  }

  std::string out = "Power and energy sensors\n";
  if (d.sensors.empty()) out += "  none found\n";
  for (auto& s : d.sensors) {
    const auto& i = s->info();
    out += fmt::format("  {:<28} {:<15} {} ({}, {}, updates every {}){}{}\n", i.name, to_string(s->status().availability),
                       i.source, to_string(i.kind), i.unit, fmt_period(i.update_period_ms),
                       i.board_total ? ", board total" : "", i.part_of.empty() ? "" : ", inside " + i.part_of);
    if (!s->available()) {
      out += fmt::format("      why: {}\n", s->status().reason);
      if (!s->status().fix.empty()) out += fmt::format("      fix: {}\n", s->status().fix);
    }
  }
  out += "\nNot present\n";
  for (auto& n : d.notes) {
    out += fmt::format("  {}: {}\n", n.family, n.status.reason);
    if (!n.status.fix.empty()) out += fmt::format("      note: {}\n", n.status.fix);
  }
  out += "\nGPUs (NVML)\n";
  if (o.root == "/") {
    std::string why;
    std::vector<GpuInfo> gpus;
    if (auto api = load_nvml(&why)) gpus = nvml_gpus(*api, &why);
    if (gpus.empty()) out += fmt::format("  none: {}\n", why);
    for (const GpuInfo& g : gpus) {
      out += fmt::format("  GPU {} {}, driver {}, SM clock {} MHz (max {}), memory clock {} MHz\n", g.index, g.name,
                         g.driver.empty() ? "unknown" : g.driver, g.sm_mhz ? fmt::format("{}", *g.sm_mhz) : "?",
                         g.max_sm_mhz ? fmt::format("{}", *g.max_sm_mhz) : "?",
                         g.mem_mhz ? fmt::format("{}", *g.mem_mhz) : "?");
      out += fmt::format("      energy counter: {}{}\n", to_string(g.energy.availability),
                         g.energy.reason.empty() ? "" : " (" + g.energy.reason + ")");
    }
  } else {
    out += "  not probed under --root\n";
  }
  out += "\nHardware counters (perf_event_open)\n";
  for (auto& e : pc.events()) out += fmt::format("  {:<28} available\n", e);
  for (auto& f : pc.failures()) out += fmt::format("  {:<28} {}\n", f.event, f.reason);
  out += "\nSummary\n";
  if (chosen)
    out += fmt::format("  {} readable sensor(s); `--sensor auto` uses {} ({}).\n", readable, chosen->info().name,
                       chosen->info().rail);
  else
    out += "  No readable power or energy sensor on this machine: `convergy profile` measures time only and stores "
           "energy as missing (NULL), never 0.\n";
  if (pc.any())
    out += fmt::format("  {} of {} hardware counters available.\n", pc.events().size(),
                       pc.events().size() + pc.failures().size());
  else
    out += "  No hardware performance counter can be opened here (see the reasons above); profiles carry no "
           "counter values.\n";
  fmt::print("{}", out);
  return 0;
}

const Command kSensors{{"sensors", "List power sensors and hardware counters, whether they can be read, and why not",
                        40, [](CLI::App& sub) -> std::function<int()> {
                          auto o = std::make_shared<SensorsOptions>();
                          sub.add_option("--root", o->root, "Read sysfs under this folder instead of / (for tests)")
                              ->group("");
                          add_format_option(sub, o->format);
                          return [o] { return run_sensors(*o); };
                        }}};

}  // namespace
}  // namespace convergy::cli
