// convergy's layer marker log: host times of a sync pulse, of each timing window and of every layer run in
// markers mode. An external meter's trace is aligned to it (clock offset from the sync pulse and busy edges)
// and then attributed per layer.
#pragma once
#include "measure/attribution.h"

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace convergy {

struct MarkerEvent {
  std::string event;  // sync_start | sync_end | window_start | window_end | layer
  double t_s = 0;     // host monotonic seconds (start for "layer")
  double end_s = 0;   // "layer" only
  std::string network, layer;
  int layer_index = -1;
  int rep = -1;
  int64_t iteration = -1;
};

void write_marker_header(std::ostream& out);
void write_marker_event(std::ostream& out, const MarkerEvent& e);
// Throws BadInput naming file:line on malformed input.
std::vector<MarkerEvent> read_marker_log(std::string_view text, const std::string& filename);

// Busy phases at the start of the log: idle, pulse, idle, pulse, idle (the second pulse disambiguates the
// offset). Returns the host times at which each pulse started.
std::vector<double> run_sync_pulses(double idle_s = 0.5, double pulse_s = 0.25, double gap_s = 0.35);

struct ExternalLayerEnergy {
  std::string network, layer;
  int layer_index = -1;
  int rep = -1;
  int64_t runs = 0;
  double time_ms = 0;       // mean per run
  double energy_mj = 0;     // mean per run
  double power_w = 0;
};

// Aligns `meter` (its own clock) with the log using the sync pulses, then integrates every layer interval.
// `offset_s` receives meter_time - host_time. Layers whose intervals the trace does not cover are left out.
std::vector<ExternalLayerEnergy> attribute_with_markers(const Trace& meter, const std::vector<MarkerEvent>& log,
                                                        double* offset_s);

}  // namespace convergy
