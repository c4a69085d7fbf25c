// Test helper: builds fake sysfs trees (Jetson boards, RAPL, batteries) in a temporary folder.
#include "measure/fake_tree.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

namespace convergy::testing {

FakeTree::FakeTree() {
  std::string tmpl = ::testing::TempDir() + "convergy_sysfs_XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  char* d = ::mkdtemp(buf.data());
  if (!d) throw std::runtime_error("mkdtemp failed");
  root_ = d;
  // mkdtemp makes 0700; an unprivileged child (permission tests) must be able to walk in.
  ::chmod(root_.c_str(), 0755);
}

FakeTree::~FakeTree() { std::filesystem::remove_all(root_); }

void FakeTree::write(const std::string& rel, const std::string& content) {
  std::filesystem::path p = std::filesystem::path(root_) / rel;
  std::filesystem::create_directories(p.parent_path());
  for (auto q = p.parent_path(); q.string().size() > root_.size(); q = q.parent_path()) ::chmod(q.c_str(), 0755);
  std::ofstream(p) << content << "\n";
  ::chmod(p.c_str(), 0644);
}

SysFs FakeTree::fs() const {
  SysFs f;
  f.root = root_;
  return f;
}

}  // namespace convergy::testing
