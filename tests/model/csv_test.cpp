// The measurement CSV reader: values, empty fields as "not measured", and one-line errors with file:line.
#include "model/csv.h"
#include "util/error.h"
#include "model_test_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

using convergy::Error;
using convergy::model::CsvTable;
using ::testing::HasSubstr;

namespace {

using convergy::model::test_util::message_of;

TEST(Csv, ReadsNumbersAndEmptyFields) {
  CsvTable t = CsvTable::parse("a,b,name\n1.5,,x\n-2e3,4,y\n", "m.csv");
  ASSERT_EQ(t.rows(), 2u);
  EXPECT_DOUBLE_EQ(t.number(0, t.require_column("a")), 1.5);
  EXPECT_FALSE(t.optional_number(0, 1).has_value());
  EXPECT_DOUBLE_EQ(*t.optional_number(1, 1), 4.0);
  EXPECT_EQ(t.text(1, 2), "y");
  EXPECT_EQ(t.line(1), 3);
}

TEST(Csv, BadNumberNamesFileLineColumnAndValue) {
  CsvTable t = CsvTable::parse("a,b\n1,2\n3,abc\n", "m.csv");
  EXPECT_EQ(message_of([&] { t.number(1, 1); }), "m.csv:3: column \"b\": expected a number, got \"abc\"");
  EXPECT_THAT(message_of([&] { t.optional_number(1, 1); }), HasSubstr("got \"abc\""));
  CsvTable u = CsvTable::parse("a\n1\n\n", "m.csv");
  EXPECT_THAT(message_of([&] { CsvTable::parse("a\ninf\n", "m.csv").number(0, 0); }), HasSubstr("expected a number"));
  EXPECT_THAT(message_of([&] { CsvTable::parse("a\n2x\n", "m.csv").number(0, 0); }), HasSubstr("got \"2x\""));
}

TEST(Csv, StructuralErrors) {
  EXPECT_EQ(message_of([] { CsvTable::parse("a,b\n1,2,3\n", "m.csv"); }), "m.csv:2: 3 fields, expected 2 as in the header");
  EXPECT_THAT(message_of([] { CsvTable::parse("", "m.csv"); }), HasSubstr("m.csv: empty file"));
  EXPECT_THAT(message_of([] { CsvTable::parse("a,a\n", "m.csv"); }), HasSubstr("names column \"a\" twice"));
  EXPECT_THAT(message_of([] { CsvTable::parse("a\n\"1\"\n", "m.csv"); }), HasSubstr("m.csv:2: quoted fields"));
  CsvTable t = CsvTable::parse("a,b\n1,2\n", "m.csv");
  EXPECT_EQ(message_of([&] { t.require_column("energy_mj"); }), "m.csv: no column \"energy_mj\" (columns: a, b)");
}

TEST(Csv, WhereKeepsMatchingRowsAndTheirLines) {
  CsvTable t = CsvTable::parse("rail,v\ncpu,1\ngpu,2\ncpu,3\n", "m.csv");
  CsvTable c = t.where("rail", "cpu");
  ASSERT_EQ(c.rows(), 2u);
  EXPECT_EQ(c.line(1), 4);
  EXPECT_NE(c.digest(), t.digest());
  EXPECT_EQ(t.where("rail", "npu").rows(), 0u);
  CsvTable not_cpu = t.where("rail", "cpu", false);
  ASSERT_EQ(not_cpu.rows(), 1u);
  EXPECT_EQ(not_cpu.text(0, 1), "2");
  EXPECT_EQ(not_cpu.line(0), 3);
  EXPECT_NE(not_cpu.digest(), c.digest());
  EXPECT_NE(not_cpu.digest(), t.where("rail", "gpu").digest());  // same rows, another filter
}

TEST(Csv, DigestIsFnv1a64OfTheBytes) {
  // FNV-1a 64 of the empty string is the offset basis; of "a" it is the published test vector.
  EXPECT_EQ(convergy::model::fnv1a_hex(""), "cbf29ce484222325");
  EXPECT_EQ(convergy::model::fnv1a_hex("a"), "af63dc4c8601ec8c");
}

}  // namespace
