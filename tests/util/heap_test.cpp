#include "util/heap.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace convergy {
namespace {

TEST(Heap, FirstCallDecidesLaterCallsReturnTheSame) {
  const HeapSettings& a = retain_freed_memory();
  const HeapSettings& b = retain_freed_memory();
  EXPECT_EQ(&a, &b);
  EXPECT_FALSE(a.detail.empty());
}

#if defined(__GLIBC__)
// With the settings applied, a 4 MB block is served from the heap (under the 32 MB mmap threshold) and, once
// freed, stays in the heap for the next allocation instead of going back to the OS: the heap's size from the
// OS (`arena`) keeps the block. With glibc's defaults the block gets its own mmap() and is unmapped on free.
TEST(Heap, FreedMemoryStaysInTheHeap) {
  const HeapSettings& s = retain_freed_memory();
  if (!s.applied) GTEST_SKIP() << s.detail;
  constexpr size_t kBytes = 4u << 20;
  const struct mallinfo2 before = mallinfo2();
  auto* p = static_cast<char*>(std::malloc(kBytes));
  ASSERT_NE(p, nullptr);
  std::memset(p, 1, kBytes);
  const struct mallinfo2 held = mallinfo2();
  std::free(p);
  const struct mallinfo2 after = mallinfo2();
  EXPECT_EQ(held.hblkhd, before.hblkhd) << "the block was mmap()ed";
  EXPECT_GE(after.arena, before.arena + kBytes) << "the freed block was returned to the OS";
}
#endif

}  // namespace
}  // namespace convergy
