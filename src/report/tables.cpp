// Builds the study's tables from StudyResults and writes them as CSV and JSON (see tables.h).
#include "report/tables.h"

#include "report/format.h"
#include "util/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

namespace convergy::report {

size_t Table::column(std::string_view key) const {
  for (size_t k = 0; k < columns.size(); ++k)
    if (columns[k].key == key) return k;
  throw_failure("table {}: no column \"{}\"", id, key);
}

const Table& find_table(const std::vector<Table>& tables, std::string_view id) {
  for (const auto& t : tables)
    if (t.id == id) return t;
  throw_failure("no table \"{}\"", id);
}

namespace {

Cell text(std::string s) { return {std::move(s), std::nullopt}; }
Cell number(std::optional<double> v) { return {"", v ? std::optional<double>(canonical(*v)) : std::nullopt}; }

// Relative error of one prediction; measured > 0 is checked by validate().
double relative_error(double measured, double predicted) { return (predicted - measured) / measured; }

}  // namespace

std::vector<ModelSummary> summarise_models(const StudyResults& r) {
  // Keyed in first-appearance order so tables follow the order the study wrote its rows in.
  using Key = std::tuple<std::string, std::string, std::string, std::string>;
  std::vector<Key> order;
  std::map<Key, std::vector<std::pair<double, double>>> listed;
  for (const auto& p : r.predictions) {
    Key key{p.combination, p.evaluation, p.feature_set, p.item_kind};
    auto [it, added] = listed.try_emplace(key);
    if (added) order.push_back(key);
    it->second.emplace_back(p.measured, p.predicted);
  }
  // A model whose predictions are a sample has its metrics over every held-out item in `held_out`.
  std::map<Key, const HeldOutSummary*> given;
  for (const auto& h : r.held_out) {
    Key key{h.combination, h.evaluation, h.feature_set, h.item_kind};
    if (given.emplace(key, &h).second && !listed.count(key)) order.push_back(key);
  }
  std::vector<ModelSummary> out;
  for (const auto& key : order) {
    auto l = listed.find(key);
    auto g = given.find(key);
    const HeldOutSummary h = g != given.end() ? *g->second : summarise_held_out(l->second);
    ModelSummary s{std::get<0>(key), std::get<1>(key), std::get<2>(key), std::get<3>(key)};
    s.items = h.items;
    s.plotted = l != listed.end() ? static_cast<int>(l->second.size()) : 0;
    s.accuracy = h.accuracy;
    s.rmspe = h.rmspe;
    s.within_10pct = h.within_10pct;
    // A network's model is its layer-type sub-models together, plus the terms shared by every layer (layer
    // type "net", which also holds per-network constants). Complexity is missing if a layer type has no count
    // and no shared terms cost it.
    int total = 0;
    bool any = false, complete = true, shared = false;
    for (const auto& t : r.layer_types) {
      if (t.combination != s.combination || t.evaluation != s.evaluation || t.feature_set != s.feature_set)
        continue;
      any = true;
      if (t.complexity)
        total += *t.complexity;
      else
        complete = false;
      shared = shared || (t.layer_type == "net" && t.complexity && *t.complexity > 0);
    }
    if (any && (complete || shared)) s.complexity = total;
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<Table> build_tables(const StudyResults& r) {
  std::vector<Table> tables;
  auto unit_of = [&](const std::string& combination) {
    const Combination* c = r.find_combination(combination);
    return c ? target_unit(c->target) : std::string();
  };

  Table& combos = tables.emplace_back();
  combos.id = "combinations";
  combos.title = "Hardware-software combinations";
  combos.columns = {{"id", "id"},
                    {"label", "combination"},
                    {"hardware", "hardware"},
                    {"software", "software"},
                    {"origin", "origin"},
                    {"target", "target"},
                    {"granularity", "measured per"}};
  for (const auto& c : r.combinations)
    combos.rows.push_back({text(c.id), text(c.label), text(c.hardware), text(c.software), text(c.origin),
                           text(c.target), text(c.granularity)});

  Table& models = tables.emplace_back();
  models.id = "models";
  models.title = "Whole-item accuracy of each model on held-out data";
  models.columns = {{"combination", "combination"},
                    {"evaluation", "evaluation"},
                    {"feature_set", "feature set"},
                    {"item_kind", "held-out items"},
                    {"items", "count", CellFormat::Integer},
                    {"plotted", "plotted", CellFormat::Integer},
                    {"accuracy", "accuracy", CellFormat::Percent},
                    {"rmspe", "RMSPE", CellFormat::Percent},
                    {"within_10pct", "within ±10%", CellFormat::Percent},
                    {"complexity", "complexity", CellFormat::Integer}};
  for (const auto& s : summarise_models(r))
    models.rows.push_back({text(s.combination), text(s.evaluation), text(s.feature_set), text(s.item_kind),
                           number(s.items), number(s.plotted), number(s.accuracy), number(s.rmspe),
                           number(s.within_10pct),
                           number(s.complexity ? std::optional<double>(*s.complexity) : std::nullopt)});

  Table& types = tables.emplace_back();
  types.id = "layer_types";
  types.title = "Layer-type models: accuracy, RMSPE and complexity on held-out layers";
  types.columns = {{"combination", "combination"},
                   {"evaluation", "evaluation"},
                   {"feature_set", "feature set"},
                   {"layer_type", "layer type"},
                   {"accuracy", "accuracy", CellFormat::Percent},
                   {"rmspe", "RMSPE", CellFormat::Percent},
                   {"complexity", "complexity", CellFormat::Integer},
                   {"test_count", "held-out layers", CellFormat::Integer}};
  for (const auto& t : r.layer_types)
    types.rows.push_back({text(t.combination), text(t.evaluation), text(t.feature_set), text(t.layer_type),
                          number(t.accuracy), number(t.rmspe),
                          number(t.complexity ? std::optional<double>(*t.complexity) : std::nullopt),
                          number(t.test_count)});

  Table& preds = tables.emplace_back();
  preds.id = "predictions";
  preds.title = "Held-out predictions";
  preds.columns = {{"combination", "combination"},
                   {"evaluation", "evaluation"},
                   {"feature_set", "feature set"},
                   {"item", "item"},
                   {"item_kind", "kind"},
                   {"unit", "unit"},
                   {"measured", "measured", CellFormat::Quantity},
                   {"predicted", "predicted", CellFormat::Quantity},
                   {"error", "error", CellFormat::Percent},
                   {"accuracy", "accuracy", CellFormat::Percent}};
  for (const auto& p : r.predictions) {
    const double e = relative_error(p.measured, p.predicted);
    preds.rows.push_back({text(p.combination), text(p.evaluation), text(p.feature_set), text(p.item),
                          text(p.item_kind), text(unit_of(p.combination)), number(p.measured),
                          number(p.predicted), number(e), number(1.0 - std::fabs(e))});
  }

  Table& parts = tables.emplace_back();
  parts.id = "breakdown";
  parts.title = "Per-layer-type breakdown of each network";
  parts.columns = {{"combination", "combination"},
                   {"network", "network"},
                   {"feature_set", "feature set"},
                   {"layer_type", "layer type"},
                   {"unit", "unit"},
                   {"measured", "measured", CellFormat::Quantity},
                   {"predicted", "predicted", CellFormat::Quantity}};
  for (const auto& b : r.breakdowns)
    for (const auto& s : b.parts)
      parts.rows.push_back({text(b.combination), text(b.network), text(b.feature_set), text(s.layer_type),
                            text(unit_of(b.combination)), number(s.measured), number(s.predicted)});

  Table& transfer = tables.emplace_back();
  transfer.id = "transfer";
  transfer.title = "Transfer: models fitted on one kind of network predicting another";
  transfer.columns = {
      {"combination", "combination"},
      {"transfer", "transfer"},
      {"trained_on", "trained on"},
      {"held_out", "held out"},
      {"feature_set", "feature set"},
      {"train_items", "trained on (count)", CellFormat::Integer},
      {"test_items", "held out (count)", CellFormat::Integer},
      {"accuracy", "accuracy", CellFormat::Percent},
      {"mape", "MAPE", CellFormat::Percent},
      {"within_10pct", "within ±10%", CellFormat::Percent},
      {"interval_coverage", "interval coverage", CellFormat::Percent},
      {"interval_level", "interval level", CellFormat::Percent},
      {"interval_unbounded", "intervals unbounded (count)", CellFormat::Integer},
      {"interval_median_width", "median interval width (upper / lower)", CellFormat::Quantity},
      {"anchor_drift", "machine drift (the probe, held-out campaign over training)", CellFormat::Percent},
      {"drift_corrected_accuracy", "accuracy, drift corrected", CellFormat::Percent},
      {"drift_corrected_coverage", "interval coverage, drift corrected", CellFormat::Percent},
      {"reference_evaluation", "ordinary evaluation"},
      {"reference_accuracy", "its accuracy", CellFormat::Percent}};
  for (const auto& t : r.transfer)
    transfer.rows.push_back(
        {text(t.combination), text(t.transfer), text(t.trained_on), text(t.held_out), text(t.feature_set),
         number(t.train_items), number(t.test_items), number(t.accuracy), number(1.0 - t.accuracy),
         number(t.within_10pct), number(t.interval_coverage), number(t.interval_level),
         number(t.interval_unbounded), number(t.interval_median_width), number(t.anchor_drift),
         number(t.drift_corrected_accuracy), number(t.drift_corrected_coverage), text(t.reference_evaluation),
         number(t.reference_accuracy)});

  Table& learning = tables.emplace_back();
  learning.id = "learning_curve";
  learning.title = "Learning curve: how many measured networks a model for a new device needs";
  learning.columns = {
      {"combination", "combination"},
      {"feature_set", "feature set"},
      {"unit", "unit"},
      {"train_items", "trained on (count, drawn at random)", CellFormat::Integer},
      {"test_items", "predicted (count per draw)", CellFormat::Integer},
      {"draws", "draws", CellFormat::Integer},
      {"accuracy", "accuracy", CellFormat::Percent},
      {"accuracy_min", "worst draw", CellFormat::Percent},
      {"accuracy_max", "best draw", CellFormat::Percent},
      {"within_10pct", "within ±10%", CellFormat::Percent},
      {"interval_coverage", "interval coverage", CellFormat::Percent},
      {"interval_level", "interval level", CellFormat::Percent},
      {"interval_median_width", "median interval width (upper / lower)", CellFormat::Quantity},
      {"interval_unbounded", "intervals unbounded (count, all draws)", CellFormat::Integer}};
  for (const auto& l : r.learning)
    learning.rows.push_back({text(l.combination), text(l.feature_set), text(l.unit), number(l.train_items),
                             number(l.test_items), number(l.draws), number(l.accuracy),
                             number(l.accuracy_min), number(l.accuracy_max), number(l.within_10pct),
                             number(l.interval_coverage), number(l.interval_level),
                             number(l.interval_median_width), number(l.interval_unbounded)});
  return tables;
}

std::vector<size_t> headline_model_rows(const StudyResults& r, const Table& models) {
  const size_t combination = models.column("combination"), feature_set = models.column("feature_set"),
               evaluation = models.column("evaluation");
  std::vector<size_t> rows;
  for (const auto& c : r.combinations) {
    std::vector<size_t> mine;
    for (size_t k = 0; k < models.rows.size(); ++k)
      if (models.rows[k][combination].text == c.id &&
          models.rows[k][feature_set].text == r.info.headline_feature_set)
        mine.push_back(k);
    if (mine.empty()) continue;
    std::string eval = models.rows[mine.front()][evaluation].text;
    for (size_t k : mine)
      if (models.rows[k][evaluation].text == r.info.headline_evaluation) eval = r.info.headline_evaluation;
    for (size_t k : mine)
      if (models.rows[k][evaluation].text == eval) rows.push_back(k);
  }
  return rows;
}

namespace {

// RFC 4180 quoting, only where a field needs it, so plain tables stay in the shared data's no-quote form.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

const char* format_name(CellFormat f) {
  switch (f) {
    case CellFormat::Text:
      return "text";
    case CellFormat::Percent:
      return "fraction";
    case CellFormat::Quantity:
      return "quantity";
    case CellFormat::Integer:
      return "integer";
  }
  return "text";
}

}  // namespace

std::string table_csv(const Table& t) {
  std::string out;
  for (size_t k = 0; k < t.columns.size(); ++k) out += (k ? "," : "") + csv_field(t.columns[k].key);
  out += '\n';
  for (const auto& row : t.rows) {
    for (size_t k = 0; k < row.size(); ++k) {
      if (k) out += ',';
      const Cell& c = row[k];
      // An empty field means "not measured / not applicable", as in ../shared/data.
      if (t.columns[k].format == CellFormat::Text)
        out += csv_field(c.text);
      else if (c.number)
        out += canonical_text(*c.number);
    }
    out += '\n';
  }
  return out;
}

nlohmann::json table_json(const Table& t) {
  nlohmann::json j;
  j["title"] = t.title;
  j["columns"] = nlohmann::json::array();
  for (const auto& c : t.columns)
    j["columns"].push_back({{"key", c.key}, {"title", c.title}, {"format", format_name(c.format)}});
  j["rows"] = nlohmann::json::array();
  for (const auto& row : t.rows) {
    nlohmann::json o = nlohmann::json::object();
    for (size_t k = 0; k < row.size(); ++k) {
      const Cell& c = row[k];
      if (t.columns[k].format == CellFormat::Text)
        o[t.columns[k].key] = c.text;
      else
        o[t.columns[k].key] = c.number ? nlohmann::json(*c.number) : nlohmann::json(nullptr);
    }
    j["rows"].push_back(std::move(o));
  }
  return j;
}

}  // namespace convergy::report
