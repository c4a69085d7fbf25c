// The process heap, set up for scoring many networks in a row.
//
// Importing, passing and predicting one network allocates and frees a few hundred kB (the text, the layer and
// blob tables, the features). With glibc's defaults the free at the end of each network leaves more than
// 128 kB free at the top of the heap, which glibc hands back to the OS at once; the next network takes it
// back, page by page, through page faults. On the 2-vCPU development VM that round trip cost 15-20% of the
// NB201 prediction throughput on two threads (docs in README, "Prediction speed"). The entry points that
// score networks in bulk (the CLI and the Python module) call retain_freed_memory() once at start-up; a C++
// program that links convergy and calls predict_networks may do the same.
#pragma once
#include <string>

namespace convergy {

struct HeapSettings {
  bool applied = false;
  std::string detail;  // what was set, or why nothing was
};

// Keeps up to 128 MB of freed memory at the top of each glibc heap instead of returning it to the OS, and
// serves allocations up to 32 MB from the heap rather than from fresh mmap()ed pages (the largest value
// glibc's own adaptive rule reaches). Memory stays reusable by the process; only its return to the OS is
// deferred. Does nothing when the environment sets CONVERGY_MALLOC_DEFAULTS=1, off glibc, or when the
// allocator refuses (a sanitizer's). Safe to call more than once and from several threads: the first call
// decides, later calls return its result.
const HeapSettings& retain_freed_memory();

}  // namespace convergy
