// The memory budget of a campaign in rounds: networks that do not fit in it at once are measured in groups
// that do, each group in rounds. The measurements must not depend on it: the same rows either way, with less
// held at once. Also what a campaign records beside its rows: the kernels' revision in its key, and each
// network under the name it was given (NAME@SHAPE for another input size).
#include "runtime/executor.h"
#include "store/store.h"
#include "study/campaign.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace convergy::study {
namespace {

namespace fs = std::filesystem;

const char* kNetA = R"(name: "a"
input: "data"
input_shape { dim: 1 dim: 3 dim: 16 dim: 16 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 8 kernel_size: 3 pad: 1 } }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
        pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "fc1" type: "InnerProduct" bottom: "pool1" top: "fc1" inner_product_param { num_output: 10 } }
)";
const char* kNetB = R"(name: "b"
input: "data"
input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 1 } }
layer { name: "fc1" type: "InnerProduct" bottom: "conv1" top: "fc1" inner_product_param { num_output: 5 } }
)";

int64_t count_rows(const std::string& db, const std::string& sql) {
  Store s(db, /*read_only=*/true);
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(s.handle(), sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sql;
  int64_t n = -1;
  if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

struct Dir {
  fs::path path;
  Dir() {
    path = fs::temp_directory_path() / ("convergy_campaign_memory_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
    std::ofstream(path / "a.prototxt") << kNetA;
    std::ofstream(path / "b.prototxt") << kNetB;
  }
  ~Dir() { fs::remove_all(path); }
};

CampaignOptions rounds_options(const Dir& d, const std::string& db, int64_t budget) {
  CampaignOptions o;
  o.nets = {(d.path / "a.prototxt").string(), (d.path / "b.prototxt").string()};
  o.backend = "reference";
  o.sensor = "none";
  o.mode = "markers";
  o.reps = 3;
  o.max_reps = 3;
  o.warmup = 1;
  o.min_window_ms = 1;
  o.idle_s = 0;
  o.counters = false;
  o.rounds = true;
  o.db = (d.path / db).string();
  o.memory_budget_bytes = budget;
  return o;
}

TEST(CampaignMemory, ABudgetBelowTwoNetworksMeasuresThemInGroupsWithTheSameRows) {
  const Dir d;
  const CampaignResult roomy = run_campaign(rounds_options(d, "roomy.db", int64_t{1} << 40));
  EXPECT_EQ(roomy.round_groups, 1);
  EXPECT_EQ(roomy.memory_budget_bytes, int64_t{1} << 40);
  EXPECT_GT(roomy.ready_bytes_peak, 0);

  // One byte: no network fits, so each is a group of its own (and runs anyway).
  const CampaignResult tight = run_campaign(rounds_options(d, "tight.db", 1));
  EXPECT_EQ(tight.round_groups, 2);
  EXPECT_EQ(tight.written, roomy.written);
  EXPECT_GT(tight.ready_bytes_peak, 0);
  EXPECT_LT(tight.ready_bytes_peak, roomy.ready_bytes_peak) << "both networks were held at once";

  const std::string roomy_db = (d.path / "roomy.db").string(), tight_db = (d.path / "tight.db").string();
  const std::string all = "SELECT count(*) FROM measurements";
  const std::string aggregates = "SELECT count(*) FROM measurements WHERE rep = -1";
  EXPECT_GT(count_rows(roomy_db, all), 0);
  EXPECT_EQ(count_rows(tight_db, all), count_rows(roomy_db, all));
  EXPECT_EQ(count_rows(tight_db, aggregates), count_rows(roomy_db, aggregates));
}

// The kernels' revision is part of the campaign's key: a database measured by older kernels is measured
// again rather than reused.
TEST(CampaignKey, RecordsTheKernelRevision) {
  const Dir d;
  const CampaignResult r = run_campaign(rounds_options(d, "key.db", 0));
  Store s((d.path / "key.db").string(), /*read_only=*/true);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(s.handle(), "SELECT key FROM campaigns WHERE id = ?", -1, &st, nullptr),
            SQLITE_OK);
  sqlite3_bind_int64(st, 1, r.campaign_id);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  const std::string key = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  EXPECT_NE(key.find("\"kernels\":" + std::to_string(kKernelRevision)), std::string::npos) << key;
}

TEST(CampaignMemory, TheDefaultBudgetIsHalfOfWhatIsAvailable) {
  const Dir d;
  std::ifstream in("/proc/meminfo");
  std::string line;
  long long kb = 0;
  while (std::getline(in, line) && std::sscanf(line.c_str(), "MemAvailable: %lld kB", &kb) != 1) {
  }
  if (kb <= 0) GTEST_SKIP() << "/proc/meminfo has no MemAvailable here";
  const CampaignResult r = run_campaign(rounds_options(d, "default.db", 0));
  // Other processes change what is available between the two readings: a loose band around half.
  EXPECT_GT(r.memory_budget_bytes, kb * 1024 * 2 / 5);
  EXPECT_LT(r.memory_budget_bytes, kb * 1024 * 3 / 5);
  EXPECT_EQ(r.round_groups, 1);
}

// One network at two input sizes is two networks of the campaign, each stored (and exported) under the name
// it was given, so that fitting on the export loads each at its own size.
TEST(CampaignNames, ANetworkAtAnotherInputShapeIsStoredUnderItsNameWithTheShape) {
  const Dir d;
  CampaignOptions o = rounds_options(d, "shapes.db", 0);
  const std::string a = (d.path / "a.prototxt").string();
  o.nets = {a, a + "@1x3x32x32"};
  const CampaignResult r = run_campaign(o);
  std::ostringstream csv;
  Store((d.path / "shapes.db").string(), /*read_only=*/true).export_csv(csv, r.campaign_id, /*raw=*/false);
  // network -> the conv1 row's macs column
  std::map<std::string, std::string> conv1_macs;
  std::istringstream in(csv.str());
  std::string line;
  std::getline(in, line);
  ASSERT_EQ(line.rfind("campaign,network,layer_index,layer,", 0), 0u) << line;
  const size_t macs_col = [&] {
    size_t col = 0, at = 0;
    while (line.compare(at, 5, "macs,") != 0) at = line.find(',', at) + 1, ++col;
    return col;
  }();
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::istringstream cs(line);
    for (std::string c; std::getline(cs, c, ',');) cells.push_back(c);
    if (cells.size() > macs_col && cells[3] == "conv1") conv1_macs[cells[1]] = cells[macs_col];
  }
  ASSERT_EQ(conv1_macs.size(), 2u);
  // conv1: 8 outputs of 3x3x3 at every pixel, 16x16 and 32x32.
  EXPECT_EQ(conv1_macs[a], std::to_string(8 * 27 * 16 * 16));
  EXPECT_EQ(conv1_macs[a + "@1x3x32x32"], std::to_string(8 * 27 * 32 * 32));
}

}  // namespace
}  // namespace convergy::study
