// Tests of the StudyResults JSON form: round trip, version check, clear errors, validation.
#include "report/study_results.h"

#include "report_test_util.h"
#include "util/error.h"

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

TEST(StudyResultsFile, ReadingAMissingOrBrokenFileFailsClearly) {
  EXPECT_THAT(bad_input_message([] { read_study_results("/nonexistent/results.json"); }),
              HasSubstr("/nonexistent/results.json: cannot open"));
}

}  // namespace
}  // namespace convergy::report
