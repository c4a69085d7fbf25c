// Number formatting shared by the JSON, CSV and HTML writers (see format.h).
#include "report/format.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>

namespace convergy::report {

std::string canonical_text(double v) {
  if (v == 0) return "0";  // also folds -0 into 0
  return fmt::format("{:.{}g}", v, kSignificantDigits);
}

double canonical(double v) { return std::strtod(canonical_text(v).c_str(), nullptr); }

std::string display_percent(double fraction) { return fmt::format("{:.1f}%", canonical(fraction) * 100.0); }

std::string display_quantity(double v) {
  v = canonical(v);
  const double a = std::fabs(v);
  if (a == 0) return "0";
  if (a >= 1e6 || a < 1e-3) return fmt::format("{:.3g}", v);
  if (a >= 100) return fmt::format("{:.0f}", v);
  if (a >= 10) return fmt::format("{:.1f}", v);
  if (a >= 1) return fmt::format("{:.2f}", v);
  return fmt::format("{:.3g}", v);
}

std::string display_integer(double v) { return fmt::format("{:.0f}", canonical(v)); }

}  // namespace convergy::report
