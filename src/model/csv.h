// A small reader for the measurement CSV files that models are fitted from: a header row, comma
// separators, no quoting (the format of ../shared/data), with errors that name file, line and column.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace convergy::model {

class CsvTable {
 public:
  // Parses `text`; `path` is used in messages. Throws BadInput on a row whose field count differs from
  // the header's, on an empty or duplicate header name, or on a quoted field (quoting is not supported).
  static CsvTable parse(std::string_view text, std::string path);
  static CsvTable read_file(const std::string& path);

  const std::string& path() const { return path_; }
  // FNV-1a 64-bit digest of the file's bytes, 16 hex digits: identifies the training data in model files.
  const std::string& digest() const { return digest_; }
  const std::vector<std::string>& header() const { return header_; }
  size_t rows() const { return rows_.size(); }
  bool has_column(std::string_view name) const { return column_index(name) >= 0; }
  int column_index(std::string_view name) const;
  // Index of a column that must exist; throws BadInput `file: no column "x" (columns: a, b, c)`.
  int require_column(std::string_view name) const;

  const std::string& text(size_t row, int col) const { return rows_.at(row).at(static_cast<size_t>(col)); }
  int line(size_t row) const { return lines_.at(row); }  // 1-based line in the file

  // The rows whose `column` equals `value` (for `--where rail=cpu`), or, with `equal` false, differs from it
  // (`--where family!=dws`); throws BadInput if the column is absent.
  CsvTable where(std::string_view column, std::string_view value, bool equal = true) const;

  // The field as a finite number; throws BadInput `file:line: column "x": expected a number, got "abc"`.
  double number(size_t row, int col) const;
  // Like number(), but an empty field (not measured / not applicable) is nullopt.
  std::optional<double> optional_number(size_t row, int col) const;

 private:
  std::string path_;
  std::string digest_;
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<int> lines_;
};

// FNV-1a 64-bit hash of `bytes` as 16 lowercase hex digits.
std::string fnv1a_hex(std::string_view bytes);

}  // namespace convergy::model
