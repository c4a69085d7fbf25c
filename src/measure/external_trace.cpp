// Reading external power-meter CSV traces and estimating their clock offset against convergy's markers.
#include "measure/external_trace.h"

#include "util/error.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

namespace convergy {
namespace {

enum class Quantity { Unknown, Time, Power, Current, Voltage };

struct Column {
  Quantity q = Quantity::Unknown;
  double scale = 1;  // to s, W, A, V
  std::string unit;
};

std::string lower(std::string_view s) {
  std::string r(s);
  for (auto& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (std::isspace(static_cast<unsigned char>(s.front())) || s.front() == '"')) s.remove_prefix(1);
  while (!s.empty() && (std::isspace(static_cast<unsigned char>(s.back())) || s.back() == '"' || s.back() == '\r'))
    s.remove_suffix(1);
  return std::string(s);
}

std::vector<std::string> split(std::string_view line) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t c = line.find(',', start);
    out.push_back(trim(line.substr(start, c == std::string_view::npos ? std::string_view::npos : c - start)));
    if (c == std::string_view::npos) break;
    start = c + 1;
  }
  return out;
}

// Unit -> (quantity, scale to SI).
bool unit_of(const std::string& u, Quantity& q, double& scale) {
  struct U {
    const char* name;
    Quantity q;
    double scale;
  };
  static const U units[] = {{"s", Quantity::Time, 1},        {"ms", Quantity::Time, 1e-3},
                            {"us", Quantity::Time, 1e-6},    {"ns", Quantity::Time, 1e-9},
                            {"w", Quantity::Power, 1},       {"mw", Quantity::Power, 1e-3},
                            {"uw", Quantity::Power, 1e-6},   {"a", Quantity::Current, 1},
                            {"ma", Quantity::Current, 1e-3}, {"ua", Quantity::Current, 1e-6},
                            {"v", Quantity::Voltage, 1},     {"mv", Quantity::Voltage, 1e-3},
                            {"uv", Quantity::Voltage, 1e-6}};
  for (const auto& x : units)
    if (u == x.name) {
      q = x.q;
      scale = x.scale;
      return true;
    }
  return false;
}

Column classify(const std::string& header) {
  std::string h = lower(header);
  if (!h.empty() && h.front() == '#') h.erase(0, 1);
  Column c;
  // Unit: inside () or [], else after the last '_' or ' ' ("power_mw", "time s").
  std::string unit;
  std::string name = h;
  auto open = h.find_first_of("([");
  if (open != std::string::npos) {
    auto close = h.find_first_of(")]", open);
    unit = trim(h.substr(open + 1, close == std::string::npos ? std::string::npos : close - open - 1));
    name = h.substr(0, open);
  } else if (auto sep = h.find_last_of("_ "); sep != std::string::npos) {
    unit = h.substr(sep + 1);
    Quantity q;
    double s;
    if (unit_of(unit, q, s)) name = h.substr(0, sep);
    else unit.clear();
  }
  Quantity uq = Quantity::Unknown;
  double us = 1;
  bool has_unit = !unit.empty() && unit_of(unit, uq, us);
  // Keywords first ("Main Voltage(V)" is a voltage though Monsoon calls the channel "Main").
  if (name.find("time") != std::string::npos || name == "t") c.q = Quantity::Time;
  else if (name.find("power") != std::string::npos || name.find("watt") != std::string::npos) c.q = Quantity::Power;
  else if (name.find("volt") != std::string::npos || name == "v") c.q = Quantity::Voltage;
  else if (name.find("curr") != std::string::npos || name == "i") c.q = Quantity::Current;
  else if (has_unit) c.q = uq;
  if (c.q == Quantity::Unknown) return c;
  if (has_unit && uq == c.q) {
    c.scale = us;
    c.unit = unit;
    if (c.q != Quantity::Time) c.unit.back() = static_cast<char>(std::toupper(c.unit.back()));  // "ma" -> "mA"
  } else {
    c.unit = c.q == Quantity::Time ? "s" : c.q == Quantity::Power ? "W" : c.q == Quantity::Current ? "A" : "V";
  }
  return c;
}

bool parse_double(const std::string& s, double& v) {
  if (s.empty()) return false;
  const char* b = s.data();
  const char* e = b + s.size();
  auto r = std::from_chars(b, e, v);
  return r.ec == std::errc() && r.ptr == e && std::isfinite(v);
}

}  // namespace

ExternalTrace read_external_trace(std::string_view text, const std::string& filename) {
  ExternalTrace out;
  int line_no = 0;
  int time_col = -1, power_col = -1, current_col = -1, voltage_col = -1;
  std::vector<Column> cols;
  size_t ncols = 0;
  bool header_seen = false;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    std::string t = trim(line);
    if (t.empty()) continue;
    if (!header_seen) {
      if (t.front() == '#' && t.find(',') == std::string::npos) continue;  // a comment before the header
      auto fields = split(t);
      for (size_t i = 0; i < fields.size(); ++i) {
        Column c = classify(fields[i]);
        int idx = static_cast<int>(i);
        if (c.q == Quantity::Time && time_col < 0) time_col = idx;
        if (c.q == Quantity::Power && power_col < 0) power_col = idx;
        if (c.q == Quantity::Current && current_col < 0) current_col = idx;
        if (c.q == Quantity::Voltage && voltage_col < 0) voltage_col = idx;
        cols.push_back(c);
      }
      ncols = fields.size();
      if (time_col < 0 || (power_col < 0 && (current_col < 0 || voltage_col < 0)))
        throw_bad_input("{}:{}: header \"{}\": expected a time column and a power column, or current and voltage",
                        filename, line_no, t);
      auto desc = [&](int c, const char* what) {
        return c < 0 ? std::string() : fmt::format("{}{}[{}]", out.columns.empty() ? "" : " ", what, cols[c].unit);
      };
      out.columns += desc(time_col, "time");
      if (power_col >= 0) out.columns += desc(power_col, "power");
      else {
        out.columns += desc(current_col, "current");
        out.columns += desc(voltage_col, "voltage");
      }
      header_seen = true;
      continue;
    }
    if (t.front() == '#') continue;
    auto fields = split(t);
    if (fields.size() < ncols)
      throw_bad_input("{}:{}: {} fields, expected {} as in the header", filename, line_no, fields.size(), ncols);
    auto num = [&](int c) {
      double v;
      if (!parse_double(fields[c], v))
        throw_bad_input("{}:{}:{}: \"{}\" is not a number", filename, line_no, c + 1, fields[c]);
      return v * cols[c].scale;
    };
    double time = num(time_col);
    double power = power_col >= 0 ? num(power_col) : std::abs(num(current_col) * num(voltage_col));
    if (!out.power.t_s.empty() && time < out.power.t_s.back())
      throw_bad_input("{}:{}: time {} goes backwards (previous {})", filename, line_no, time, out.power.t_s.back());
    out.power.add(time, power);
  }
  if (!header_seen) throw_bad_input("{}: empty trace, expected a header row and samples", filename);
  if (out.power.size() < 2) throw_bad_input("{}: {} samples, expected at least 2", filename, out.power.size());
  return out;
}

ExternalTrace read_external_trace_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_bad_input("{}: cannot open the trace file", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return read_external_trace(ss.str(), path);
}

std::vector<double> rising_edges(const Trace& tr, double min_gap_s) {
  std::vector<double> edges;
  if (tr.size() < 2) return edges;
  std::vector<double> sorted = tr.value;
  std::sort(sorted.begin(), sorted.end());
  double low = sorted[sorted.size() / 10], high = sorted[sorted.size() * 9 / 10];
  if (!(high > low)) return edges;
  // Hysteresis: an edge starts above 60% and needs a return below 40% before the next one.
  double mid = low + 0.5 * (high - low), up = low + 0.6 * (high - low), down = low + 0.4 * (high - low);
  bool busy = tr.value[0] > mid;
  size_t last_low = 0;
  for (size_t i = 1; i < tr.size(); ++i) {
    double v = tr.value[i];
    if (!busy && v <= mid) last_low = i;
    if (!busy && v >= up) {
      // The crossing of `mid` after the last sample at or below it, interpolated.
      size_t a = last_low, b = a + 1;
      double t = tr.t_s[b];
      if (tr.value[b] != tr.value[a])
        t = tr.t_s[a] + (mid - tr.value[a]) / (tr.value[b] - tr.value[a]) * (tr.t_s[b] - tr.t_s[a]);
      if (edges.empty() || t - edges.back() >= min_gap_s) edges.push_back(t);
      busy = true;
    } else if (busy && v <= down) {
      busy = false;
      last_low = i;
    }
  }
  return edges;
}

double estimate_clock_offset(const Trace& power, const std::vector<double>& host, double tolerance_s) {
  auto edges = rising_edges(power);
  if (edges.empty() || host.empty())
    throw_failure("clock alignment: {} rising edges in the trace and {} busy starts on the host; need at least one "
                  "of each (record an idle period before the sync pulse)",
                  edges.size(), host.size());
  size_t best_matches = 0;
  std::vector<double> best_diffs;
  for (double e : edges) {
    for (double h : host) {
      double off = e - h;
      std::vector<double> diffs;
      for (double hh : host) {
        auto it = std::lower_bound(edges.begin(), edges.end(), hh + off - tolerance_s);
        if (it != edges.end() && std::abs(*it - (hh + off)) <= tolerance_s) diffs.push_back(*it - hh);
      }
      if (diffs.size() > best_matches) {
        best_matches = diffs.size();
        best_diffs = std::move(diffs);
      }
    }
  }
  if (best_diffs.empty())  // e.g. host times so large (1e300) that adding an offset loses the edge
    throw_failure("clock alignment: none of the {} host busy starts lines up with any of the {} rising edges in "
                  "the trace within {} s; are the trace and the marker log from the same run?",
                  host.size(), edges.size(), tolerance_s);
  std::sort(best_diffs.begin(), best_diffs.end());
  size_t n = best_diffs.size();
  return n % 2 ? best_diffs[n / 2] : 0.5 * (best_diffs[n / 2 - 1] + best_diffs[n / 2]);
}

Trace to_host_clock(const Trace& meter, double offset_s) {
  Trace t = meter;
  for (auto& x : t.t_s) x -= offset_s;
  return t;
}

}  // namespace convergy
