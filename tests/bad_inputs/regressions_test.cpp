// Crashes the bad-input corpus found in code past the readers, one test each, named after what broke.
// (Inputs that must fail with exit code 2 are cases of cases.tsv instead.)
#include "bad_inputs/cli_run.h"

#include <gtest/gtest.h>

#include <fstream>

namespace convergy::bad_inputs {
namespace {

// Marker times of 1e300 are valid numbers, but adding a clock offset to them loses every edge, and the clock
// alignment then took the median of no matches: a read far outside a vector (SIGSEGV). It is a failure of
// the work (exit 1: the trace and the log do not line up), reported in one line.
TEST(Regression, ClockAlignmentWithNoMatchingEdgeReadOutsideTheMatches) {
  const fs::path log = scratch_dir("huge_marker_times") / "markers.csv";
  std::ofstream(log) << "event,t_s,end_s,network,layer_index,layer,rep,iteration\n"
                        "sync_start,1e300,,,-1,,-1,-1\n"
                        "sync_start,1.0000000001e300,,,-1,,-1,-1\n"
                        "layer,1.0000000002e300,1.0000000003e300,tiny,0,conv1,0,0\n";
  const CliRun r = run_cli({"attribute", "--trace", "trace/good.csv", "--markers", log.string()}, data_dir(),
                           default_timeout_s());
  EXPECT_EQ(r.signal, 0) << r.err;
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("clock alignment: none of the 2 host busy starts lines up"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
}

}  // namespace
}  // namespace convergy::bad_inputs
