// The study's tables, built once from StudyResults: the CSV files, the "tables" member of results.json
// and the HTML tables are all written from these cells, so they cannot disagree.
#pragma once
#include "report/study_results.h"

#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace convergy::report {

enum class CellFormat { Text, Percent, Quantity, Integer };

struct Column {
  std::string key;    // CSV header and JSON member name, with its unit where it has one
  std::string title;  // heading on the page
  CellFormat format = CellFormat::Text;
};

// A text cell holds `text`; a number cell holds its canonical value (see format.h), or nothing when the
// value was not measured or does not apply.
struct Cell {
  std::string text;
  std::optional<double> number;
};

struct Table {
  std::string id;  // file stem: tables/<id>.csv, results.json "tables".<id>
  std::string title;
  std::vector<Column> columns;
  std::vector<std::vector<Cell>> rows;

  // Index of the column `key`; throws Failure if there is none (a programming error in a caller).
  size_t column(std::string_view key) const;
};

// Whole-network (or whole-item) metrics of one model over its held-out items.
struct ModelSummary {
  std::string combination, evaluation, feature_set, item_kind;
  int items = 0;                  // every held-out item
  int plotted = 0;                // of them, listed in `predictions` (an even sample where fewer)
  double accuracy = 0;            // 1 - mean(|p - m| / m), over all items
  double rmspe = 0;               // sqrt(mean(((p - m) / m)^2))
  double within_10pct = 0;        // share of items with |p - m| / m <= 0.1
  std::optional<int> complexity;  // sum over the layer types of the sub-models' complexity
};
std::vector<ModelSummary> summarise_models(const StudyResults& results);

// Tables, in this order: combinations, models, layer_types, predictions, breakdown, transfer.
std::vector<Table> build_tables(const StudyResults& results);
const Table& find_table(const std::vector<Table>& tables, std::string_view id);

// Rows of the `models` table that the summary quotes: the headline feature set, one combination after
// another, under the headline evaluation where the combination has it, else under its first evaluation
// (e.g. a board with only a fixed split).
std::vector<size_t> headline_model_rows(const StudyResults& results, const Table& models);

std::string table_csv(const Table& table);
// {"title": ..., "columns": [{"key","title","format"}], "rows": [{key: value|null}]}
nlohmann::json table_json(const Table& table);

}  // namespace convergy::report
