// The SQLite store: schema and WAL, idempotent networks/layers, unique measurement keys (resume adds nothing
// twice), NULL (never 0) for energy not measured, concurrent reader during writes, and the CSV export.
#include "store/store.h"
#include "util/error.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace convergy {
namespace {

using ::testing::HasSubstr;

std::string temp_db(const std::string& name) {
  std::string p = ::testing::TempDir() + name;
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(p + suffix);
  return p;
}

MeasurementRow raw_row(int64_t layer, int rep, double ms) {
  MeasurementRow r;
  r.layer_id = layer;
  r.mode = "isolated";
  r.rep = rep;
  r.backend = "openblas";
  r.threads = 1;
  r.time_ms = ms;
  r.cpu_time_ms = ms;
  return r;
}

TEST(Store, WalModeAndSchema) {
  auto path = temp_db("store_wal.db");
  Store s(path);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(s.handle(), "PRAGMA journal_mode", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
  sqlite3_finalize(st);
  EXPECT_EQ(s.integrity_check(), "ok");
}

TEST(Store, ResumeFindsTheUnfinishedCampaignAndAddsNothingTwice) {
  auto path = temp_db("store_resume.db");
  int64_t layer = 0;
  {
    Store s(path);
    Campaign c = s.open_campaign({"key-1", "{}", "{}", "", ""});
    EXPECT_FALSE(c.resumed);
    int64_t net = s.add_network(c.id, "alexnet", "zoo");
    EXPECT_EQ(s.add_network(c.id, "alexnet", "zoo"), net);
    layer = s.add_layer(net, {0, "conv1", "Convolution", {{"macs", 105415200}, {"in_c", 3}}});
    EXPECT_EQ(s.add_layer(net, {0, "conv1", "Convolution", {}}), layer);
    s.insert({raw_row(layer, 0, 1.5), raw_row(layer, 1, 1.6)});
  }
  Store s(path);
  Campaign c = s.open_campaign({"key-1", "{}", "{}", "", ""});
  EXPECT_TRUE(c.resumed);
  EXPECT_TRUE(s.has_measurement(layer, "isolated", 1));
  EXPECT_FALSE(s.has_measurement(layer, "isolated", 2));
  // A resumed campaign that measures rep 1 again must not duplicate it.
  s.insert({raw_row(layer, 1, 9.9), raw_row(layer, 2, 1.7)});
  auto rows = s.rows(layer, "isolated");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_DOUBLE_EQ(rows[1].time_ms, 1.6);
  EXPECT_EQ(s.count("measurements"), 3);
  s.set_status(c.id, "finished");
  EXPECT_FALSE(s.open_campaign({"key-1", "{}", "{}", "", ""}).resumed);  // finished: a new campaign
  EXPECT_TRUE(s.open_campaign({"key-1", "{}", "{}", "", ""}).resumed);
}

TEST(Store, EnergyNotMeasuredIsNullNotZero) {
  auto path = temp_db("store_null.db");
  Store s(path);
  Campaign c = s.open_campaign({"k", "{}", "{}", "", ""});
  int64_t layer = s.add_layer(s.add_network(c.id, "n", "zoo"), {0, "fc", "InnerProduct", {}});
  s.insert({raw_row(layer, 0, 2.0)});
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(s.handle(), "SELECT energy_mj IS NULL, power_w IS NULL, sensor IS NULL FROM measurements", -1,
                     &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 1);
  EXPECT_EQ(sqlite3_column_int(st, 1), 1);
  EXPECT_EQ(sqlite3_column_int(st, 2), 1);
  sqlite3_finalize(st);
  EXPECT_FALSE(s.rows(layer, "isolated")[0].energy_mj.has_value());
}

TEST(Store, ReaderSeesCommittedRowsWhileAWriterIsOpen) {
  auto path = temp_db("store_concurrent.db");
  Store writer(path);
  Campaign c = writer.open_campaign({"k", "{}", "{}", "", ""});
  int64_t layer = writer.add_layer(writer.add_network(c.id, "n", "zoo"), {0, "conv", "Convolution", {}});
  writer.insert({raw_row(layer, 0, 1.0)});
  Store reader(path, /*read_only=*/true);
  EXPECT_EQ(reader.count("measurements"), 1);
  writer.insert({raw_row(layer, 1, 1.0)});
  EXPECT_EQ(reader.count("measurements"), 2);
  std::ostringstream csv;
  reader.export_csv(csv, std::nullopt, true);
  EXPECT_THAT(csv.str(), HasSubstr("conv"));
}

TEST(Store, ExportGoldenColumnsAndEmptyFieldsForMissingEnergy) {
  auto path = temp_db("store_export.db");
  Store s(path);
  Campaign c = s.open_campaign({"k", "{}", "{}", "rapl:package-0", "package-0"});
  int64_t net = s.add_network(c.id, "tiny", "zoo");
  int64_t l0 = s.add_layer(net, {0, "conv1", "Convolution", {{"macs", 1000}, {"in_c", 3}}});
  MeasurementRow agg = raw_row(l0, -1, 1.25);
  agg.n = 5;
  agg.mean_ms = 1.3;
  agg.stddev_ms = 0.1;
  agg.cv = 0.1 / 1.3;
  agg.ci95_ms = 0.124;
  agg.median_ci95_ms = 0.15;
  agg.energy_mj = 12.5;
  agg.power_w = 10;
  agg.sensor = "rapl:package-0";
  agg.rail = "package-0";
  agg.iterations = 8;
  s.insert({raw_row(l0, 0, 1.2), agg});
  std::ostringstream csv;
  s.export_csv(csv, c.id, /*raw=*/false);
  EXPECT_EQ(csv.str(),
            "campaign,network,layer_index,layer,type,mode,kind,rep,backend,threads,time_ms,energy_mj,power_w,sensor,"
            "rail,macs,in_c,dynamic_energy_mj,cpu_time_ms,n,mean_ms,stddev_ms,cv,ci95_ms,energy_stddev_mj,"
            "energy_ci95_mj,iterations,repeated_for_sensor,median_ci95_ms,graph_replay\n"
            "1,tiny,0,conv1,Convolution,isolated,aggregate,,openblas,1,1.25,12.5,10,rapl:package-0,package-0,1000,3,,"
            "1.25,5,1.3,0.1,0.0769230769,0.124,,,8,0,0.15,0\n");
  std::ostringstream with_raw;
  s.export_csv(with_raw, c.id, /*raw=*/true);
  EXPECT_THAT(with_raw.str(), HasSubstr("isolated,raw,0,openblas,1,1.2,,,,,1000,3"));
}

// A database written before the median-interval and graph-replay columns existed: read-only readers see NULL
// there, and a writer adds the columns without touching the old rows.
TEST(Store, OldFileWithoutTheMedianIntervalColumn) {
  auto path = temp_db("store_old_schema.db");
  int64_t l0 = 0;
  {
    Store s(path);
    Campaign c = s.open_campaign({"k", "{}", "{}", "", ""});
    l0 = s.add_layer(s.add_network(c.id, "tiny", "zoo"), {0, "conv1", "Convolution", {{"macs", 1000}}});
    s.insert({raw_row(l0, 0, 1.2)});
    ASSERT_EQ(sqlite3_exec(s.handle(), "ALTER TABLE measurements DROP COLUMN median_ci95_ms", nullptr, nullptr,
                           nullptr),
              SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(s.handle(), "ALTER TABLE measurements DROP COLUMN graph_replay", nullptr, nullptr, nullptr),
              SQLITE_OK);
  }
  {
    Store ro(path, /*read_only=*/true);
    ASSERT_EQ(ro.rows(l0, "isolated").size(), 1u);
    EXPECT_FALSE(ro.rows(l0, "isolated")[0].median_ci95_ms.has_value());
    std::ostringstream csv;
    ro.export_csv(csv, std::nullopt, /*raw=*/true);
    EXPECT_THAT(csv.str(), HasSubstr(",median_ci95_ms,graph_replay\n"));
    EXPECT_THAT(csv.str(), HasSubstr(",0,,\n"));  // neither recorded: empty, not 0
  }
  Store rw(path);
  MeasurementRow agg = raw_row(l0, -1, 1.2);
  agg.median_ci95_ms = 0.05;
  rw.insert({agg});
  EXPECT_EQ(rw.rows(l0, "isolated").size(), 2u);
  EXPECT_EQ(rw.rows(l0, "isolated")[0].median_ci95_ms, 0.05);  // ordered by rep: the aggregate (-1) first
  EXPECT_EQ(rw.integrity_check(), "ok");
}

TEST(Store, NotADatabaseIsBadInput) {
  std::string p = ::testing::TempDir() + "not_a_db.db";
  std::ofstream(p) << "this is plain text, not SQLite, and long enough to have a header page .......\n";
  try {
    Store s(p, true);
    FAIL() << "opened a text file as a database";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_THAT(e.what(), HasSubstr("not_a_db.db"));
  }
}

}  // namespace
}  // namespace convergy
