// Inputs that crashed a fuzz target (fuzz/), one test each, named after what broke. Each input is checked in
// under data/ exactly as libFuzzer wrote it, and goes through the same entry point the fuzz target calls;
// the test states the clean rejection (or result) that the fix gives.
#include "features/features.h"
#include "graph/passes.h"
#include "import/load.h"
#include "import/onnx/onnx_context.h"
#include "import/onnx/onnx_import.h"
#include "import/onnx/onnx_reader.h"
#include "model/csv.h"
#include "model/dataset.h"
#include "model/model.h"
#include "util/error.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

namespace convergy {
namespace {

using ::testing::HasSubstr;

std::string data_file(const std::string& name) {
  const std::string path = std::string(CONVERGY_SOURCE_DIR) + "/tests/fuzz_regressions/data/" + name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The message of the convergy::Error that `f` throws ("no error" if it returns).
template <typename F>
std::string error_of(F&& f, ErrorKind expected_kind = ErrorKind::BadInput) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), expected_kind) << e.what();
    return e.what();
  }
  return "no error";
}

// A Reshape target built by ConstantOfShape([81]) holds 81 dimensions of 75: the element count of the target
// overflowed int64 (UBSan: signed multiplication overflow in resolve_reshape).
TEST(FuzzRegressions, OnnxReshapeTargetElementCountOverflow) {
  const std::string bytes = data_file("onnx_reshape_target_elements_overflow.onnx");
  const std::string msg = error_of([&] {
    onnx_import::import_model(onnx_import::read_light_model(bytes, "r.onnx"), "r.onnx");
  });
  EXPECT_THAT(msg, HasSubstr("r.onnx: 1 node(s) convergy cannot map"));
  EXPECT_THAT(msg, HasSubstr("(Reshape): target shape 81x75x75"));
  EXPECT_THAT(msg, HasSubstr("has more elements than 64 bits count"));
}

// A zero-sized int64 initializer (dims 1x1x0x...) added to a one-element constant: the folded result was given
// one element instead of none, and reading it indexed an empty vector (UBSan: reference binding to null; a
// segmentation fault in the GCC build).
TEST(FuzzRegressions, OnnxBroadcastOfOneToZeroSizedConstant) {
  const std::string bytes = data_file("onnx_broadcast_to_zero_sized_constant.onnx");
  const std::string msg = error_of([&] {
    onnx_import::import_model(onnx_import::read_light_model(bytes, "b.onnx"), "b.onnx");
  });
  // The Add folds to an empty tensor without complaint; the one problem left is the file's absurd Unsqueeze axis.
  EXPECT_EQ(msg, "b.onnx: 1 node(s) convergy cannot map: \"#3\" (Unsqueeze): axis 6559239226768359425 is out of "
                 "range for rank 1");
}

// Mul of the batch size by an int64 initializer of -2.6e18 folded to -2.1e19 through a double, and converting
// that to int64 is undefined (UBSan: outside the range of representable values of type 'long').
TEST(FuzzRegressions, OnnxFoldedIntegerOutsideInt64) {
  const std::string bytes = data_file("onnx_folded_integer_outside_int64.onnx");
  const std::string msg = error_of([&] {
    onnx_import::import_model(onnx_import::read_light_model(bytes, "i.onnx"), "i.onnx");
  });
  EXPECT_THAT(msg, HasSubstr("i.onnx: 1 node(s) convergy cannot map"));
  EXPECT_THAT(msg, HasSubstr("\"#7\" (Mul): folding constants gives -2.09088273940674e+19, outside the range of a 64-bit "
                             "integer"));
}

// Split sizes of 8.5e18 and 4.2e18 from an initializer: their running sum overflowed int64 before it was compared
// with the axis (UBSan: signed integer overflow in split_rule).
TEST(FuzzRegressions, OnnxSplitSizesSumOverflow) {
  const std::string bytes = data_file("onnx_split_sizes_sum_overflow.onnx");
  const std::string msg = error_of([&] {
    onnx_import::import_model(onnx_import::read_light_model(bytes, "s.onnx"), "s.onnx");
  });
  EXPECT_THAT(msg, HasSubstr("s.onnx"));
  EXPECT_THAT(msg, HasSubstr("split size 8459448950062055425 for output 0, expected 0 to 3 (axis 1 has size 3, 0 "
                             "already taken)"));
}

// Split sizes given as a double tensor holding NaN: reading them as integers converted NaN to int64 (UBSan:
// -nan is outside the range of representable values of type 'long').
TEST(FuzzRegressions, OnnxFloatNanReadAsIntegerInput) {
  const std::string bytes = data_file("onnx_float_nan_as_integer_input.onnx");
  const std::string msg = error_of([&] {
    onnx_import::import_model(onnx_import::read_light_model(bytes, "n.onnx"), "n.onnx");
  });
  EXPECT_THAT(msg, HasSubstr("n.onnx: "));
  EXPECT_THAT(msg, HasSubstr("(Split): input 1 (\"parts\") holds "));  // "nan" or "-nan": its sign bit
  EXPECT_THAT(msg, HasSubstr("nan, expected whole numbers"));
}

// The conversion every integer fold (Mul/Add/Sub/Div, Cast to an integer type, Concat) goes through.
TEST(FuzzRegressions, FoldedIntegerConversionRefusesWhatInt64CannotHold) {
  using onnx_import::folded_int;
  EXPECT_EQ(folded_int(-2.9), -2);
  EXPECT_EQ(folded_int(-9223372036854775808.0), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(folded_int(9223372036854774784.0), int64_t{9223372036854774784});  // the largest double below 2^63
  EXPECT_THROW(folded_int(9223372036854775808.0), onnx_import::Unsupported);
  EXPECT_THROW(folded_int(-1e300), onnx_import::Unsupported);
  EXPECT_THROW(folded_int(std::numeric_limits<double>::quiet_NaN()), onnx_import::Unsupported);
  EXPECT_THROW(folded_int(std::numeric_limits<double>::infinity()), onnx_import::Unsupported);
}

// "training_rows": 1e308 in a model file: the JSON library's conversion of that number to size_t is undefined
// (UBSan: 1e+308 is outside the range of representable values of type 'unsigned long').
TEST(FuzzRegressions, ModelJsonRowCountOutsideIntegerRange) {
  const std::string text = data_file("model_json_row_count_1e308.json");
  const std::string msg = error_of([&] { model::model_from_json(nlohmann::json::parse(text), "m.json"); });
  EXPECT_EQ(msg, "m.json: provenance: training_rows 1e+308, expected a whole number >= 0");
  // The same guard covers the other whole numbers of the file.
  auto with = [&](const std::string& from, const std::string& to) {
    std::string t = text;
    t.replace(t.find(from), from.size(), to);
    return error_of([&] { model::model_from_json(nlohmann::json::parse(t), "m.json"); });
  };
  EXPECT_EQ(with("\"calibration_rows\": 16", "\"calibration_rows\": -3"),
            "m.json: interval: calibration_rows -3, expected a whole number >= 0");
  EXPECT_EQ(with("\"feature\": \"scale\"", "\"feature\": \"scale\", \"power\": 3.5e200"),
            "m.json: submodels[0].terms[0].factors[0]: power 3.5e+200, expected 1 to 6");
}

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "/fuzz_regressions_" + std::to_string(::getpid()) + "_" + name;
}

// An interval whose upper ratio is unbounded (a calibration prediction <= 0) is written as null, JSON having
// no infinity; the reader rejected that null, so `convergy predict` could not load what `convergy fit` wrote.
TEST(FuzzRegressions, ModelWithUnboundedIntervalLoadsAgain) {
  model::Model m;
  m.feature_set = "macs+1";
  m.target = "time_ms";
  m.unit = "ms";
  m.interval = model::IntervalCalibration{0.9, 0.5, std::numeric_limits<double>::infinity(), 12};
  const std::string path = temp_path("unbounded.json");
  model::save_model(m, path);
  const model::Model loaded = model::load_model(path);
  std::remove(path.c_str());
  ASSERT_TRUE(loaded.interval.has_value());
  EXPECT_EQ(loaded.interval->lower_ratio, 0.5);
  EXPECT_EQ(loaded.interval->upper_ratio, std::numeric_limits<double>::infinity());
}

// The fuzz_csv input that found it: per-layer rows of two zoo networks fitted with macs+mem; what fit writes
// must load again.
TEST(FuzzRegressions, CsvFitModelWithUnboundedIntervalLoadsAgain) {
  const auto csv = model::CsvTable::parse(data_file("csv_fit_model_with_unbounded_interval.csv"), "u.csv");
  const model::Dataset data = model::load_dataset(csv, "energy_mj", [](const std::string& ref) {
    return std::make_shared<const NetworkFeatures>(network_features(run_passes(load_network(ref)).graph));
  });
  const model::Design design = model::build_design(data, model::parse_feature_set("macs+mem"));
  std::vector<size_t> rows(data.samples.size());
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = i;
  const model::Model fitted = model::fit_model(data, design, rows, model::FitOptions{});
  const std::string path = temp_path("fitted.json");
  model::save_model(fitted, path);
  std::string msg = "loaded";
  try {
    const model::Model loaded = model::load_model(path);
    ASSERT_EQ(loaded.interval.has_value(), fitted.interval.has_value());
    if (loaded.interval) {
      EXPECT_EQ(loaded.interval->upper_ratio, fitted.interval->upper_ratio);
    }
  } catch (const Error& e) {
    msg = e.what();
  }
  std::remove(path.c_str());
  EXPECT_EQ(msg, "loaded");
}

}  // namespace
}  // namespace convergy
