// perf_event_open counters fail softly: every requested event either opens and counts, or is listed with a
// reason. (This machine exposes no PMU, so here every event takes the second path.)
#include "measure/perf_counters.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

namespace convergy {
namespace {

TEST(PerfCounters, EveryEventOpensOrSaysWhy) {
  auto events = default_perf_events();
  events.push_back("NO_SUCH_EVENT_XYZ");
  PerfCounters pc = PerfCounters::open(events);
  EXPECT_EQ(pc.events().size() + pc.failures().size(), events.size());
  for (const auto& f : pc.failures()) EXPECT_FALSE(f.reason.empty()) << f.event;
  auto bogus = std::find_if(pc.failures().begin(), pc.failures().end(),
                            [](const CounterFailure& f) { return f.event == "NO_SUCH_EVENT_XYZ"; });
  ASSERT_NE(bogus, pc.failures().end());
  EXPECT_THAT(bogus->reason, ::testing::HasSubstr("libpf"));
  pc.start();
  volatile double x = 0;
  for (int i = 0; i < 100000; ++i) x = x + i * 0.5;
  auto values = pc.stop();
  ASSERT_EQ(values.size(), pc.events().size());
  for (size_t i = 0; i < values.size(); ++i) {
    if (pc.events()[i] == "instructions") {
      EXPECT_GT(values[i], 100000u);
    }
  }
}

TEST(PerfCounters, NoEventsIsAnEmptyValidObject) {
  PerfCounters pc = PerfCounters::open({});
  EXPECT_FALSE(pc.any());
  pc.start();
  EXPECT_TRUE(pc.stop().empty());
}

}  // namespace
}  // namespace convergy
