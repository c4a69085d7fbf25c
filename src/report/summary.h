// The study's closing terminal summary: a compact table of the headline figures and where the report is.
// It prints the same table cells as the report, so terminal and page agree.
#pragma once
#include "report/study_results.h"

#include <string>

namespace convergy::report {

// Plain text, one line per combination, ending with the paper's range and `report_path`, e.g.
//   combination              evaluation             held-out      accuracy  RMSPE  ±10%  complexity
//   This machine · OpenBLAS  leave-one-network-out  10 networks      96.0%   5.4%   90%          20
std::string terminal_summary(const StudyResults& results, const std::string& report_path);

}  // namespace convergy::report
