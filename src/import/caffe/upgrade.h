// Caffe's legacy network formats (V1 `layers { type: CONVOLUTION }`, V0 `layers { layer { type: "conv" } }`)
// rewritten as the current format, field by field as Caffe's upgrade_proto does on load.
#pragma once
#include "import/text_format.h"

#include <optional>
#include <string>

namespace convergy {

enum class CaffeFormat { V0, V1, V2 };

// The format of a parsed NetParameter: V2 unless it has `layers` (V1), with a nested `layer` (V0).
CaffeFormat caffe_format(const textproto::Document& doc);

// The V2 text of a V0 or V1 network, with every field on the line it came from, so that messages about
// the upgraded text point at the user's file. Throws BadInput naming the line of a field that has no
// place in the current format. Returns nullopt for a network that is already V2.
std::optional<std::string> upgrade_caffe_net(const textproto::Document& doc);

}  // namespace convergy
