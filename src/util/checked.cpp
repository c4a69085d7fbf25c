// Process-wide resource limits (see checked.h).
#include "util/checked.h"

namespace convergy {
Limits& global_limits() {
  static Limits limits;
  return limits;
}
}  // namespace convergy
