// The durable measurement store: one SQLite file (default convergy.db) in WAL mode, holding campaigns,
// networks, layers, measurements (raw and aggregate rows side by side) and optional raw sensor samples.
// Each insert() is one transaction, so what the profiler measured survives Ctrl-C, kill -9 and power loss,
// and unique keys make a resumed campaign add nothing twice. Readers can open the file while a campaign writes.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

struct sqlite3;

namespace convergy {

struct CampaignSpec {
  std::string key;           // same key = same campaign: an unfinished one with this key is resumed
  std::string config_json;   // what was asked (networks, backend, threads, mode, reps, sensor)
  std::string machine_json;  // machine state when it started
  std::string sensor, rail;  // energy source; empty when none (energy is then NULL)
  // Also reopen a finished campaign with this key, so that running it again measures nothing new (a study
  // rerun); otherwise a finished campaign is left alone and the same key starts a new one.
  bool reuse_finished = false;
};

struct Campaign {
  int64_t id = 0;
  bool resumed = false;
};

struct StoredLayer {
  int index = 0;  // position in execution order; -1 for the whole-network row
  std::string name, type;
  std::vector<std::pair<std::string, double>> features;  // named feature columns, in order
};

// One measurement row. Raw rows have rep >= 0; the aggregate over reps has rep = -1 and the statistics.
// Anything not measured is nullopt and stored as NULL, never 0.
struct MeasurementRow {
  int64_t layer_id = 0;
  std::string mode;  // "markers" | "isolated"
  int rep = -1;
  std::string backend;
  int threads = 1;
  double time_ms = 0;  // wall time per run (median for aggregates)
  std::optional<double> cpu_time_ms;
  std::optional<double> energy_mj, dynamic_energy_mj, power_w;
  std::string sensor, rail;
  int64_t iterations = 1;          // runs averaged in this row's window
  bool repeated_for_sensor = false;  // energy taken from an isolated repetition long enough for the sensor
  bool graph_replay = false;  // the row's energy (or isolated timing) window replayed a CUDA graph
  std::string counters_json;       // perf counters per run, {"instructions": ...}; empty if none
  // Aggregate rows only.
  std::optional<int64_t> n;
  std::optional<double> mean_ms, stddev_ms, cv, ci95_ms, energy_stddev_mj, energy_ci95_mj;
  // Half-width of the distribution-free 95% interval of the median (time_ms); see measure/stats.h.
  std::optional<double> median_ci95_ms;

  bool aggregate() const { return rep < 0; }
};

class Store {
 public:
  // Opens or creates `path`. Throws BadInput if it is not a convergy database, Failure on I/O errors.
  explicit Store(const std::string& path, bool read_only = false);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  Campaign open_campaign(const CampaignSpec& spec);
  void set_idle_power(int64_t campaign, std::optional<double> before_w, std::optional<double> after_w);
  void set_status(int64_t campaign, const std::string& status);  // "running" | "interrupted" | "finished"

  // Idempotent: returns the existing id when the row is already there.
  int64_t add_network(int64_t campaign, const std::string& name, const std::string& source);
  int64_t add_layer(int64_t network, const StoredLayer& layer);

  bool has_measurement(int64_t layer_id, const std::string& mode, int rep);
  // All rows in one transaction. A row whose key (layer, mode, rep) exists is left as it is for raw rows
  // and replaced for aggregates (recomputed after a resume added reps).
  void insert(const std::vector<MeasurementRow>& rows);
  std::vector<MeasurementRow> rows(int64_t layer_id, const std::string& mode);

  // Raw sensor samples of one window, optional.
  void add_samples(int64_t network, const std::string& mode, int rep, const std::vector<double>& t_s,
                   const std::vector<double>& value);

  // Per-layer CSV: aggregate rows (and raw ones when `raw`), of one campaign or all.
  void export_csv(std::ostream& out, std::optional<int64_t> campaign, bool raw);

  int64_t count(const std::string& table);
  std::string integrity_check();  // "ok" when the file is sound
  sqlite3* handle() { return db_; }

 private:
  void exec(const char* sql);
  // `median_ci95_ms` (the column) or `NULL` for a database written before that column existed and opened
  // read-only, so old files stay readable.
  std::string median_ci_column(const std::string& table_prefix = "") const;
  std::string graph_replay_column(const std::string& table_prefix = "") const;
  sqlite3* db_ = nullptr;
  bool has_median_ci_ = true;
  bool has_graph_replay_ = true;
  std::string path_;
};

}  // namespace convergy
