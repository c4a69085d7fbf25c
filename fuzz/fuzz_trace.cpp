// libFuzzer target: an external power meter's CSV trace -> Trace -> clock alignment and per-layer energy
// against a fixed marker log (what `convergy attribute --trace T.csv --markers LOG.csv` does).
#include "fuzz/fuzz_common.h"
#include "measure/external_trace.h"
#include "measure/marker_log.h"

#include <sstream>

namespace {

using namespace convergy;

// Two sync pulses and a few layer intervals on the host clock, written and read back as the CLI reads them.
const std::vector<MarkerEvent>& marker_log() {
  static const std::vector<MarkerEvent> log = [] {
    std::ostringstream text;
    write_marker_header(text);
    write_marker_event(text, {"sync_start", 1.0, 0, "", "", -1, -1, -1});
    write_marker_event(text, {"sync_start", 1.6, 0, "", "", -1, -1, -1});
    write_marker_event(text, {"window_start", 2.0, 0, "net", "", -1, 0, -1});
    for (int i = 0; i < 4; ++i)
      write_marker_event(text, {"layer", 2.0 + 0.1 * i, 2.1 + 0.1 * i, "net", "conv" + std::to_string(i), i, 0, 0});
    return read_marker_log(text.str(), "markers.csv");
  }();
  return log;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzz::run_one([&] {
    const ExternalTrace trace = read_external_trace(fuzz::as_text(data, size), "fuzz.csv");
    rising_edges(trace.power, 0.001);
    double offset_s = 0;
    attribute_with_markers(trace.power, marker_log(), &offset_s);
  });
}
