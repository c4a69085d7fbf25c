// Process-wide resource limits (see checked.h).
#include "util/checked.h"

#include <fmt/format.h>

namespace convergy {
Limits& global_limits() {
  static Limits limits;
  return limits;
}

std::string limit_text(Limit which) {
  const Limits& l = global_limits();
  switch (which) {
    case Limit::Dim: return fmt::format("{} (raise with --max-dim)", l.max_dim);
    case Limit::TensorElems: return fmt::format("{} (raise with --max-tensor-elems)", l.max_tensor_elems);
    case Limit::Layers: return fmt::format("{} (raise with --max-layers)", l.max_layers);
    case Limit::Nesting: return fmt::format("{} (raise with --max-nesting)", l.max_nesting);
  }
  return "?";
}
}  // namespace convergy
