// Marker log writing/reading, sync pulses, and per-layer attribution of an aligned external trace.
#include "measure/marker_log.h"

#include "measure/external_trace.h"
#include "measure/profiler.h"
#include "util/error.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <chrono>
#include <map>
#include <thread>
#include <tuple>
#include <type_traits>

namespace convergy {
namespace {

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t c = line.find(',', start);
    out.push_back(line.substr(start, c == std::string_view::npos ? std::string_view::npos : c - start));
    if (c == std::string_view::npos) break;
    start = c + 1;
  }
  return out;
}

template <typename T>
bool parse(std::string_view s, T& v) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if constexpr (std::is_floating_point_v<T>)
    if (!std::isfinite(v)) return false;  // from_chars reads "nan" and "inf"
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

void write_marker_header(std::ostream& out) {
  out << "# convergy marker log: host monotonic clock, seconds\n"
         "event,t_s,end_s,network,layer_index,layer,rep,iteration\n";
}

void write_marker_event(std::ostream& out, const MarkerEvent& e) {
  // Network and layer names come from model files: commas would break the columns.
  auto clean = [](std::string s) {
    for (auto& c : s)
      if (c == ',' || c == '\n' || c == '\r') c = '_';
    return s;
  };
  out << fmt::format("{},{:.9f},{},{},{},{},{},{}\n", e.event, e.t_s,
                     e.event == "layer" ? fmt::format("{:.9f}", e.end_s) : std::string(), clean(e.network),
                     e.layer_index, clean(e.layer), e.rep, e.iteration);
}

std::vector<MarkerEvent> read_marker_log(std::string_view text, const std::string& filename) {
  std::vector<MarkerEvent> out;
  int line_no = 0;
  bool header = false;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    if (!header) {
      if (line != "event,t_s,end_s,network,layer_index,layer,rep,iteration")
        throw_bad_input("{}:{}: expected the marker log header event,t_s,end_s,network,layer_index,layer,rep,iteration",
                        filename, line_no);
      header = true;
      continue;
    }
    auto f = split_fields(line);
    if (f.size() != 8) throw_bad_input("{}:{}: {} fields, expected 8", filename, line_no, f.size());
    MarkerEvent e;
    e.event = std::string(f[0]);
    if (e.event != "sync_start" && e.event != "sync_end" && e.event != "window_start" && e.event != "window_end" &&
        e.event != "layer")
      throw_bad_input("{}:{}:1: unknown event \"{}\"", filename, line_no, f[0]);
    if (!parse(f[1], e.t_s)) throw_bad_input("{}:{}:2: \"{}\" is not a time", filename, line_no, f[1]);
    if (e.event == "layer" && (!parse(f[2], e.end_s) || e.end_s < e.t_s))
      throw_bad_input("{}:{}:3: \"{}\" is not an end time after the start", filename, line_no, f[2]);
    e.network = std::string(f[3]);
    if (!parse(f[4], e.layer_index)) throw_bad_input("{}:{}:5: \"{}\" is not a layer index", filename, line_no, f[4]);
    e.layer = std::string(f[5]);
    if (!parse(f[6], e.rep)) throw_bad_input("{}:{}:7: \"{}\" is not a repetition", filename, line_no, f[6]);
    if (!parse(f[7], e.iteration)) throw_bad_input("{}:{}:8: \"{}\" is not an iteration", filename, line_no, f[7]);
    out.push_back(std::move(e));
  }
  if (!header) throw_bad_input("{}: empty marker log", filename);
  return out;
}

std::vector<double> run_sync_pulses(double idle_s, double pulse_s, double gap_s) {
  auto sleep = [](double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); };
  auto spin = [](double s) {
    double end = monotonic_s() + s;
    volatile double x = 0;
    while (monotonic_s() < end) x = x + 1;
  };
  std::vector<double> starts;
  sleep(idle_s);
  starts.push_back(monotonic_s());
  spin(pulse_s);
  sleep(gap_s);
  starts.push_back(monotonic_s());
  spin(pulse_s);
  sleep(idle_s);
  return starts;
}

std::vector<ExternalLayerEnergy> attribute_with_markers(const Trace& meter, const std::vector<MarkerEvent>& log,
                                                        double* offset_s) {
  std::vector<double> host_edges;
  for (const auto& e : log)
    if (e.event == "sync_start") host_edges.push_back(e.t_s);
  if (host_edges.empty())
    throw_bad_input("marker log: no sync_start event; profile with --marker-log so convergy plays the sync pulses");
  // Only the sync pulses: timing windows follow each other without idle, so they make no reliable edge.
  double offset = estimate_clock_offset(meter, host_edges);
  if (offset_s) *offset_s = offset;
  Trace host = to_host_clock(meter, offset);
  std::map<std::tuple<std::string, int, int>, ExternalLayerEnergy> acc;
  std::vector<std::tuple<std::string, int, int>> order;
  for (const auto& e : log) {
    if (e.event != "layer") continue;
    auto en = energy_j(host, e.t_s, e.end_s);
    if (!en) continue;
    auto key = std::make_tuple(e.network, e.layer_index, e.rep);
    auto [it, fresh] = acc.try_emplace(key);
    if (fresh) {
      order.push_back(key);
      it->second.network = e.network;
      it->second.layer = e.layer;
      it->second.layer_index = e.layer_index;
      it->second.rep = e.rep;
    }
    it->second.runs += 1;
    it->second.time_ms += (e.end_s - e.t_s) * 1e3;
    it->second.energy_mj += *en * 1e3;
  }
  std::vector<ExternalLayerEnergy> out;
  for (const auto& k : order) {
    ExternalLayerEnergy x = acc[k];
    double n = static_cast<double>(x.runs);
    x.power_w = x.time_ms > 0 ? x.energy_mj / x.time_ms : 0;
    x.time_ms /= n;
    x.energy_mj /= n;
    out.push_back(std::move(x));
  }
  return out;
}

}  // namespace convergy
