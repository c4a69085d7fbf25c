// Number formatting for every output of the report module, in one place, so the HTML, CSV and JSON
// always carry the same value for the same number.
#pragma once
#include <string>

namespace convergy::report {

// Significant digits kept in every written number (JSON, CSV, HTML data attributes).
inline constexpr int kSignificantDigits = 6;

// `v` rounded to kSignificantDigits significant digits: exactly the double that canonical_text(v) parses to.
double canonical(double v);
// The text form of canonical(v) ("%.6g"): what CSV cells and HTML data-value attributes hold.
std::string canonical_text(double v);

// Human-readable forms for the visible page. They read the canonical value, so what a reader sees is
// that value at lower precision.
std::string display_percent(double fraction);  // 0.8731 -> "87.3%"
std::string display_quantity(double v);        // 3 significant digits, no exponent for 0.001..999999
std::string display_integer(double v);         // 12 -> "12"

}  // namespace convergy::report
