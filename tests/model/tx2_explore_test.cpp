#include "model/evaluate.h"
#include "model_test_util.h"
#include <gtest/gtest.h>
#include <fmt/core.h>
#include <cstdlib>
using namespace convergy::model;
TEST(Explore, Tx2) {
  const char* sets = std::getenv("SETS");
  const char* rail = std::getenv("RAIL");
  if (!sets) GTEST_SKIP();
  Dataset d = test_util::tx2_rail(rail ? rail : "cpu");
  std::string s = sets;
  size_t start = 0;
  while (start <= s.size()) {
    size_t bar = s.find('|', start);
    std::string one = s.substr(start, bar == std::string::npos ? std::string::npos : bar - start);
    start = bar == std::string::npos ? s.size() + 1 : bar + 1;
    Design des = build_design(d, parse_feature_set(one));
    EvalOptions o; o.folds = 10;
    Evaluation e = evaluate(d, des, o);
    fmt::print("{:60} acc {:.4f} w10 {:.3f} med {:.3f} cov {:.3f} cx {}\n", one.substr(0,60), e.rows.accuracy, e.rows.within_10, e.rows.median_ape, e.rows.coverage.value_or(-1), e.complexity);
  }
}
