// Shared by the libFuzzer targets: the one rule that decides what counts as a finding.
#pragma once
#include "util/error.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace convergy::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Runs `body` on one input. convergy::Error is the clean rejection of a bad file (the CLI prints it and exits
// 2 or 1); any other exception escapes, and libFuzzer reports it as a crash, like a signal or a sanitizer
// report.
template <typename Body>
int run_one(Body&& body) {
  try {
    body();
  } catch (const Error&) {
  }
  return 0;
}

}  // namespace convergy::fuzz
