// CSV reading for measurement tables (see csv.h).
#include "model/csv.h"

#include "util/error.h"

#include <cerrno>
#include <cstdint>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string_view>
#include <unordered_set>

namespace convergy::model {
namespace {

std::vector<std::string> split_fields(std::string_view line) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t comma = line.find(',', start);
    if (comma == std::string_view::npos) {
      out.emplace_back(line.substr(start));
      return out;
    }
    out.emplace_back(line.substr(start, comma - start));
    start = comma + 1;
  }
}

// The first columns of a header for a message: a hostile file's header can have a million of them.
std::string join(const std::vector<std::string>& v) {
  constexpr size_t kShown = 30;
  std::string s;
  for (size_t i = 0; i < v.size() && i < kShown; ++i) s += (s.empty() ? "" : ", ") + v[i];
  if (v.size() > kShown) s += fmt::format(", ... ({} in all)", v.size());
  return s;
}

}  // namespace

CsvTable CsvTable::parse(std::string_view text, std::string path) {
  CsvTable t;
  t.path_ = std::move(path);
  t.digest_ = fnv1a_hex(text);
  int line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // tolerate CRLF files
    if (line.empty()) continue;
    if (line.find('"') != std::string_view::npos)
      throw_bad_input("{}:{}: quoted fields are not supported (expected plain comma-separated values)", t.path_,
                      line_no);
    auto fields = split_fields(line);
    if (t.header_.empty()) {
      // A set, not a pairwise comparison: a hostile header of 10^6 columns took hours.
      std::unordered_set<std::string_view> names;
      for (size_t i = 0; i < fields.size(); ++i) {
        if (fields[i].empty()) throw_bad_input("{}:{}: header column {} has no name", t.path_, line_no, i + 1);
        if (!names.insert(fields[i]).second)
          throw_bad_input("{}:{}: header names column \"{}\" twice", t.path_, line_no, fields[i]);
      }
      t.header_ = std::move(fields);
      continue;
    }
    if (fields.size() != t.header_.size())
      throw_bad_input("{}:{}: {} fields, expected {} as in the header", t.path_, line_no, fields.size(),
                      t.header_.size());
    t.rows_.push_back(std::move(fields));
    t.lines_.push_back(line_no);
  }
  if (t.header_.empty()) throw_bad_input("{}: empty file, expected a header row", t.path_);
  return t;
}

CsvTable CsvTable::read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_bad_input("{}: cannot open file", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path);
}

std::string fnv1a_hex(std::string_view bytes) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("{:016x}", h);
}

int CsvTable::column_index(std::string_view name) const {
  for (size_t i = 0; i < header_.size(); ++i)
    if (header_[i] == name) return static_cast<int>(i);
  return -1;
}

int CsvTable::require_column(std::string_view name) const {
  int i = column_index(name);
  if (i < 0) throw_bad_input("{}: no column \"{}\" (columns: {})", path_, name, join(header_));
  return i;
}

CsvTable CsvTable::where(std::string_view column, std::string_view value, bool equal) const {
  const int c = require_column(column);
  CsvTable t;
  t.path_ = path_;
  t.digest_ = fnv1a_hex(digest_ + "|" + std::string(column) + (equal ? "=" : "!=") + std::string(value));
  t.header_ = header_;
  for (size_t r = 0; r < rows_.size(); ++r)
    if ((rows_[r][static_cast<size_t>(c)] == value) == equal) {
      t.rows_.push_back(rows_[r]);
      t.lines_.push_back(lines_[r]);
    }
  return t;
}

double CsvTable::number(size_t row, int col) const {
  auto v = optional_number(row, col);
  if (!v)
    throw_bad_input("{}:{}: column \"{}\": expected a number, got an empty field", path_, line(row),
                    header_.at(static_cast<size_t>(col)));
  return *v;
}

std::optional<double> CsvTable::optional_number(size_t row, int col) const {
  const std::string& s = text(row, col);
  if (s.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || errno == ERANGE || !std::isfinite(v))
    throw_bad_input("{}:{}: column \"{}\": expected a number, got \"{}\"", path_, line(row),
                    header_.at(static_cast<size_t>(col)), s);
  return v;
}

}  // namespace convergy::model
