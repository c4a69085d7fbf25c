// Issue 7: "re-running the study on an existing database re-measures nothing and gives identical tables".
// A small quick study (three networks, the first also at two other input sizes, the second with 21841
// classes, one backend, the shared Jetson data when present) runs twice on one database; the second run must
// add no row to it, say it measured nothing, and write the same bytes into every table. A third run, on a
// database of its own, leaves the operator probe out.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>

namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Row count, largest row id and latest creation time of the measurements: a rerun that re-measured, or
// replaced an aggregate row, changes at least one of them.
std::tuple<int64_t, int64_t, std::string> measurement_state(const fs::path& db) {
  sqlite3* h = nullptr;
  EXPECT_EQ(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK) << db;
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(
      sqlite3_prepare_v2(h, "SELECT count(*), max(id), max(created_at) FROM measurements", -1, &st, nullptr),
      SQLITE_OK);
  std::tuple<int64_t, int64_t, std::string> out;
  if (sqlite3_step(st) == SQLITE_ROW) {
    const unsigned char* t = sqlite3_column_text(st, 2);
    out = {sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
           t ? reinterpret_cast<const char*>(t) : ""};
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return out;
}

// Campaigns of the database with a network of this name.
int64_t campaigns_with(const fs::path& db, const std::string& network) {
  sqlite3* h = nullptr;
  EXPECT_EQ(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK) << db;
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(h, "SELECT count(*) FROM networks WHERE name = ?", -1, &st, nullptr),
            SQLITE_OK);
  sqlite3_bind_text(st, 1, network.c_str(), -1, SQLITE_TRANSIENT);
  const int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  sqlite3_close(h);
  return n;
}

int run_study(const fs::path& dir, const std::string& out, const std::string& db = "study.db",
              const std::string& extra = "") {
  const std::string cmd = fmt::format(
      "'{}' study --quick --networks squeezenet1_1,allcnn_c,shufflenet_v2_1_0 --backends openblas --db '{}' "
      "--out '{}' "
      "--shared-data '{}' {} > '{}' 2>&1",
      CONVERGY_CLI, (dir / db).string(), (dir / out).string(), CONVERGY_SHARED_DATA, extra,
      (dir / (out + ".log")).string());
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(StudyRerun, OnTheSameDatabaseMeasuresNothingAndWritesIdenticalTables) {
  if (!fs::exists(fs::path(CONVERGY_SHARED_DATA) / "tx2-conv-layers.csv"))
    GTEST_SKIP() << "shared data not found at " << CONVERGY_SHARED_DATA;
  const fs::path dir = fs::temp_directory_path() / fmt::format("convergy-study-rerun-{}", ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);

  ASSERT_EQ(run_study(dir, "first"), 0) << read_file(dir / "first.log");
  const auto before = measurement_state(dir / "study.db");
  ASSERT_GT(std::get<0>(before), 0);
  ASSERT_EQ(run_study(dir, "second"), 0) << read_file(dir / "second.log");
  EXPECT_EQ(measurement_state(dir / "study.db"), before) << "the rerun wrote measurement rows";

  const auto first = nlohmann::json::parse(read_file(dir / "first" / "results.json"));
  const auto second = nlohmann::json::parse(read_file(dir / "second" / "results.json"));
  EXPECT_GT(first["info"]["measured_rows"].get<int64_t>(), 0);
  EXPECT_EQ(second["info"]["measured_rows"].get<int64_t>(), 0);
  EXPECT_EQ(second["info"]["reused_rows"].get<int64_t>(),
            first["info"]["measured_rows"].get<int64_t>() + first["info"]["reused_rows"].get<int64_t>());

  size_t tables = 0;
  for (const auto& entry : fs::directory_iterator(dir / "first" / "tables")) {
    const fs::path other = dir / "second" / "tables" / entry.path().filename();
    ASSERT_TRUE(fs::exists(other)) << other;
    EXPECT_TRUE(read_file(entry.path()) == read_file(other)) << entry.path().filename() << " differs";
    ++tables;
  }
  EXPECT_GE(tables, 5u);
  // The first network again at other input sizes, predicted from every network at its own size.
  EXPECT_NE(read_file(dir / "first" / "tables" / "transfer.csv").find("native -> other input sizes"),
            std::string::npos);
  // The second network (allcnn_c, 10 classes) again with 21841, predicted from every network with its own.
  EXPECT_NE(
      read_file(dir / "first" / "tables" / "transfer.csv")
          .find("native -> other class counts,every network with its own classes,1 network with 10 and 21841 "
                "classes"),
      std::string::npos)
      << read_file(dir / "first" / "tables" / "transfer.csv");
  // The operator probe was measured beside the networks and trained the models, but no table lists it as a
  // held-out network, and the page says it was there. It was measured again in each of the three other
  // campaigns (input sizes, class counts, architectures) as the anchor of the machine's drift, which every
  // row of those transfers gives.
  EXPECT_EQ(campaigns_with(dir / "study.db", "probe"), 4);
  {
    const auto results = nlohmann::json::parse(read_file(dir / "first" / "results.json"));
    size_t anchored = 0;
    for (const auto& t : results["transfer"]) {
      const bool other_campaign = t["transfer"].get<std::string>().starts_with("native -> ");
      EXPECT_EQ(t.contains("anchor_drift") && !t["anchor_drift"].is_null(), other_campaign) << t.dump();
      if (other_campaign && t["anchor_drift"].is_number()) {
        EXPECT_GT(t["anchor_drift"].get<double>(), -0.5) << t.dump();  // the same network, minutes apart
        EXPECT_LT(t["anchor_drift"].get<double>(), 1.0) << t.dump();
        // The same held-out networks, their predictions scaled by 1 + the drift.
        EXPECT_TRUE(t["drift_corrected_accuracy"].is_number()) << t.dump();
        ++anchored;
      }
    }
    EXPECT_GE(anchored, 3u);
  }
  EXPECT_EQ(read_file(dir / "first" / "tables" / "predictions.csv").find(",probe,"), std::string::npos);
  EXPECT_NE(first["info"]["notes"].dump().find("operator probe"), std::string::npos) << first["info"].dump();
  // The quick study's one architecture the zoo lacks, predicted by the models of the three networks.
  EXPECT_NE(
      read_file(dir / "first" / "tables" / "transfer.csv")
          .find("native -> other architectures,the study's networks,1 network of layer kinds or groupings "
                "they lack (regnet_x_400mf)"),
      std::string::npos);
  // --no-probe: not measured, not noted. An architecture named by a path relative to the working folder,
  // which is not the database's: read back by its absolute path.
  const std::string relative =
      fs::relative(fs::path(CONVERGY_SOURCE_DIR) / "data" / "architectures" / "regnet_y_400mf.onnx").string();
  ASSERT_EQ(
      run_study(dir, "no_probe", "no_probe.db",
                "--no-probe --input-scales none --class-counts none --architectures '" + relative + "'"),
      0)
      << read_file(dir / "no_probe.log");
  EXPECT_NE(read_file(dir / "no_probe" / "tables" / "transfer.csv").find("(regnet_y_400mf)"),
            std::string::npos);
  EXPECT_EQ(campaigns_with(dir / "no_probe.db", "probe"), 0);
  EXPECT_EQ(read_file(dir / "no_probe" / "results.json").find("\"anchor_drift\":0"), std::string::npos);
  EXPECT_EQ(read_file(dir / "no_probe" / "results.json").find("operator probe"), std::string::npos);
  size_t second_tables = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir / "second" / "tables"))
    ++second_tables;
  EXPECT_EQ(second_tables, tables);
  if (!HasFailure()) fs::remove_all(dir);
}

}  // namespace
