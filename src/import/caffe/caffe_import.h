// Internal entry of the Caffe importer, shared by load.cpp: takes the text by value so a file read into
// memory is not copied again.
#pragma once
#include "import/load.h"

#include <string>

namespace convergy {

Graph import_caffe_text(std::string text, const std::string& filename, const LoadOptions& options);

}  // namespace convergy
