// --max-dim, --max-tensor-elems, --max-layers, --max-nesting: they write straight into global_limits(),
// which the importers and shape inference read; the defaults are in util/checked.h.
#include "cli/limits.h"

#include "util/checked.h"

namespace convergy::cli {

void add_limit_options(CLI::App& sub) {
  Limits& l = global_limits();
  const char* group = "Limits (a file over one fails with a message naming the option)";
  sub.add_option("--max-dim", l.max_dim, "Largest size of any one dimension, kernel, stride or pad")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group(group);
  sub.add_option("--max-tensor-elems", l.max_tensor_elems, "Most elements in any one blob or weight")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group(group);
  sub.add_option("--max-layers", l.max_layers, "Most layers (ONNX nodes) in a network")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group(group);
  sub.add_option("--max-nesting", l.max_nesting, "Deepest nesting of messages in a .prototxt")
      ->check(CLI::PositiveNumber)
      ->capture_default_str()
      ->group(group);
}

}  // namespace convergy::cli
