// See heap.h for why the trim and mmap thresholds are raised.
#include "util/heap.h"

#include <cstdlib>
#include <string_view>

// Clang spells "built with AddressSanitizer" as a feature test, GCC as a macro.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CONVERGY_HEAP_SANITIZED 1
#endif
#endif

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace convergy {

namespace {

constexpr int kTrimThreshold = 128 << 20;  // bytes free at a heap's top before glibc returns them
constexpr int kMmapThreshold = 32 << 20;   // larger allocations get their own mmap()

HeapSettings apply() {
  HeapSettings s;
  if (const char* env = std::getenv("CONVERGY_MALLOC_DEFAULTS"); env && std::string_view(env) == "1") {
    s.detail = "glibc malloc defaults kept (CONVERGY_MALLOC_DEFAULTS=1)";
    return s;
  }
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(CONVERGY_HEAP_SANITIZED)
  s.detail = "malloc defaults kept: a sanitizer build, whose allocator is not glibc's";
#elif defined(__GLIBC__)
  // Both are process-wide. Setting either turns off glibc's adaptive thresholds, hence the mmap one too: left
  // at its 128 kB default, every layer table of a large network would come from fresh pages.
  if (mallopt(M_MMAP_THRESHOLD, kMmapThreshold) != 1 || mallopt(M_TRIM_THRESHOLD, kTrimThreshold) != 1) {
    s.detail = "glibc malloc defaults kept: the allocator refused mallopt";
    return s;
  }
  s.applied = true;
  s.detail = "glibc malloc: trim threshold 128 MB, mmap threshold 32 MB";
#else
  s.detail = "malloc defaults kept: not glibc";
#endif
  return s;
}

}  // namespace

const HeapSettings& retain_freed_memory() {
  static const HeapSettings settings = apply();
  return settings;
}

}  // namespace convergy
