// SQLite measurement store (see store.h): schema, WAL, per-call transactions and CSV export.
#include "store/store.h"

#include "util/clock.h"
#include "util/error.h"

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <map>

namespace convergy {
namespace {

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS convergy_meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS campaigns(
  id INTEGER PRIMARY KEY,
  key TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  config_json TEXT,
  machine_json TEXT,
  sensor TEXT,
  rail TEXT,
  idle_before_w REAL,
  idle_after_w REAL);
CREATE INDEX IF NOT EXISTS campaigns_key ON campaigns(key);
CREATE TABLE IF NOT EXISTS networks(
  id INTEGER PRIMARY KEY,
  campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
  name TEXT NOT NULL,
  source TEXT,
  UNIQUE(campaign_id, name));
CREATE TABLE IF NOT EXISTS layers(
  id INTEGER PRIMARY KEY,
  network_id INTEGER NOT NULL REFERENCES networks(id),
  idx INTEGER NOT NULL,
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  features_json TEXT,
  UNIQUE(network_id, idx));
CREATE TABLE IF NOT EXISTS measurements(
  id INTEGER PRIMARY KEY,
  layer_id INTEGER NOT NULL REFERENCES layers(id),
  mode TEXT NOT NULL,
  rep INTEGER NOT NULL,
  backend TEXT NOT NULL,
  threads INTEGER NOT NULL,
  time_ms REAL NOT NULL,
  cpu_time_ms REAL,
  energy_mj REAL,
  dynamic_energy_mj REAL,
  power_w REAL,
  sensor TEXT,
  rail TEXT,
  iterations INTEGER NOT NULL,
  repeated_for_sensor INTEGER NOT NULL,
  counters_json TEXT,
  n INTEGER,
  mean_ms REAL,
  stddev_ms REAL,
  cv REAL,
  ci95_ms REAL,
  median_ci95_ms REAL,
  graph_replay INTEGER,
  energy_stddev_mj REAL,
  energy_ci95_mj REAL,
  created_at TEXT NOT NULL,
  UNIQUE(layer_id, mode, rep));
CREATE TABLE IF NOT EXISTS samples(
  id INTEGER PRIMARY KEY,
  network_id INTEGER NOT NULL REFERENCES networks(id),
  mode TEXT NOT NULL,
  rep INTEGER NOT NULL,
  t_s REAL NOT NULL,
  value REAL NOT NULL);
)sql";

// A prepared statement that finalizes itself; bind() takes 1-based positions in order.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql) : Stmt(db, sql.c_str()) {}
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK)
      throw_failure("sqlite: {} (in: {})", sqlite3_errmsg(db), sql);
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int64_t v) {
    sqlite3_bind_int64(s_, ++pos_, v);
    return *this;
  }
  Stmt& bind(int v) { return bind(static_cast<int64_t>(v)); }
  Stmt& bind(double v) {
    sqlite3_bind_double(s_, ++pos_, v);
    return *this;
  }
  Stmt& bind(const std::string& v) {
    sqlite3_bind_text(s_, ++pos_, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind_text_or_null(const std::string& v) {
    if (v.empty()) {
      sqlite3_bind_null(s_, ++pos_);
      return *this;
    }
    return bind(v);
  }
  template <typename T>
  Stmt& bind(const std::optional<T>& v) {
    if (!v) {
      sqlite3_bind_null(s_, ++pos_);
      return *this;
    }
    return bind(*v);
  }
  void reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
    pos_ = 0;
  }
  // true while there is a row.
  bool step() {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw_failure("sqlite: {}", sqlite3_errmsg(db_));
  }
  int64_t i64(int c) { return sqlite3_column_int64(s_, c); }
  bool null(int c) { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  std::optional<double> opt(int c) {
    if (null(c)) return std::nullopt;
    return sqlite3_column_double(s_, c);
  }
  std::optional<int64_t> opt_i64(int c) {
    if (null(c)) return std::nullopt;
    return sqlite3_column_int64(s_, c);
  }
  double f64(int c) { return sqlite3_column_double(s_, c); }
  std::string text(int c) {
    auto p = sqlite3_column_text(s_, c);
    return p ? reinterpret_cast<const char*>(p) : "";
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
  int pos_ = 0;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back if an exception leaves the scope.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) { run("BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    run("COMMIT");
    done_ = true;
  }

 private:
  void run(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string m = err ? err : "?";
      sqlite3_free(err);
      throw_failure("sqlite: {}: {}", sql, m);
    }
  }
  sqlite3* db_;
  bool done_ = false;
};

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string r = "\"";
  for (char c : s) {
    if (c == '"') r += '"';
    r += c;
  }
  return r + "\"";
}

std::string num(std::optional<double> v) {
  if (!v || !std::isfinite(*v)) return "";
  return fmt::format("{:.9g}", *v);
}

bool column_exists(sqlite3* db, const char* table, const char* column) {
  Stmt q(db, fmt::format("SELECT count(*) FROM pragma_table_info('{}') WHERE name = '{}'", table, column));
  q.step();
  return q.i64(0) > 0;
}

}  // namespace

Store::Store(const std::string& path, bool read_only) : path_(path) {
  int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_FULLMUTEX, nullptr) != SQLITE_OK) {
    std::string m = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    if (read_only) throw_bad_input("{}: cannot open the database: {}", path, m);
    throw_failure("{}: cannot open the database: {}", path, m);
  }
  // A writer holds the lock only for one row's transaction; readers and writers wait for each other briefly.
  sqlite3_busy_timeout(db_, 10000);
  try {
    // Reject a file that is not SQLite (or not ours) before touching it.
    {
      Stmt probe(db_, "SELECT count(*) FROM sqlite_master");
      probe.step();
    }
    if (!read_only) {
      // WAL: readers do not block the writer. synchronous=NORMAL: every commit is in the WAL at once, so it
      // survives a crash or kill -9 of convergy; after a power loss the file is still intact (WAL mode never
      // corrupts it) but the last commits before the loss may be rolled back, and a resumed campaign measures
      // those rows again. FULL would fsync at every commit: ~5 ms each here, 75 s over the 15,000 rows of a
      // whole-zoo profile.
      exec("PRAGMA journal_mode=WAL");
      exec("PRAGMA synchronous=NORMAL");
      exec("PRAGMA foreign_keys=ON");
      exec(kSchema);
      // Files from before the median interval column: add it (NULL in old rows).
      if (!column_exists(db_, "measurements", "median_ci95_ms"))
        exec("ALTER TABLE measurements ADD COLUMN median_ci95_ms REAL");
      // And before the graph replay column (NULL in old rows: not recorded).
      if (!column_exists(db_, "measurements", "graph_replay"))
        exec("ALTER TABLE measurements ADD COLUMN graph_replay INTEGER");
      Stmt meta(db_, "INSERT OR IGNORE INTO convergy_meta(key, value) VALUES('schema_version', '1')");
      meta.step();
    } else {
      Stmt t(db_, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='measurements'");
      t.step();
      if (t.i64(0) == 0) throw_bad_input("{}: not a convergy database (no measurements table)", path);
      has_median_ci_ = column_exists(db_, "measurements", "median_ci95_ms");
      has_graph_replay_ = column_exists(db_, "measurements", "graph_replay");
    }
  } catch (const Error& e) {
    sqlite3_close(db_);
    db_ = nullptr;
    std::string m = e.what();
    if (m.find("file is not a database") != std::string::npos)
      throw_bad_input("{}: not an SQLite database, expected one written by convergy profile or study", path);
    if (m.find("database disk image is malformed") != std::string::npos)
      throw_bad_input("{}: the SQLite database is damaged (database disk image is malformed), expected an intact "
                      "one (PRAGMA integrity_check tells more)", path);
    throw;
  }
}

Store::~Store() {
  if (db_) sqlite3_close(db_);
}

void Store::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    throw_failure("sqlite: {}", m);
  }
}

Campaign Store::open_campaign(const CampaignSpec& spec) {
  Transaction tx(db_);
  Campaign c;
  {
    Stmt q(db_, "SELECT id FROM campaigns WHERE key = ? AND (status != 'finished' OR ?) ORDER BY id DESC LIMIT 1");
    q.bind(spec.key).bind(spec.reuse_finished ? 1 : 0);
    if (q.step()) {
      c.id = q.i64(0);
      c.resumed = true;
    }
  }
  std::string now = utc_now_iso8601();
  if (c.resumed) {
    Stmt u(db_, "UPDATE campaigns SET status = 'running', updated_at = ? WHERE id = ?");
    u.bind(now).bind(c.id).step();
  } else {
    Stmt i(db_,
           "INSERT INTO campaigns(key, status, created_at, updated_at, config_json, machine_json, sensor, rail) "
           "VALUES(?, 'running', ?, ?, ?, ?, ?, ?)");
    i.bind(spec.key).bind(now).bind(now).bind(spec.config_json).bind(spec.machine_json);
    i.bind_text_or_null(spec.sensor).bind_text_or_null(spec.rail).step();
    c.id = sqlite3_last_insert_rowid(db_);
  }
  tx.commit();
  return c;
}

void Store::set_idle_power(int64_t campaign, std::optional<double> before_w, std::optional<double> after_w) {
  Stmt u(db_,
         "UPDATE campaigns SET idle_before_w = coalesce(?, idle_before_w), idle_after_w = coalesce(?, idle_after_w) "
         "WHERE id = ?");
  u.bind(before_w).bind(after_w).bind(campaign).step();
}

void Store::set_status(int64_t campaign, const std::string& status) {
  Stmt u(db_, "UPDATE campaigns SET status = ?, updated_at = ? WHERE id = ?");
  u.bind(status).bind(utc_now_iso8601()).bind(campaign).step();
}

int64_t Store::add_network(int64_t campaign, const std::string& name, const std::string& source) {
  Stmt i(db_, "INSERT OR IGNORE INTO networks(campaign_id, name, source) VALUES(?, ?, ?)");
  i.bind(campaign).bind(name).bind(source).step();
  Stmt q(db_, "SELECT id FROM networks WHERE campaign_id = ? AND name = ?");
  q.bind(campaign).bind(name);
  if (!q.step()) throw_failure("sqlite: network {} vanished after insert", name);
  return q.i64(0);
}

int64_t Store::add_layer(int64_t network, const StoredLayer& layer) {
  nlohmann::ordered_json f = nlohmann::ordered_json::object();
  for (const auto& [k, v] : layer.features) f[k] = v;
  Stmt i(db_, "INSERT OR IGNORE INTO layers(network_id, idx, name, type, features_json) VALUES(?, ?, ?, ?, ?)");
  i.bind(network).bind(layer.index).bind(layer.name).bind(layer.type).bind(f.dump()).step();
  Stmt q(db_, "SELECT id FROM layers WHERE network_id = ? AND idx = ?");
  q.bind(network).bind(layer.index);
  if (!q.step()) throw_failure("sqlite: layer {} vanished after insert", layer.name);
  return q.i64(0);
}

bool Store::has_measurement(int64_t layer_id, const std::string& mode, int rep) {
  Stmt q(db_, "SELECT 1 FROM measurements WHERE layer_id = ? AND mode = ? AND rep = ?");
  q.bind(layer_id).bind(mode).bind(rep);
  return q.step();
}

void Store::insert(const std::vector<MeasurementRow>& rows) {
  Transaction tx(db_);
  std::string now = utc_now_iso8601();
  for (const auto& r : rows) {
    Stmt s(db_, r.aggregate()
                    ? "INSERT OR REPLACE INTO measurements(layer_id, mode, rep, backend, threads, time_ms, cpu_time_ms, "
                      "energy_mj, dynamic_energy_mj, power_w, sensor, rail, iterations, repeated_for_sensor, "
                      "counters_json, n, mean_ms, stddev_ms, cv, ci95_ms, energy_stddev_mj, energy_ci95_mj, created_at, "
                      "median_ci95_ms, graph_replay) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                    : "INSERT OR IGNORE INTO measurements(layer_id, mode, rep, backend, threads, time_ms, cpu_time_ms, "
                      "energy_mj, dynamic_energy_mj, power_w, sensor, rail, iterations, repeated_for_sensor, "
                      "counters_json, n, mean_ms, stddev_ms, cv, ci95_ms, energy_stddev_mj, energy_ci95_mj, created_at, "
                      "median_ci95_ms, graph_replay) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    s.bind(r.layer_id).bind(r.mode).bind(r.rep).bind(r.backend).bind(r.threads).bind(r.time_ms);
    s.bind(r.cpu_time_ms).bind(r.energy_mj).bind(r.dynamic_energy_mj).bind(r.power_w);
    s.bind_text_or_null(r.sensor).bind_text_or_null(r.rail).bind(r.iterations).bind(r.repeated_for_sensor ? 1 : 0);
    s.bind_text_or_null(r.counters_json).bind(r.n).bind(r.mean_ms).bind(r.stddev_ms).bind(r.cv).bind(r.ci95_ms);
    s.bind(r.energy_stddev_mj).bind(r.energy_ci95_mj).bind(now).bind(r.median_ci95_ms).bind(r.graph_replay ? 1 : 0);
    s.step();
  }
  tx.commit();
}

std::vector<MeasurementRow> Store::rows(int64_t layer_id, const std::string& mode) {
  Stmt q(db_,
         "SELECT layer_id, mode, rep, backend, threads, time_ms, cpu_time_ms, energy_mj, dynamic_energy_mj, power_w, "
         "coalesce(sensor, ''), coalesce(rail, ''), iterations, repeated_for_sensor, coalesce(counters_json, ''), n, "
         "mean_ms, stddev_ms, cv, ci95_ms, energy_stddev_mj, energy_ci95_mj, " +
             median_ci_column() + ", " + graph_replay_column() +
             " FROM measurements WHERE layer_id = ? AND mode = ? ORDER BY rep");
  q.bind(layer_id).bind(mode);
  std::vector<MeasurementRow> out;
  while (q.step()) {
    MeasurementRow r;
    r.layer_id = q.i64(0);
    r.mode = q.text(1);
    r.rep = static_cast<int>(q.i64(2));
    r.backend = q.text(3);
    r.threads = static_cast<int>(q.i64(4));
    r.time_ms = q.f64(5);
    r.cpu_time_ms = q.opt(6);
    r.energy_mj = q.opt(7);
    r.dynamic_energy_mj = q.opt(8);
    r.power_w = q.opt(9);
    r.sensor = q.text(10);
    r.rail = q.text(11);
    r.iterations = q.i64(12);
    r.repeated_for_sensor = q.i64(13) != 0;
    r.counters_json = q.text(14);
    r.n = q.opt_i64(15);
    r.mean_ms = q.opt(16);
    r.stddev_ms = q.opt(17);
    r.cv = q.opt(18);
    r.ci95_ms = q.opt(19);
    r.energy_stddev_mj = q.opt(20);
    r.energy_ci95_mj = q.opt(21);
    r.median_ci95_ms = q.opt(22);
    r.graph_replay = q.opt_i64(23).value_or(0) != 0;
    out.push_back(std::move(r));
  }
  return out;
}

void Store::add_samples(int64_t network, const std::string& mode, int rep, const std::vector<double>& t_s,
                        const std::vector<double>& value) {
  Transaction tx(db_);
  Stmt s(db_, "INSERT INTO samples(network_id, mode, rep, t_s, value) VALUES(?, ?, ?, ?, ?)");
  for (size_t i = 0; i < t_s.size() && i < value.size(); ++i) {
    s.reset();
    s.bind(network).bind(mode).bind(rep).bind(t_s[i]).bind(value[i]).step();
  }
  tx.commit();
}

std::string Store::median_ci_column(const std::string& table_prefix) const {
  return has_median_ci_ ? table_prefix + "median_ci95_ms" : "NULL";
}

std::string Store::graph_replay_column(const std::string& table_prefix) const {
  return has_graph_replay_ ? table_prefix + "graph_replay" : "NULL";
}

void Store::export_csv(std::ostream& out, std::optional<int64_t> campaign, bool raw) {
  std::string sql =
      "SELECT c.id, n.name, l.idx, l.name, l.type, m.mode, m.rep, m.backend, m.threads, m.time_ms, m.energy_mj, "
      "m.power_w, coalesce(m.sensor, ''), coalesce(m.rail, ''), l.features_json, m.dynamic_energy_mj, m.cpu_time_ms, "
      "m.n, m.mean_ms, m.stddev_ms, m.cv, m.ci95_ms, m.energy_stddev_mj, m.energy_ci95_mj, m.iterations, "
      "m.repeated_for_sensor, " + median_ci_column("m.") + ", " + graph_replay_column("m.") +
      " FROM measurements m JOIN layers l ON m.layer_id = l.id JOIN networks n ON "
      "l.network_id = n.id JOIN campaigns c ON n.campaign_id = c.id WHERE (?1 IS NULL OR c.id = ?1) AND "
      "(?2 OR m.rep < 0) ORDER BY c.id, n.id, m.mode, l.idx < 0, l.idx, m.rep";
  // Feature columns: every name seen, in first-seen order (the same for every layer of one build).
  struct Row {
    std::vector<std::string> head, tail;
    nlohmann::ordered_json features;
  };
  std::vector<Row> rows;
  std::vector<std::string> feature_cols;
  std::map<std::string, bool> seen;
  {
    Stmt q(db_, sql.c_str());
    q.bind(campaign).bind(raw ? 1 : 0);
    while (q.step()) {
      Row r;
      r.head = {std::to_string(q.i64(0)), csv_field(q.text(1)), std::to_string(q.i64(2)), csv_field(q.text(3)),
                csv_field(q.text(4)),     q.text(5),             q.i64(6) < 0 ? "aggregate" : "raw",
                q.i64(6) < 0 ? "" : std::to_string(q.i64(6)),  csv_field(q.text(7)), std::to_string(q.i64(8)),
                num(q.f64(9)),            num(q.opt(10)),        num(q.opt(11)),      csv_field(q.text(12)),
                csv_field(q.text(13))};
      r.features = nlohmann::ordered_json::parse(q.text(14).empty() ? "{}" : q.text(14), nullptr, false);
      if (r.features.is_discarded() || !r.features.is_object()) r.features = nlohmann::ordered_json::object();
      for (auto it = r.features.begin(); it != r.features.end(); ++it)
        if (!seen[it.key()]) {
          seen[it.key()] = true;
          feature_cols.push_back(it.key());
        }
      auto n = q.opt_i64(17);
      r.tail = {num(q.opt(15)), num(q.opt(16)), n ? std::to_string(*n) : "", num(q.opt(18)), num(q.opt(19)),
                num(q.opt(20)), num(q.opt(21)), num(q.opt(22)),              num(q.opt(23)), std::to_string(q.i64(24)),
                q.i64(25) ? "1" : "0",       num(q.opt(26)),
                q.opt_i64(27) ? (*q.opt_i64(27) ? "1" : "0") : ""};
      rows.push_back(std::move(r));
    }
  }
  out << "campaign,network,layer_index,layer,type,mode,kind,rep,backend,threads,time_ms,energy_mj,power_w,sensor,rail";
  for (const auto& f : feature_cols) out << "," << csv_field(f);
  out << ",dynamic_energy_mj,cpu_time_ms,n,mean_ms,stddev_ms,cv,ci95_ms,energy_stddev_mj,energy_ci95_mj,iterations,"
         "repeated_for_sensor,median_ci95_ms,graph_replay\n";
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.head.size(); ++i) out << (i ? "," : "") << r.head[i];
    for (const auto& f : feature_cols) {
      out << ",";
      if (r.features.contains(f) && r.features[f].is_number()) out << num(r.features[f].get<double>());
    }
    for (const auto& t : r.tail) out << "," << t;
    out << "\n";
  }
}

int64_t Store::count(const std::string& table) {
  static const char* allowed[] = {"campaigns", "networks", "layers", "measurements", "samples"};
  bool ok = false;
  for (const char* a : allowed) ok = ok || table == a;
  if (!ok) throw_bad_input("store: unknown table \"{}\"", table);
  Stmt q(db_, ("SELECT count(*) FROM " + table).c_str());
  q.step();
  return q.i64(0);
}

std::string Store::integrity_check() {
  Stmt q(db_, "PRAGMA integrity_check");
  std::string r;
  while (q.step()) r += (r.empty() ? "" : "; ") + q.text(0);
  return r;
}

}  // namespace convergy
