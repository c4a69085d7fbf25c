// External power meters (Monsoon, Joulescope, ARM energy probe): reading their CSV traces and aligning
// them with convergy's own clock by estimating the offset from a sync pulse or idle-to-busy edges.
#pragma once
#include "measure/attribution.h"

#include <string>
#include <string_view>
#include <vector>

namespace convergy {

struct ExternalTrace {
  Trace power;          // watts against the meter's clock, seconds
  std::string columns;  // how the columns were understood, e.g. "time[ms] current[mA] voltage[V]"
};

// CSV with a header row: time plus power, or time plus current and voltage. Units come from the header
// ("Time(ms)", "Main(mA)", "power_w", "Voltage [V]"); a column without a unit is in s, W, A or V.
// Throws BadInput naming file:line on anything else.
ExternalTrace read_external_trace(std::string_view text, const std::string& filename);
ExternalTrace read_external_trace_file(const std::string& path);

// Times (seconds, sub-sample by interpolation) where power crosses midway from its idle to its busy
// level going up. `min_gap_s` merges edges closer than that (noise).
std::vector<double> rising_edges(const Trace& power, double min_gap_s = 0.0);

// Offset such that meter_time = host_time + offset, found by matching the trace's rising edges with the
// host times at which convergy started a busy phase (sync pulse, or each run after idle). Uses the
// candidate offset that explains the most host edges within `tolerance_s`, refined by their median.
// Throws Failure if no edge matches.
double estimate_clock_offset(const Trace& power, const std::vector<double>& host_busy_starts,
                             double tolerance_s = 0.005);

// The trace on the host clock: every time minus `offset_s`.
Trace to_host_clock(const Trace& meter, double offset_s);

}  // namespace convergy
