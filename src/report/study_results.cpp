// JSON form of StudyResults and its validation. Missing values are JSON null, never 0.
#include "report/study_results.h"

#include "util/error.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

namespace convergy::report {

using nlohmann::json;

const Combination* StudyResults::find_combination(const std::string& id) const {
  for (const auto& c : combinations)
    if (c.id == id) return &c;
  return nullptr;
}

std::string target_unit(const std::string& target) {
  if (target == "time_ms") return "ms";
  if (target == "energy_mj") return "mJ";
  return "";
}

std::string target_quantity(const std::string& target) {
  if (target == "time_ms") return "time";
  if (target == "energy_mj") return "energy";
  return target;
}

std::string evaluation_label(const std::string& evaluation) {
  if (evaluation == "lono") return "leave-one-network-out";
  if (evaluation == "split") return "fixed split";
  return evaluation;
}

HeldOutSummary summarise_held_out(const std::vector<std::pair<double, double>>& measured_predicted) {
  HeldOutSummary s;
  s.items = static_cast<int>(measured_predicted.size());
  if (measured_predicted.empty()) return s;
  double abs_sum = 0, sq_sum = 0;
  int within = 0;
  for (const auto& [m, p] : measured_predicted) {
    const double e = (p - m) / m;
    abs_sum += std::fabs(e);
    sq_sum += e * e;
    within += std::fabs(e) <= 0.1 ? 1 : 0;
  }
  const double n = static_cast<double>(measured_predicted.size());
  s.accuracy = 1.0 - abs_sum / n;
  s.rmspe = std::sqrt(sq_sum / n);
  s.within_10pct = within / n;
  return s;
}

namespace {

json optional_number(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }
json optional_int(const std::optional<int>& v) { return v ? json(*v) : json(nullptr); }
json optional_int64(const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); }

// Reading: every accessor names the JSON path it was at, so a hand-edited file fails clearly.
class Reader {
 public:
  explicit Reader(std::string where) : where_(std::move(where)) {}

  [[noreturn]] void fail(const std::string& path, const std::string& expected, const json& got) const {
    std::string text = got.dump();
    if (text.size() > 40) text = text.substr(0, 37) + "...";
    throw_bad_input("{}: {}: expected {}, got {}", where_, path, expected, text);
  }

  const json& member(const json& object, const std::string& path, const char* key) const {
    if (!object.is_object()) fail(path, "an object", object);
    auto it = object.find(key);
    if (it == object.end()) throw_bad_input("{}: {}: missing member \"{}\"", where_, path, key);
    return *it;
  }
  std::string string(const json& object, const std::string& path, const char* key) const {
    const json& v = member(object, path, key);
    if (!v.is_string()) fail(path + "." + key, "a string", v);
    return v.get<std::string>();
  }
  std::string string_or(const json& object, const std::string& path, const char* key,
                        std::string fallback) const {
    if (!object.contains(key)) return fallback;
    return string(object, path, key);
  }
  double number(const json& object, const std::string& path, const char* key) const {
    const json& v = member(object, path, key);
    if (!v.is_number()) fail(path + "." + key, "a number", v);
    return v.get<double>();
  }
  std::optional<double> optional_number(const json& object, const std::string& path, const char* key) const {
    if (!object.contains(key) || object.at(key).is_null()) return std::nullopt;
    return number(object, path, key);
  }
  int integer(const json& object, const std::string& path, const char* key) const {
    const json& v = member(object, path, key);
    if (!v.is_number_integer()) fail(path + "." + key, "an integer", v);
    return v.get<int>();
  }
  std::optional<int> optional_integer(const json& object, const std::string& path, const char* key) const {
    if (!object.contains(key) || object.at(key).is_null()) return std::nullopt;
    return integer(object, path, key);
  }
  std::optional<int64_t> optional_int64(const json& object, const std::string& path, const char* key) const {
    if (!object.contains(key) || object.at(key).is_null()) return std::nullopt;
    const json& v = object.at(key);
    if (!v.is_number_integer()) fail(path + "." + key, "an integer", v);
    return v.get<int64_t>();
  }
  bool boolean(const json& object, const std::string& path, const char* key) const {
    const json& v = member(object, path, key);
    if (!v.is_boolean()) fail(path + "." + key, "true or false", v);
    return v.get<bool>();
  }
  const json& array(const json& object, const std::string& path, const char* key) const {
    const json& v = member(object, path, key);
    if (!v.is_array()) fail(path + "." + key, "an array", v);
    return v;
  }

 private:
  std::string where_;
};

}  // namespace

json to_json(const StudyResults& r) {
  const StudyInfo& i = r.info;
  json j;
  j["format_version"] = kStudyResultsFormatVersion;
  j["info"] = {
      {"convergy_version", i.convergy_version},
      {"created_utc", i.created_utc},
      {"quick", i.quick},
      {"machine",
       {{"hostname", i.machine.hostname},
        {"cpu", i.machine.cpu},
        {"cores", i.machine.cores},
        {"os", i.machine.os},
        {"compiler", i.machine.compiler},
        {"build_type", i.machine.build_type}}},
      {"backends", i.backends},
      {"threads", i.threads},
      {"sensor", i.sensor},
      {"target", i.target},
      {"target_reason", i.target_reason},
      {"wall_time_s", optional_number(i.wall_time_s)},
      {"measured_rows", optional_int64(i.measured_rows)},
      {"reused_rows", optional_int64(i.reused_rows)},
      {"headline_feature_set", i.headline_feature_set},
      {"headline_evaluation", i.headline_evaluation},
      {"notes", i.notes},
  };
  json& combos = j["combinations"] = json::array();
  for (const auto& c : r.combinations)
    combos.push_back({{"id", c.id},
                      {"label", c.label},
                      {"hardware", c.hardware},
                      {"software", c.software},
                      {"origin", c.origin},
                      {"target", c.target},
                      {"granularity", c.granularity}});
  json& types = j["layer_types"] = json::array();
  for (const auto& t : r.layer_types)
    types.push_back({{"combination", t.combination},
                     {"evaluation", t.evaluation},
                     {"feature_set", t.feature_set},
                     {"layer_type", t.layer_type},
                     {"accuracy", optional_number(t.accuracy)},
                     {"rmspe", optional_number(t.rmspe)},
                     {"complexity", optional_int(t.complexity)},
                     {"test_count", t.test_count}});
  json& preds = j["predictions"] = json::array();
  for (const auto& p : r.predictions)
    preds.push_back({{"combination", p.combination},
                     {"evaluation", p.evaluation},
                     {"feature_set", p.feature_set},
                     {"item", p.item},
                     {"item_kind", p.item_kind},
                     {"measured", p.measured},
                     {"predicted", p.predicted}});
  json& held = j["held_out"] = json::array();
  for (const auto& h : r.held_out)
    held.push_back({{"combination", h.combination},
                    {"evaluation", h.evaluation},
                    {"feature_set", h.feature_set},
                    {"item_kind", h.item_kind},
                    {"items", h.items},
                    {"accuracy", h.accuracy},
                    {"rmspe", h.rmspe},
                    {"within_10pct", h.within_10pct}});
  json& breakdowns = j["breakdowns"] = json::array();
  for (const auto& b : r.breakdowns) {
    json parts = json::array();
    for (const auto& s : b.parts)
      parts.push_back({{"layer_type", s.layer_type},
                       {"measured", optional_number(s.measured)},
                       {"predicted", optional_number(s.predicted)}});
    breakdowns.push_back({{"combination", b.combination},
                          {"network", b.network},
                          {"feature_set", b.feature_set},
                          {"parts", parts}});
  }
  json& transfer = j["transfer"] = json::array();
  for (const auto& t : r.transfer)
    transfer.push_back({{"combination", t.combination},
                        {"transfer", t.transfer},
                        {"trained_on", t.trained_on},
                        {"held_out", t.held_out},
                        {"feature_set", t.feature_set},
                        {"train_items", t.train_items},
                        {"test_items", t.test_items},
                        {"accuracy", t.accuracy},
                        {"within_10pct", t.within_10pct},
                        {"interval_coverage", optional_number(t.interval_coverage)},
                        {"interval_level", optional_number(t.interval_level)},
                        {"interval_unbounded", optional_int(t.interval_unbounded)},
                        {"interval_median_width", optional_number(t.interval_median_width)},
                        {"anchor_drift", optional_number(t.anchor_drift)},
                        {"drift_corrected_accuracy", optional_number(t.drift_corrected_accuracy)},
                        {"drift_corrected_coverage", optional_number(t.drift_corrected_coverage)},
                        {"reference_evaluation", t.reference_evaluation},
                        {"reference_accuracy", optional_number(t.reference_accuracy)}});
  json& learning = j["learning_curve"] = json::array();
  for (const auto& l : r.learning)
    learning.push_back({{"combination", l.combination},
                        {"feature_set", l.feature_set},
                        {"unit", l.unit},
                        {"train_items", l.train_items},
                        {"test_items", l.test_items},
                        {"draws", l.draws},
                        {"accuracy", l.accuracy},
                        {"accuracy_min", l.accuracy_min},
                        {"accuracy_max", l.accuracy_max},
                        {"within_10pct", l.within_10pct},
                        {"interval_coverage", optional_number(l.interval_coverage)},
                        {"interval_level", optional_number(l.interval_level)},
                        {"interval_median_width", optional_number(l.interval_median_width)},
                        {"interval_unbounded", optional_int(l.interval_unbounded)}});
  return j;
}

StudyResults study_results_from_json(const json& j, const std::string& where) {
  Reader rd(where);
  if (!j.is_object()) rd.fail("$", "an object", j);
  const int version = rd.integer(j, "$", "format_version");
  if (version != kStudyResultsFormatVersion)
    throw_bad_input("{}: $.format_version: got {}, expected {} (written by another convergy version)", where,
                    version, kStudyResultsFormatVersion);
  StudyResults r;
  const json& ji = rd.member(j, "$", "info");
  StudyInfo& i = r.info;
  i.convergy_version = rd.string(ji, "$.info", "convergy_version");
  i.created_utc = rd.string(ji, "$.info", "created_utc");
  i.quick = rd.boolean(ji, "$.info", "quick");
  const json& jm = rd.member(ji, "$.info", "machine");
  i.machine.hostname = rd.string(jm, "$.info.machine", "hostname");
  i.machine.cpu = rd.string(jm, "$.info.machine", "cpu");
  i.machine.cores = rd.integer(jm, "$.info.machine", "cores");
  i.machine.os = rd.string(jm, "$.info.machine", "os");
  i.machine.compiler = rd.string(jm, "$.info.machine", "compiler");
  i.machine.build_type = rd.string(jm, "$.info.machine", "build_type");
  const json& jb = rd.array(ji, "$.info", "backends");
  for (size_t k = 0; k < jb.size(); ++k) {
    if (!jb[k].is_string()) rd.fail(fmt::format("$.info.backends[{}]", k), "a string", jb[k]);
    i.backends.push_back(jb[k].get<std::string>());
  }
  i.threads = rd.integer(ji, "$.info", "threads");
  i.sensor = rd.string(ji, "$.info", "sensor");
  i.target = rd.string(ji, "$.info", "target");
  i.target_reason = rd.string(ji, "$.info", "target_reason");
  i.wall_time_s = rd.optional_number(ji, "$.info", "wall_time_s");
  i.measured_rows = rd.optional_int64(ji, "$.info", "measured_rows");
  i.reused_rows = rd.optional_int64(ji, "$.info", "reused_rows");
  i.headline_feature_set = rd.string_or(ji, "$.info", "headline_feature_set", i.headline_feature_set);
  i.headline_evaluation = rd.string_or(ji, "$.info", "headline_evaluation", i.headline_evaluation);
  if (ji.contains("notes")) {
    const json& jn = rd.array(ji, "$.info", "notes");
    for (size_t k = 0; k < jn.size(); ++k) {
      if (!jn[k].is_string()) rd.fail(fmt::format("$.info.notes[{}]", k), "a string", jn[k]);
      i.notes.push_back(jn[k].get<std::string>());
    }
  }

  const json& jc = rd.array(j, "$", "combinations");
  for (size_t k = 0; k < jc.size(); ++k) {
    const std::string p = fmt::format("$.combinations[{}]", k);
    r.combinations.push_back({rd.string(jc[k], p, "id"), rd.string(jc[k], p, "label"),
                              rd.string(jc[k], p, "hardware"), rd.string(jc[k], p, "software"),
                              rd.string(jc[k], p, "origin"), rd.string(jc[k], p, "target"),
                              rd.string(jc[k], p, "granularity")});
  }
  const json& jt = rd.array(j, "$", "layer_types");
  for (size_t k = 0; k < jt.size(); ++k) {
    const std::string p = fmt::format("$.layer_types[{}]", k);
    LayerTypeResult t;
    t.combination = rd.string(jt[k], p, "combination");
    t.evaluation = rd.string(jt[k], p, "evaluation");
    t.feature_set = rd.string(jt[k], p, "feature_set");
    t.layer_type = rd.string(jt[k], p, "layer_type");
    t.accuracy = rd.optional_number(jt[k], p, "accuracy");
    t.rmspe = rd.optional_number(jt[k], p, "rmspe");
    t.complexity = rd.optional_integer(jt[k], p, "complexity");
    t.test_count = rd.integer(jt[k], p, "test_count");
    r.layer_types.push_back(std::move(t));
  }
  const json& jp = rd.array(j, "$", "predictions");
  for (size_t k = 0; k < jp.size(); ++k) {
    const std::string p = fmt::format("$.predictions[{}]", k);
    r.predictions.push_back({rd.string(jp[k], p, "combination"), rd.string(jp[k], p, "evaluation"),
                             rd.string(jp[k], p, "feature_set"), rd.string(jp[k], p, "item"),
                             rd.string(jp[k], p, "item_kind"), rd.number(jp[k], p, "measured"),
                             rd.number(jp[k], p, "predicted")});
  }
  if (j.contains("held_out")) {  // absent in files of models that all kept every prediction
    const json& jh = rd.array(j, "$", "held_out");
    for (size_t k = 0; k < jh.size(); ++k) {
      const std::string p = fmt::format("$.held_out[{}]", k);
      HeldOutSummary h;
      h.combination = rd.string(jh[k], p, "combination");
      h.evaluation = rd.string(jh[k], p, "evaluation");
      h.feature_set = rd.string(jh[k], p, "feature_set");
      h.item_kind = rd.string(jh[k], p, "item_kind");
      h.items = rd.integer(jh[k], p, "items");
      h.accuracy = rd.number(jh[k], p, "accuracy");
      h.rmspe = rd.number(jh[k], p, "rmspe");
      h.within_10pct = rd.number(jh[k], p, "within_10pct");
      r.held_out.push_back(std::move(h));
    }
  }
  const json& jd = rd.array(j, "$", "breakdowns");
  for (size_t k = 0; k < jd.size(); ++k) {
    const std::string p = fmt::format("$.breakdowns[{}]", k);
    Breakdown b;
    b.combination = rd.string(jd[k], p, "combination");
    b.network = rd.string(jd[k], p, "network");
    b.feature_set = rd.string(jd[k], p, "feature_set");
    const json& parts = rd.array(jd[k], p, "parts");
    for (size_t m = 0; m < parts.size(); ++m) {
      const std::string pp = fmt::format("{}.parts[{}]", p, m);
      b.parts.push_back({rd.string(parts[m], pp, "layer_type"), rd.optional_number(parts[m], pp, "measured"),
                         rd.optional_number(parts[m], pp, "predicted")});
    }
    r.breakdowns.push_back(std::move(b));
  }
  if (j.contains("transfer")) {  // absent in files written before transfer evaluations
    const json& jx = rd.array(j, "$", "transfer");
    for (size_t k = 0; k < jx.size(); ++k) {
      const std::string p = fmt::format("$.transfer[{}]", k);
      TransferResult t;
      t.combination = rd.string(jx[k], p, "combination");
      t.transfer = rd.string(jx[k], p, "transfer");
      t.trained_on = rd.string(jx[k], p, "trained_on");
      t.held_out = rd.string(jx[k], p, "held_out");
      t.feature_set = rd.string(jx[k], p, "feature_set");
      t.train_items = rd.integer(jx[k], p, "train_items");
      t.test_items = rd.integer(jx[k], p, "test_items");
      t.accuracy = rd.number(jx[k], p, "accuracy");
      t.within_10pct = rd.number(jx[k], p, "within_10pct");
      t.interval_coverage = rd.optional_number(jx[k], p, "interval_coverage");
      t.interval_level = rd.optional_number(jx[k], p, "interval_level");
      t.interval_unbounded = rd.optional_integer(jx[k], p, "interval_unbounded");
      t.interval_median_width = rd.optional_number(jx[k], p, "interval_median_width");
      if (jx[k].contains("anchor_drift"))  // absent before 2026-12-07
        t.anchor_drift = rd.optional_number(jx[k], p, "anchor_drift");
      if (jx[k].contains("drift_corrected_accuracy")) {  // absent before the drift correction
        t.drift_corrected_accuracy = rd.optional_number(jx[k], p, "drift_corrected_accuracy");
        t.drift_corrected_coverage = rd.optional_number(jx[k], p, "drift_corrected_coverage");
      }
      t.reference_evaluation = rd.string(jx[k], p, "reference_evaluation");
      t.reference_accuracy = rd.optional_number(jx[k], p, "reference_accuracy");
      r.transfer.push_back(std::move(t));
    }
  }
  if (j.contains("learning_curve")) {  // absent in files written before 2026-12-07
    const json& jl = rd.array(j, "$", "learning_curve");
    for (size_t k = 0; k < jl.size(); ++k) {
      const std::string p = fmt::format("$.learning_curve[{}]", k);
      LearningResult l;
      l.combination = rd.string(jl[k], p, "combination");
      l.feature_set = rd.string(jl[k], p, "feature_set");
      l.unit = rd.string(jl[k], p, "unit");
      l.train_items = rd.integer(jl[k], p, "train_items");
      l.test_items = rd.integer(jl[k], p, "test_items");
      l.draws = rd.integer(jl[k], p, "draws");
      l.accuracy = rd.number(jl[k], p, "accuracy");
      l.accuracy_min = rd.number(jl[k], p, "accuracy_min");
      l.accuracy_max = rd.number(jl[k], p, "accuracy_max");
      l.within_10pct = rd.number(jl[k], p, "within_10pct");
      l.interval_coverage = rd.optional_number(jl[k], p, "interval_coverage");
      l.interval_level = rd.optional_number(jl[k], p, "interval_level");
      l.interval_median_width = rd.optional_number(jl[k], p, "interval_median_width");
      if (jl[k].contains("interval_unbounded"))  // absent in the first files with a learning curve
        l.interval_unbounded = rd.optional_integer(jl[k], p, "interval_unbounded");
      r.learning.push_back(std::move(l));
    }
  }
  validate(r, where);
  return r;
}

StudyResults read_study_results(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw_bad_input("{}: cannot open the study results file", path);
  json j;
  try {
    j = json::parse(in);
  } catch (const json::parse_error& e) {
    throw_bad_input("{}: byte {}: expected JSON ({})", path, e.byte, e.what());
  }
  return study_results_from_json(j, path);
}

void validate(const StudyResults& r, const std::string& where) {
  std::set<std::string> ids;
  for (size_t k = 0; k < r.combinations.size(); ++k) {
    const auto& c = r.combinations[k];
    if (c.id.empty()) throw_bad_input("{}: combinations[{}]: empty id, expected a name", where, k);
    if (!ids.insert(c.id).second)
      throw_bad_input("{}: combinations[{}]: id \"{}\" repeated, expected unique ids", where, k, c.id);
    if (target_unit(c.target).empty())
      throw_bad_input("{}: combination \"{}\": target \"{}\", expected time_ms or energy_mj", where, c.id,
                      c.target);
  }
  auto known = [&](const std::string& id, const char* what, size_t k) {
    if (!ids.count(id))
      throw_bad_input("{}: {}[{}]: combination \"{}\" is not in combinations", where, what, k, id);
  };
  for (size_t k = 0; k < r.layer_types.size(); ++k) {
    const auto& t = r.layer_types[k];
    known(t.combination, "layer_types", k);
    // Accuracy is 1 - MAPE: at most 1, and below 0 for a model that is off by more than 100% on average.
    if (t.accuracy && !(std::isfinite(*t.accuracy) && *t.accuracy <= 1.0 + 1e-12))
      throw_bad_input("{}: layer_types[{}]: accuracy {}, expected a finite fraction <= 1", where, k,
                      *t.accuracy);
    if (t.rmspe && !(std::isfinite(*t.rmspe) && *t.rmspe >= 0.0))
      throw_bad_input("{}: layer_types[{}]: rmspe {}, expected a finite value >= 0", where, k, *t.rmspe);
    if (t.complexity && *t.complexity < 0)
      throw_bad_input("{}: layer_types[{}]: complexity {}, expected >= 0", where, k, *t.complexity);
  }
  for (size_t k = 0; k < r.predictions.size(); ++k) {
    const auto& p = r.predictions[k];
    known(p.combination, "predictions", k);
    if (!(std::isfinite(p.measured) && p.measured > 0))
      throw_bad_input("{}: predictions[{}] \"{}\": measured {}, expected a finite value > 0", where, k,
                      p.item, p.measured);
    if (!std::isfinite(p.predicted))
      throw_bad_input("{}: predictions[{}] \"{}\": predicted {}, expected a finite value", where, k, p.item,
                      p.predicted);
    if (p.item_kind != "network" && p.item_kind != "layer")
      throw_bad_input("{}: predictions[{}]: item_kind \"{}\", expected network or layer", where, k,
                      p.item_kind);
  }
  std::set<std::tuple<std::string, std::string, std::string, std::string>> summarised;
  for (size_t k = 0; k < r.held_out.size(); ++k) {
    const auto& h = r.held_out[k];
    known(h.combination, "held_out", k);
    if (h.item_kind != "network" && h.item_kind != "layer")
      throw_bad_input("{}: held_out[{}]: item_kind \"{}\", expected network or layer", where, k, h.item_kind);
    if (!summarised.insert({h.combination, h.evaluation, h.feature_set, h.item_kind}).second)
      throw_bad_input("{}: held_out[{}]: {} {} {} given twice, expected one summary per model", where, k,
                      h.combination, h.evaluation, h.feature_set);
    size_t sampled = 0;
    for (const auto& p : r.predictions)
      sampled += p.combination == h.combination && p.evaluation == h.evaluation &&
                 p.feature_set == h.feature_set && p.item_kind == h.item_kind;
    if (h.items < 1 || static_cast<size_t>(h.items) < sampled)
      throw_bad_input(
          "{}: held_out[{}]: items {}, expected at least 1 and at least the {} predictions of the model",
          where, k, h.items, sampled);
    if (!(std::isfinite(h.accuracy) && h.accuracy <= 1.0 + 1e-12))
      throw_bad_input("{}: held_out[{}]: accuracy {}, expected a finite fraction <= 1", where, k, h.accuracy);
    if (!(std::isfinite(h.rmspe) && h.rmspe >= 0.0))
      throw_bad_input("{}: held_out[{}]: rmspe {}, expected a finite value >= 0", where, k, h.rmspe);
    if (!(h.within_10pct >= 0.0 && h.within_10pct <= 1.0))
      throw_bad_input("{}: held_out[{}]: within_10pct {}, expected a fraction in [0, 1]", where, k,
                      h.within_10pct);
  }
  for (size_t k = 0; k < r.breakdowns.size(); ++k) {
    const auto& b = r.breakdowns[k];
    known(b.combination, "breakdowns", k);
    for (const auto& s : b.parts)
      for (const auto& v : {s.measured, s.predicted})
        if (v && !std::isfinite(*v))
          throw_bad_input("{}: breakdowns[{}] \"{}\" {}: value {}, expected a finite value", where, k,
                          b.network, s.layer_type, *v);
  }
  auto fraction = [](std::optional<double> v) { return !v || (*v >= 0.0 && *v <= 1.0); };
  for (size_t k = 0; k < r.transfer.size(); ++k) {
    const auto& t = r.transfer[k];
    known(t.combination, "transfer", k);
    if (t.train_items < 1 || t.test_items < 1)
      throw_bad_input("{}: transfer[{}]: {} training and {} test items, expected at least 1 of each", where, k,
                      t.train_items, t.test_items);
    if (!(std::isfinite(t.accuracy) && t.accuracy <= 1.0 + 1e-12))
      throw_bad_input("{}: transfer[{}]: accuracy {}, expected a finite fraction <= 1", where, k, t.accuracy);
    if (!fraction(t.within_10pct) || !fraction(t.interval_coverage) || !fraction(t.interval_level))
      throw_bad_input("{}: transfer[{}]: within_10pct, interval_coverage and interval_level, expected fractions in "
                      "[0, 1]",
                      where, k);
    if (t.interval_unbounded && (*t.interval_unbounded < 0 || *t.interval_unbounded > t.test_items))
      throw_bad_input("{}: transfer[{}]: interval_unbounded {}, expected 0 to test_items ({})", where, k,
                      *t.interval_unbounded, t.test_items);
    if (t.interval_median_width &&
        !(std::isfinite(*t.interval_median_width) && *t.interval_median_width >= 1.0))
      throw_bad_input("{}: transfer[{}]: interval_median_width {}, expected a finite ratio >= 1", where, k,
                      *t.interval_median_width);
    if (t.anchor_drift && !(std::isfinite(*t.anchor_drift) && *t.anchor_drift > -1.0))
      throw_bad_input("{}: transfer[{}]: anchor_drift {}, expected a finite ratio minus 1 (above -1)", where,
                      k, *t.anchor_drift);
    if (!t.anchor_drift && (t.drift_corrected_accuracy || t.drift_corrected_coverage))
      throw_bad_input(
          "{}: transfer[{}]: drift-corrected figures without anchor_drift, expected both or neither", where,
          k);
    if (t.drift_corrected_accuracy &&
        !(std::isfinite(*t.drift_corrected_accuracy) && *t.drift_corrected_accuracy <= 1.0 + 1e-12))
      throw_bad_input("{}: transfer[{}]: drift_corrected_accuracy {}, expected a finite fraction <= 1", where,
                      k, *t.drift_corrected_accuracy);
    if (!fraction(t.drift_corrected_coverage))
      throw_bad_input("{}: transfer[{}]: drift_corrected_coverage {}, expected a fraction in [0, 1]", where,
                      k, *t.drift_corrected_coverage);
    if (t.reference_accuracy && !(std::isfinite(*t.reference_accuracy) && *t.reference_accuracy <= 1.0 + 1e-12))
      throw_bad_input("{}: transfer[{}]: reference_accuracy {}, expected a finite fraction <= 1", where, k,
                      *t.reference_accuracy);
  }
  for (size_t k = 0; k < r.learning.size(); ++k) {
    const auto& l = r.learning[k];
    known(l.combination, "learning_curve", k);
    if (l.unit != "network" && l.unit != "row")
      throw_bad_input("{}: learning_curve[{}]: unit \"{}\", expected network or row", where, k, l.unit);
    if (l.train_items < 1 || l.test_items < 1 || l.draws < 1)
      throw_bad_input(
          "{}: learning_curve[{}]: {} training items, {} test items and {} draws, expected at least 1 of "
          "each",
          where, k, l.train_items, l.test_items, l.draws);
    const double eps = 1e-12;
    if (!(std::isfinite(l.accuracy_min) && std::isfinite(l.accuracy_max) && std::isfinite(l.accuracy) &&
          l.accuracy_min <= l.accuracy + eps && l.accuracy <= l.accuracy_max + eps &&
          l.accuracy_max <= 1.0 + eps))
      throw_bad_input(
          "{}: learning_curve[{}]: accuracy {} between draws of {} and {}, expected finite fractions "
          "<= 1 with min <= accuracy <= max",
          where, k, l.accuracy, l.accuracy_min, l.accuracy_max);
    if (!fraction(l.within_10pct) || !fraction(l.interval_coverage) || !fraction(l.interval_level))
      throw_bad_input(
          "{}: learning_curve[{}]: within_10pct, interval_coverage and interval_level, expected "
          "fractions in [0, 1]",
          where, k);
    if (l.interval_median_width &&
        !(std::isfinite(*l.interval_median_width) && *l.interval_median_width >= 1.0))
      throw_bad_input("{}: learning_curve[{}]: interval_median_width {}, expected a finite ratio >= 1", where,
                      k, *l.interval_median_width);
    const int64_t predicted = static_cast<int64_t>(l.test_items) * l.draws;
    if (l.interval_unbounded && (*l.interval_unbounded < 0 || *l.interval_unbounded > predicted))
      throw_bad_input("{}: learning_curve[{}]: interval_unbounded {}, expected 0 to test_items x draws ({})",
                      where, k, *l.interval_unbounded, predicted);
  }
}

}  // namespace convergy::report
