// Hardware performance counters through perf_event_open: the generic events (instructions, cycles, cache
// references/misses) and, by name through libpfm4 (dlopen'ed), SIMD and memory events where the CPU has them.
// Fails softly: each counter that cannot be opened says why, and the run goes on without it.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace convergy {

struct CounterFailure {
  std::string event;
  std::string reason;  // what failed and why, with the fix where there is one
};

class PerfCounters {
 public:
  // Opens what it can of `events`, counting this process (user space, threads created later included).
  static PerfCounters open(const std::vector<std::string>& events);
  PerfCounters() = default;
  PerfCounters(PerfCounters&&) noexcept;
  PerfCounters& operator=(PerfCounters&&) noexcept;
  ~PerfCounters();

  const std::vector<std::string>& events() const { return names_; }  // those that opened
  const std::vector<CounterFailure>& failures() const { return failures_; }
  bool any() const { return !names_.empty(); }

  void start();                        // reset and enable
  std::vector<uint64_t> stop();        // disable and read, one value per events()

 private:
  std::vector<int> fds_;
  std::vector<std::string> names_;
  std::vector<CounterFailure> failures_;
};

// instructions, cycles, cache-references, cache-misses, plus the SIMD and bus/memory events of this CPU's
// architecture (ARMv8: ASE_SPEC, BUS_ACCESS; x86: FP_ARITH and last-level-cache events).
std::vector<std::string> default_perf_events();

}  // namespace convergy
