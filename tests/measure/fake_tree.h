// Test helper: a temporary folder that plays a sysfs root.
#pragma once
#include "measure/sensor.h"

#include <filesystem>
#include <string>

namespace convergy::testing {

class FakeTree {
 public:
  FakeTree();
  ~FakeTree();
  FakeTree(const FakeTree&) = delete;
  FakeTree& operator=(const FakeTree&) = delete;
  // Writes `content` + newline to root/rel, creating folders (all world-readable).
  void write(const std::string& rel, const std::string& content);
  const std::string& root() const { return root_; }
  std::string full(const std::string& rel) const { return root_ + "/" + rel; }
  SysFs fs() const;

 private:
  std::string root_;
};

}  // namespace convergy::testing
