// Wall-clock timestamps as the store, results and reports write them.
#pragma once
#include <string>

namespace convergy {

// The current UTC time in ISO 8601, e.g. "2026-11-26T12:00:00Z".
std::string utc_now_iso8601();

}  // namespace convergy
