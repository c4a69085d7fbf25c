// The built-in model zoo: the SyNERGY networks and those people deploy today, as Caffe prototxt text
// embedded at build time from zoo/*.prototxt.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace convergy {

struct ZooEntry {
  std::string name;      // file stem, e.g. "resnet50"
  std::string title;     // from the file's "# title:" comment
  std::string source;    // from the file's "# source:" comment(s)
  std::string_view text; // the prototxt
};

const std::vector<ZooEntry>& zoo_entries();
const ZooEntry* find_zoo_entry(std::string_view name);  // nullptr if absent

namespace zoo_data {
struct RawZooFile {
  const char* name;
  const char* text;
};
const std::vector<RawZooFile>& files();
}  // namespace zoo_data

}  // namespace convergy
