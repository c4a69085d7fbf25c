// Zoo index built from the embedded prototxt files and their header comments.
#include "zoo/zoo.h"

#include <sstream>

namespace convergy {

namespace {
std::string header_value(std::string_view text, std::string_view key) {
  std::string out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("#", 0) != 0) break;  // header comments come first
    auto pos = line.find(key);
    if (pos == std::string::npos) continue;
    auto v = line.substr(pos + key.size());
    while (!v.empty() && v.front() == ' ') v.erase(v.begin());
    if (!out.empty()) out += "; ";
    out += v;
  }
  return out;
}
}  // namespace

const std::vector<ZooEntry>& zoo_entries() {
  static const std::vector<ZooEntry> entries = [] {
    std::vector<ZooEntry> e;
    for (const auto& f : zoo_data::files()) {
      std::string_view text(f.text);
      e.push_back({f.name, header_value(text, "title:"), header_value(text, "source:"), text});
    }
    return e;
  }();
  return entries;
}

const ZooEntry* find_zoo_entry(std::string_view name) {
  for (const auto& e : zoo_entries())
    if (e.name == name) return &e;
  return nullptr;
}

}  // namespace convergy
