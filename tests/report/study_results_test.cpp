// Tests of the StudyResults JSON form: round trip, version check, clear errors, validation.
#include "report/study_results.h"

#include "report_test_util.h"
#include "util/error.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace convergy::report {
namespace {

using ::testing::HasSubstr;

std::string bad_input_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    return e.what();
  }
  ADD_FAILURE() << "no error thrown";
  return "";
}

TEST(StudyResultsJson, RoundTripsEveryField) {
  const StudyResults a = testing::synthetic_study();
  const nlohmann::json j = to_json(a);
  const StudyResults b = study_results_from_json(nlohmann::json::parse(j.dump()), "mem");
  EXPECT_EQ(to_json(b), j);
  EXPECT_EQ(b.predictions.size(), a.predictions.size());
  EXPECT_EQ(b.info.target_reason, a.info.target_reason);
  EXPECT_EQ(b.breakdowns.back().parts.front().measured, std::nullopt);
}

TEST(StudyResultsJson, MissingValuesAreNullNeverZero) {
  const nlohmann::json j = to_json(testing::synthetic_study());
  bool saw_null = false;
  for (const auto& t : j["layer_types"])
    if (t["combination"] == "nano-trt") {
      EXPECT_TRUE(t["accuracy"].is_null());
      saw_null = true;
    }
  EXPECT_TRUE(saw_null);
}

TEST(StudyResultsJson, RefusesAnotherFormatVersion) {
  nlohmann::json j = to_json(testing::synthetic_study());
  j["format_version"] = 2;
  EXPECT_THAT(bad_input_message([&] { study_results_from_json(j, "r.json"); }),
              HasSubstr("r.json: $.format_version: got 2, expected 1"));
}

TEST(StudyResultsJson, NamesThePathOfAWrongMember) {
  nlohmann::json j = to_json(testing::synthetic_study());
  j["predictions"][3]["measured"] = "fast";
  EXPECT_THAT(bad_input_message([&] { study_results_from_json(j, "r.json"); }),
              HasSubstr("r.json: $.predictions[3].measured: expected a number, got \"fast\""));
  j = to_json(testing::synthetic_study());
  j["info"].erase("target");
  EXPECT_THAT(bad_input_message([&] { study_results_from_json(j, "r.json"); }),
              HasSubstr("r.json: $.info: missing member \"target\""));
}

TEST(StudyResultsValidate, RejectsUnknownCombinationAndNonPositiveMeasurement) {
  StudyResults r = testing::synthetic_study();
  r.predictions[0].combination = "nowhere";
  EXPECT_THAT(bad_input_message([&] { validate(r, "study"); }),
              HasSubstr("predictions[0]: combination \"nowhere\" is not in combinations"));
  r = testing::synthetic_study();
  r.predictions[1].measured = 0;
  EXPECT_THAT(bad_input_message([&] { validate(r, "study"); }),
              HasSubstr("measured 0, expected a finite value > 0"));
  r = testing::synthetic_study();
  r.combinations[0].target = "power_w";
  EXPECT_THAT(bad_input_message([&] { validate(r, "study"); }),
              HasSubstr("target \"power_w\", expected time_ms or energy_mj"));
}

TEST(StudyResultsJson, HeldOutSummariesAndRowCountsRoundTripAndMayBeAbsent) {
  const StudyResults a = testing::synthetic_study();
  ASSERT_FALSE(a.held_out.empty());
  nlohmann::json j = to_json(a);
  const StudyResults b = study_results_from_json(j, "mem");
  ASSERT_EQ(b.held_out.size(), a.held_out.size());
  EXPECT_EQ(b.held_out[0].items, a.held_out[0].items);
  EXPECT_EQ(b.held_out[0].accuracy, a.held_out[0].accuracy);
  EXPECT_EQ(b.info.measured_rows, a.info.measured_rows);
  EXPECT_EQ(b.info.reused_rows, a.info.reused_rows);
  // Files from before held-out summaries and row counts existed still read.
  j.erase("held_out");
  j["info"].erase("measured_rows");
  j["info"].erase("reused_rows");
  // Without the summaries, the sampled models' predictions stand on their own.
  const StudyResults c = study_results_from_json(j, "old.json");
  EXPECT_TRUE(c.held_out.empty());
  EXPECT_FALSE(c.info.measured_rows.has_value());
}

TEST(StudyResultsValidate, RejectsAHeldOutSummaryWithFewerItemsThanItsListedPredictions) {
  StudyResults r = testing::synthetic_study();
  size_t listed = 0;
  const HeldOutSummary& h = r.held_out[0];
  for (const auto& p : r.predictions)
    listed +=
        p.combination == h.combination && p.evaluation == h.evaluation && p.feature_set == h.feature_set;
  ASSERT_GT(listed, 1u);
  r.held_out[0].items = static_cast<int>(listed) - 1;
  EXPECT_THAT(
      bad_input_message([&] { validate(r, "study"); }),
      HasSubstr(fmt::format("held_out[0]: items {}, expected at least 1 and at least the {} predictions",
                            listed - 1, listed)));
  r = testing::synthetic_study();
  r.held_out.push_back(r.held_out[0]);
  EXPECT_THAT(bad_input_message([&] { validate(r, "study"); }), HasSubstr("given twice"));
  r = testing::synthetic_study();
  r.held_out[1].within_10pct = 1.5;
  EXPECT_THAT(bad_input_message([&] { validate(r, "study"); }),
              HasSubstr("within_10pct 1.5, expected a fraction"));
}

TEST(StudyResultsJson, TransferRowsRoundTripAndMayBeAbsent) {
  const StudyResults a = testing::synthetic_study();
  ASSERT_EQ(a.transfer.size(), 3u);
  nlohmann::json j = to_json(a);
  EXPECT_TRUE(j["transfer"][2]["interval_coverage"].is_null());
  const StudyResults b = study_results_from_json(j, "mem");
  ASSERT_EQ(b.transfer.size(), 3u);
  EXPECT_EQ(b.transfer[1].accuracy, a.transfer[1].accuracy);
  EXPECT_EQ(b.transfer[0].held_out, "family=dws");
  EXPECT_EQ(b.transfer[2].interval_coverage, std::nullopt);
  EXPECT_EQ(b.transfer[1].interval_unbounded, 3);
  EXPECT_EQ(b.transfer[1].interval_median_width, 2.4);
  EXPECT_EQ(b.transfer[2].interval_unbounded, std::nullopt);
  EXPECT_TRUE(j["transfer"][2]["interval_median_width"].is_null());
  j["transfer"][1].erase("interval_unbounded");  // files from before the count
  j["transfer"][1].erase("interval_median_width");
  EXPECT_EQ(study_results_from_json(j, "old.json").transfer[1].interval_unbounded, std::nullopt);
  j.erase("transfer");  // files from before transfer evaluations
  EXPECT_TRUE(study_results_from_json(j, "old.json").transfer.empty());
}

TEST(StudyResultsJson, AnchorDriftRoundTripsAndMayBeAbsent) {
  StudyResults a = testing::synthetic_study();
  a.transfer[1].anchor_drift = -0.031;
  nlohmann::json j = to_json(a);
  EXPECT_TRUE(j["transfer"][0]["anchor_drift"].is_null());
  EXPECT_EQ(study_results_from_json(j, "mem").transfer[1].anchor_drift, -0.031);
  j["transfer"][1].erase("anchor_drift");  // files from before the anchor
  EXPECT_EQ(study_results_from_json(j, "old.json").transfer[1].anchor_drift, std::nullopt);
  a.transfer[1].anchor_drift = -1.0;  // the probe took no time at all
  EXPECT_EQ(bad_input_message([&] { validate(a, "study"); }),
            "study: transfer[1]: anchor_drift -1, expected a finite ratio minus 1 (above -1)");
}

TEST(StudyResultsJson, DriftCorrectedFiguresRoundTripAndNeedTheDrift) {
  StudyResults a = testing::synthetic_study();
  a.transfer[1].anchor_drift = 0.25;
  a.transfer[1].drift_corrected_accuracy = 0.93;
  a.transfer[1].drift_corrected_coverage = 0.75;
  nlohmann::json j = to_json(a);
  EXPECT_TRUE(j["transfer"][0]["drift_corrected_accuracy"].is_null());
  const StudyResults b = study_results_from_json(j, "mem");
  EXPECT_EQ(b.transfer[1].drift_corrected_accuracy, 0.93);
  EXPECT_EQ(b.transfer[1].drift_corrected_coverage, 0.75);
  j["transfer"][1].erase("drift_corrected_accuracy");  // files from before the correction
  j["transfer"][1].erase("drift_corrected_coverage");
  EXPECT_EQ(study_results_from_json(j, "old.json").transfer[1].drift_corrected_accuracy, std::nullopt);
  a.transfer[1].drift_corrected_coverage = 1.5;
  EXPECT_EQ(bad_input_message([&] { validate(a, "study"); }),
            "study: transfer[1]: drift_corrected_coverage 1.5, expected a fraction in [0, 1]");
  a.transfer[1].drift_corrected_coverage = 0.75;
  a.transfer[1].anchor_drift.reset();  // corrected by what?
  EXPECT_EQ(bad_input_message([&] { validate(a, "study"); }),
            "study: transfer[1]: drift-corrected figures without anchor_drift, expected both or neither");
}

TEST(StudyResultsValidate, RejectsABadTransferRow) {
  StudyResults r = testing::synthetic_study();
  r.transfer[0].combination = "nowhere";
  EXPECT_THAT(bad_input_message([&] { validate(r, "study"); }), HasSubstr("transfer[0]"));
  r = testing::synthetic_study();
  r.transfer[1].interval_coverage = 1.2;
  EXPECT_EQ(bad_input_message([&] { validate(r, "study"); }),
            "study: transfer[1]: within_10pct, interval_coverage and interval_level, expected fractions in [0, 1]");
  r = testing::synthetic_study();
  r.transfer[1].interval_unbounded = 8;
  EXPECT_EQ(bad_input_message([&] { validate(r, "study"); }),
            "study: transfer[1]: interval_unbounded 8, expected 0 to test_items (7)");
  r = testing::synthetic_study();
  r.transfer[0].interval_median_width = 0.5;
  EXPECT_EQ(bad_input_message([&] { validate(r, "study"); }),
            "study: transfer[0]: interval_median_width 0.5, expected a finite ratio >= 1");
  r = testing::synthetic_study();
  r.transfer[0].test_items = 0;
  EXPECT_EQ(bad_input_message([&] { validate(r, "study"); }),
            "study: transfer[0]: 800 training and 0 test items, expected at least 1 of each");
}

TEST(StudyResultsJson, LearningCurveRoundTripsAndMayBeAbsent) {
  const StudyResults a = testing::synthetic_study();
  ASSERT_EQ(a.learning.size(), 2u);
  nlohmann::json j = to_json(a);
  EXPECT_TRUE(j["learning_curve"][0]["interval_coverage"].is_null());  // not measured: null, never 0
  const StudyResults b = study_results_from_json(j, "mem");
  ASSERT_EQ(b.learning.size(), 2u);
  EXPECT_EQ(b.learning[1].train_items, 100);
  EXPECT_EQ(b.learning[1].test_items, 1100);
  EXPECT_EQ(b.learning[1].draws, 5);
  EXPECT_EQ(b.learning[1].accuracy_min, 0.928);
  EXPECT_EQ(b.learning[1].interval_median_width, 1.53);
  EXPECT_EQ(b.learning[0].interval_coverage, std::nullopt);
  EXPECT_EQ(b.learning[0].unit, "network");
  EXPECT_EQ(b.learning[1].interval_unbounded, 12);
  EXPECT_EQ(b.learning[0].interval_unbounded, std::nullopt);
  j["learning_curve"][1].erase("interval_unbounded");  // the first files with a learning curve
  EXPECT_EQ(study_results_from_json(j, "first.json").learning[1].interval_unbounded, std::nullopt);
  j.erase("learning_curve");  // files from before the learning curve
  EXPECT_TRUE(study_results_from_json(j, "old.json").learning.empty());
}

TEST(StudyResultsValidate, RejectsABadLearningCurvePoint) {
  StudyResults r = testing::synthetic_study();
  r.learning[0].combination = "nowhere";
  EXPECT_THAT(bad_input_message([&] { validate(r, "study"); }), HasSubstr("learning_curve[0]"));
  r = testing::synthetic_study();
  r.learning[1].accuracy_min = 0.95;
  EXPECT_EQ(bad_input_message([&] { validate(r, "study"); }),
            "study: learning_curve[1]: accuracy 0.931 between draws of 0.95 and 0.934, expected finite "
            "fractions <= 1 "
            "with min <= accuracy <= max");
  r = testing::synthetic_study();
  r.learning[1].draws = 0;
  EXPECT_EQ(bad_input_message([&] { validate(r, "study"); }),
            "study: learning_curve[1]: 100 training items, 1100 test items and 0 draws, expected at least 1 "
            "of each");
  r = testing::synthetic_study();
  r.learning[0].unit = "layer";
  EXPECT_EQ(bad_input_message([&] { validate(r, "study"); }),
            "study: learning_curve[0]: unit \"layer\", expected network or row");
  r = testing::synthetic_study();
  r.learning[1].interval_coverage = -0.1;
  EXPECT_EQ(bad_input_message([&] { validate(r, "study"); }),
            "study: learning_curve[1]: within_10pct, interval_coverage and interval_level, expected "
            "fractions in [0, "
            "1]");
  r = testing::synthetic_study();
  r.learning[1].interval_unbounded = 5501;
  EXPECT_EQ(bad_input_message([&] { validate(r, "study"); }),
            "study: learning_curve[1]: interval_unbounded 5501, expected 0 to test_items x draws (5500)");
  r = testing::synthetic_study();
  r.learning[1].interval_median_width = 0.9;
  EXPECT_EQ(bad_input_message([&] { validate(r, "study"); }),
            "study: learning_curve[1]: interval_median_width 0.9, expected a finite ratio >= 1");
}

TEST(StudyResultsFile, ReadingAMissingOrBrokenFileFailsClearly) {
  EXPECT_THAT(bad_input_message([] { read_study_results("/nonexistent/results.json"); }),
              HasSubstr("/nonexistent/results.json: cannot open"));
}

}  // namespace
}  // namespace convergy::report
