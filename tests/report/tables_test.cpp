// Tests of the study tables: metrics computed by hand on a tiny case, CSV and JSON forms, one formatting.
#include "report/tables.h"

#include "report/format.h"
#include "report_test_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>

namespace convergy::report {
namespace {

StudyResults tiny() {
  StudyResults r;
  r.info.target = "time_ms";
  r.combinations.push_back(
      {"local-openblas", "This machine, OpenBLAS", "host", "openblas", "measured", "time_ms", "per layer"});
  // Relative errors +10%, -20%, +5%.
  r.predictions.push_back({"local-openblas", "lono", "macs", "alexnet", "network", 10, 11});
  r.predictions.push_back({"local-openblas", "lono", "macs", "vgg16", "network", 100, 80});
  r.predictions.push_back({"local-openblas", "lono", "macs", "resnet18", "network", 20, 21});
  r.layer_types.push_back({"local-openblas", "lono", "macs", "conv", 0.9, 0.12, 1, 30});
  r.layer_types.push_back({"local-openblas", "lono", "macs", "fc", std::nullopt, std::nullopt, 1, 0});
  return r;
}

TEST(ReportTables, ModelSummaryMatchesHandComputedMetrics) {
  const auto models = summarise_models(tiny());
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].items, 3);
  EXPECT_NEAR(models[0].accuracy, 1 - (0.1 + 0.2 + 0.05) / 3, 1e-12);
  EXPECT_NEAR(models[0].rmspe, std::sqrt((0.01 + 0.04 + 0.0025) / 3), 1e-12);
  EXPECT_NEAR(models[0].within_10pct, 2.0 / 3, 1e-12);
  ASSERT_TRUE(models[0].complexity.has_value());
  EXPECT_EQ(*models[0].complexity, 2);  // conv 1 + fc 1
}

TEST(ReportTables, AHeldOutSummaryGivesTheMetricsOfASampledModel) {
  StudyResults r = tiny();
  // The three listed predictions are a sample of ten held-out networks whose metrics the study computed.
  HeldOutSummary h{"local-openblas", "lono", "macs", "network", 10, 0.91, 0.13, 0.7};
  r.held_out.push_back(h);
  auto models = summarise_models(r);
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].items, 10);
  EXPECT_EQ(models[0].plotted, 3);
  EXPECT_EQ(models[0].accuracy, 0.91);
  EXPECT_EQ(models[0].rmspe, 0.13);
  EXPECT_EQ(models[0].within_10pct, 0.7);
  // Without it, the listed predictions are every held-out item.
  models = summarise_models(tiny());
  EXPECT_EQ(models[0].items, 3);
  EXPECT_EQ(models[0].plotted, 3);
  // A summary with no listed predictions is still a model row.
  r = tiny();
  r.held_out.push_back({"local-openblas", "lono", "macs+1", "network", 4, 0.8, 0.25, 0.5});
  models = summarise_models(r);
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[1].feature_set, "macs+1");
  EXPECT_EQ(models[1].plotted, 0);
}

TEST(ReportTables, HeldOutSummaryOfPairsMatchesHandComputedMetrics) {
  const HeldOutSummary h = summarise_held_out({{10, 11}, {100, 80}, {20, 21}});
  EXPECT_EQ(h.items, 3);
  EXPECT_NEAR(h.accuracy, 1 - (0.1 + 0.2 + 0.05) / 3, 1e-12);
  EXPECT_NEAR(h.rmspe, std::sqrt((0.01 + 0.04 + 0.0025) / 3), 1e-12);
  EXPECT_NEAR(h.within_10pct, 2.0 / 3, 1e-12);
}

TEST(ReportTables, ComplexityIsMissingWhenAPartsComplexityIs) {
  StudyResults r = tiny();
  r.layer_types[1].complexity.reset();
  EXPECT_FALSE(summarise_models(r)[0].complexity.has_value());
}

TEST(ReportTables, SharedTermsCountTowardsTheModelAndCoverLayerTypesWithoutTermsOfTheirOwn) {
  // The transfer set: every layer costed by terms shared by all layers ("net"), no layer type with its own.
  StudyResults r = tiny();
  for (auto& t : r.layer_types) {
    t.feature_set = "transfer";
    t.complexity.reset();
  }
  for (auto& p : r.predictions) p.feature_set = "transfer";
  EXPECT_FALSE(summarise_models(r)[0].complexity.has_value());  // nothing costs the layer types
  r.layer_types.push_back({"local-openblas", "lono", "transfer", "net", std::nullopt, std::nullopt, 7, 0});
  auto models = summarise_models(r);
  ASSERT_EQ(models.size(), 1u);
  ASSERT_TRUE(models[0].complexity.has_value());
  EXPECT_EQ(*models[0].complexity, 7);
  // Own terms and shared ones add up.
  r.layer_types[0].complexity = 2;
  EXPECT_EQ(summarise_models(r)[0].complexity, 9);
  // Shared terms that all came out 0 cost nothing: the layer types without terms are then unmodelled.
  r.layer_types.back().complexity = 0;
  EXPECT_FALSE(summarise_models(r)[0].complexity.has_value());
}

TEST(ReportTables, LayerTypeCsvIsGoldenWithEmptyFieldsForMissingValues) {
  const auto tables = build_tables(tiny());
  EXPECT_EQ(table_csv(find_table(tables, "layer_types")),
            "combination,evaluation,feature_set,layer_type,accuracy,rmspe,complexity,test_count\n"
            "local-openblas,lono,macs,conv,0.9,0.12,1,30\n"
            "local-openblas,lono,macs,fc,,,1,0\n");
}

TEST(ReportTables, CsvQuotesOnlyFieldsThatNeedIt) {
  const auto tables = build_tables(tiny());
  EXPECT_THAT(table_csv(find_table(tables, "combinations")),
              ::testing::HasSubstr("local-openblas,\"This machine, OpenBLAS\",host,"));
}

TEST(ReportTables, PredictionRowsCarryCanonicalErrorAndAccuracy) {
  const auto tables = build_tables(tiny());
  const Table& p = find_table(tables, "predictions");
  ASSERT_EQ(p.rows.size(), 3u);
  EXPECT_EQ(*p.rows[1][p.column("error")].number, canonical(-0.2));
  EXPECT_EQ(*p.rows[1][p.column("accuracy")].number, canonical(0.8));
  EXPECT_EQ(p.rows[1][p.column("unit")].text, "ms");
}

TEST(ReportTables, JsonRowsHoldTheSameNumbersAsTheCsv) {
  const auto tables = build_tables(testing::synthetic_study());
  for (const auto& t : tables) {
    const nlohmann::json j = table_json(t);
    ASSERT_EQ(j["rows"].size(), t.rows.size()) << t.id;
    for (size_t r = 0; r < t.rows.size(); ++r)
      for (size_t c = 0; c < t.columns.size(); ++c) {
        const nlohmann::json& v = j["rows"][r][t.columns[c].key];
        if (t.columns[c].format == CellFormat::Text) continue;
        if (!t.rows[r][c].number) {
          EXPECT_TRUE(v.is_null());
          continue;
        }
        // The JSON number and the CSV text are the same double.
        EXPECT_EQ(v.get<double>(), std::stod(canonical_text(*t.rows[r][c].number))) << t.id << " " << r;
      }
  }
}

TEST(ReportFormat, CanonicalKeepsSixSignificantDigits) {
  EXPECT_EQ(canonical_text(0.123456789), "0.123457");
  EXPECT_EQ(canonical(0.123456789), 0.123457);
  EXPECT_EQ(canonical_text(1234567.0), "1.23457e+06");
  EXPECT_EQ(canonical_text(-0.0), "0");
  EXPECT_EQ(display_percent(0.87349), "87.3%");
  EXPECT_EQ(display_quantity(1234.6), "1235");
  EXPECT_EQ(display_quantity(0.01234), "0.0123");
  EXPECT_EQ(display_quantity(12.345), "12.3");
}

}  // namespace
}  // namespace convergy::report
