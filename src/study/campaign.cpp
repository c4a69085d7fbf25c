// Profiling campaigns into the store (see campaign.h): the measurement loop shared by `convergy profile`
// and `convergy study`, so that both measure in exactly the same way.
#include "study/campaign.h"

#include "features/features.h"
#include "graph/passes.h"
#include "import/load.h"
#include "measure/marker_log.h"
#include "measure/profiler.h"
#include "measure/stats.h"
#include "store/store.h"
#include "util/error.h"
#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <unistd.h>
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <fmt/ranges.h>

namespace convergy::study {
namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
// Internal linkage: another subcommand may define its own handler.
void profile_stop_handler(int sig) { g_stop_signal = sig; }



// Progress: a bar with ETA on a terminal, plain lines otherwise (logs, CI).
class Progress {
 public:
  Progress(int64_t total, int64_t done) : total_(total), done_(done), start_done_(done), tty_(::isatty(2) != 0) {
    t0_ = monotonic_s();
  }
  void step(int64_t n, const std::string& what, bool line_break) {
    std::fflush(stdout);  // keep notes on stdout in order with progress on stderr
    done_ += n;
    double elapsed = monotonic_s() - t0_;
    int64_t measured = done_ - start_done_;
    std::string eta = "?";
    if (measured > 0 && done_ < total_) eta = duration(elapsed / static_cast<double>(measured) * (total_ - done_));
    if (done_ >= total_) eta = "0s";
    if (tty_) {
      int width = 30;
      int filled = total_ > 0 ? static_cast<int>(width * done_ / total_) : width;
      fmt::print(stderr, "\r[{}{}] {:3}% {}/{} ETA {:<8} {:<40.40}", std::string(static_cast<size_t>(filled), '#'),
                 std::string(static_cast<size_t>(width - filled), '.'), total_ ? 100 * done_ / total_ : 100, done_,
                 total_, eta, what);
      if (done_ >= total_) fmt::print(stderr, "\n");
    } else if (line_break) {
      fmt::print(stderr, "progress: {}/{} rows, ETA {}: {}\n", done_, total_, eta, what);
    }
  }
  void grow(int64_t n) { total_ += n; }  // adaptive repetitions add rows nobody counted at the start
  void finish_line() {
    if (tty_) fmt::print(stderr, "\n");
  }

 private:
  static std::string duration(double s) {
    if (s < 60) return fmt::format("{:.0f}s", s);
    return fmt::format("{:.0f}m{:02.0f}s", std::floor(s / 60), std::fmod(s, 60));
  }
  int64_t total_, done_, start_done_;
  bool tty_;
  double t0_;
};

// CPU time over wall time of the measured windows: at least 1 on a quiet machine (more with threads), below
// 1 when other processes took the CPU from the measured code.
class CpuShare {
 public:
  void add(const LayerMeasurement& m) {
    if (!m.cpu_time_ms) return;
    wall_s_ += m.time_ms * static_cast<double>(m.iterations) / 1e3;
    cpu_s_ += *m.cpu_time_ms * static_cast<double>(m.iterations) / 1e3;
  }
  // nullopt below one second of measured windows (too little to judge).
  std::optional<double> share() const {
    if (wall_s_ < 1.0) return std::nullopt;
    return cpu_s_ / wall_s_;
  }

 private:
  double wall_s_ = 0, cpu_s_ = 0;
};

struct PreparedNet {
  std::string spec;
  Graph graph;
};

std::string counters_json(const LayerMeasurement& m) {
  if (m.counters.empty()) return {};
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& [k, v] : m.counters) j[k] = v;
  return j.dump();
}

MeasurementRow to_row(const LayerMeasurement& m, int64_t layer_id, const CampaignOptions& o, const Sensor* sensor) {
  MeasurementRow r;
  r.layer_id = layer_id;
  r.mode = m.mode;
  r.rep = m.rep;
  r.backend = o.backend;
  r.threads = o.threads;
  r.time_ms = m.time_ms;
  r.cpu_time_ms = m.cpu_time_ms;
  r.energy_mj = m.energy_mj;
  r.dynamic_energy_mj = m.dynamic_energy_mj;
  r.power_w = m.power_w;
  if (sensor && m.energy_mj) {
    r.sensor = sensor->info().name;
    r.rail = sensor->info().rail;
  }
  r.iterations = m.iterations;
  r.repeated_for_sensor = m.repeated_for_sensor;
  r.graph_replay = m.graph_replay;
  r.counters_json = counters_json(m);
  return r;
}

MeasurementRow aggregate_row(const std::vector<MeasurementRow>& raw_rows, const CampaignOptions& o,
                             const Sensor* sensor) {
  std::vector<LayerMeasurement> raw;
  for (const auto& r : raw_rows) {
    if (r.aggregate()) continue;
    LayerMeasurement m;
    m.mode = r.mode;
    m.rep = r.rep;
    m.iterations = r.iterations;
    m.time_ms = r.time_ms;
    m.cpu_time_ms = r.cpu_time_ms;
    m.energy_mj = r.energy_mj;
    m.dynamic_energy_mj = r.dynamic_energy_mj;
    m.power_w = r.power_w;
    m.repeated_for_sensor = r.repeated_for_sensor;
    m.graph_replay = r.graph_replay;
    raw.push_back(m);
  }
  Summary ts;
  std::optional<Summary> es;
  LayerMeasurement a = aggregate(raw, &ts, &es);
  MeasurementRow row = to_row(a, raw_rows.front().layer_id, o, sensor);
  row.rep = -1;
  row.counters_json.clear();
  row.n = static_cast<int64_t>(ts.n);
  row.mean_ms = ts.mean;
  row.stddev_ms = ts.stddev;
  row.cv = ts.cv;
  row.ci95_ms = ts.ci95_half;
  row.median_ci95_ms = ts.median_ci95_half();
  if (es && a.energy_mj) {
    row.energy_stddev_mj = es->stddev;
    row.energy_ci95_mj = es->ci95_half;
  }
  return row;
}

// Half of the memory available now (MemAvailable in /proc/meminfo), or 2 GiB where that cannot be read.
int64_t default_memory_budget() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  long long kb = 0;
  while (std::getline(in, line))
    if (std::sscanf(line.c_str(), "MemAvailable: %lld kB", &kb) == 1 && kb > 0) return kb * 1024 / 2;
  return int64_t{2} << 30;
}

// What an executor of `g` will hold, from the graph alone (Executor::memory() once built): its weights, and
// every blob as if none shared a buffer (an upper bound).
int64_t estimated_bytes(const Graph& g) {
  int64_t floats = 0;
  for (const Layer& l : g.layers())
    for (const WeightSpec& w : l.weights) floats += w.shape.elems();
  for (const Blob& b : g.blobs()) floats += b.shape.elems();
  return floats * static_cast<int64_t>(sizeof(float));
}

std::vector<std::pair<std::string, double>> feature_columns(const LayerFeatures& f) {
  std::vector<std::pair<std::string, double>> v;
  for (const auto& n : feature_names()) {
    if (n == "1") continue;
    if (auto x = f.get(n)) v.push_back({n, *x});
  }
  return v;
}

}  // namespace

CampaignResult run_campaign(const CampaignOptions& o) {
  CampaignResult result;
  if (o.mode != "markers" && o.mode != "isolated" && o.mode != "both")
    throw_bad_input("--mode {}: expected markers, isolated or both", o.mode);
  if (o.reps < 1) throw_bad_input("--reps {}: expected at least 1", o.reps);
  if (!(o.target_ci > 0) || !(o.ci_min_ms >= 0))
    throw_bad_input("--target-ci {} / --ci-min-ms {}: expected a positive fraction and a non-negative time",
                    o.target_ci, o.ci_min_ms);
  const int max_reps = std::max(o.reps, o.max_reps);
  if (o.threads < 1) throw_bad_input("--threads {}: expected at least 1", o.threads);
  auto backends = Executor::available_backends();
  if (std::find(backends.begin(), backends.end(), o.backend) == backends.end())
    throw_bad_input("--backend {}: not in this build or, for cudnn, no GPU here (available: {})", o.backend,
                    fmt::join(backends, ", "));

  // Load every network first, so a typo fails before any measuring.
  std::vector<PreparedNet> nets;
  for (const auto& spec : o.nets) {
    Graph g = load_network(spec);
    PassResult p = run_passes(g, o.no_passes ? PassOptions::none() : PassOptions{});
    nets.push_back({spec, std::move(p.graph)});
  }

  SysFs fs;
  fs.root = o.sysfs_root;
  Discovery d = discover_sensors(fs, o.sysfs_root == "/");
  Sensor* sensor = nullptr;
  if (o.sensor == "auto") {
    sensor = choose_auto_sensor(d);
  } else if (o.sensor != "none") {
    sensor = find_sensor(d, o.sensor);
    if (!sensor) {
      std::vector<std::string> names;
      for (auto& s : d.sensors) names.push_back(s->info().name);
      throw_bad_input("--sensor {}: no such sensor (found: {}; see `convergy sensors`)", o.sensor,
                      names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", ")));
    }
    if (!sensor->available())
      throw_bad_input("--sensor {}: {}: {}{}", o.sensor, to_string(sensor->status().availability),
                      sensor->status().reason, sensor->status().fix.empty() ? "" : " (fix: " + sensor->status().fix + ")");
  }
  if (sensor) {
    result.sensor = sensor->info().name;
    result.rail = sensor->info().rail;
    result.target_reason = fmt::format("energy from {} ({}, {}, updates every {:g} ms)", sensor->info().name,
                                       sensor->info().rail, to_string(sensor->info().kind),
                                       sensor->info().update_period_ms);
    fmt::print("{}energy: {}\n", o.progress_prefix, result.target_reason);
  } else {
    result.target_reason = o.sensor == "none" ? "energy not measured (--sensor none): the target is time"
                                              : "no readable power sensor on this machine (see `convergy sensors`): "
                                                "the target is time";
    fmt::print("{}energy: not measured ({}); the target is time, and energy is stored as missing (NULL)\n",
               o.progress_prefix,
               o.sensor == "none" ? "--sensor none" : "no readable power sensor, see `convergy sensors`");
  }

  nlohmann::ordered_json config = {{"networks", o.nets},
                                   {"backend", o.backend},
                                   {"threads", o.threads},
                                   {"mode", o.mode},
                                   {"reps", o.reps},
                                   {"max_reps", max_reps},
                                   {"target_ci", o.target_ci},
                                   {"ci_min_ms", o.ci_min_ms},
                                   {"warmup", o.warmup},
                                   {"min_window_ms", o.min_window_ms},
                                   {"interleave", o.interleave},
                                   {"seed", o.seed},
                                   {"passes", !o.no_passes},
                                   {"sensor", sensor ? sensor->info().name : "none"}};
  // Only recorded when they differ from the defaults, so earlier campaigns keep their keys (and resume).
  if (o.tf32) config["tf32"] = true;
  if (o.energy_window_s > 0) config["energy_window_s"] = o.energy_window_s;
  if (o.cooldown_ms > 0) config["cooldown_ms"] = o.cooldown_ms;
  if (o.random_phase) config["random_phase"] = true;
  if (o.graph_replay) config["graph_replay"] = true;
  // Campaigns of older kernels are other measurements: a rerun measures again instead of reusing them.
  if (kKernelRevision != 1) config["kernels"] = kKernelRevision;
  Store store(o.db);
  CampaignSpec spec;
  spec.key = config.dump();  // the same command resumes the same campaign
  // The order of the repetitions is recorded, but is not part of the key: a campaign measured in either
  // order holds the same rows, and one order may resume or reuse the other's.
  config["rounds"] = o.rounds;
  spec.config_json = config.dump();
  spec.machine_json =
      machine_state_json(fs, o.backend, o.threads, o.backend == "cudnn" ? (o.tf32 ? "tf32=on" : "tf32=off") : "");
  spec.reuse_finished = o.reuse_finished;
  if (sensor) {
    spec.sensor = sensor->info().name;
    spec.rail = sensor->info().rail;
  }
  Campaign campaign = store.open_campaign(spec);
  result.campaign_id = campaign.id;
  result.resumed = campaign.resumed;
  fmt::print("{}campaign {} in {}{}\n", o.progress_prefix, campaign.id, o.db, campaign.resumed ? " (resumed)" : "");

  struct sigaction sa {};
  sa.sa_handler = profile_stop_handler;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int {}, old_term {};
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  g_stop_signal = 0;

  bool do_markers = o.mode != "isolated", do_isolated = o.mode != "markers";
  ProfileOptions popt;
  popt.warmup_runs = o.warmup;
  popt.reps = o.reps;
  popt.min_window_ms = o.min_window_ms;
  popt.interleave = o.interleave;
  // Markers mode times whole-network runs only, but with a sensor its short layers get their energy from
  // windows of the layer alone, which need calibrated iteration counts.
  popt.calibrate_layers = do_isolated || sensor != nullptr;
  popt.seed = o.seed;
  popt.energy_window_ms = o.energy_window_s * 1e3;
  popt.cooldown_ms = o.cooldown_ms;
  popt.random_phase = o.random_phase;
  popt.graph_replay = o.graph_replay;
  popt.on_note = [&o](const std::string& note) { fmt::print("{}note: {}\n", o.progress_prefix, note); };
  if (o.counters) popt.perf_events = default_perf_events();

  // With an external meter: play two sync pulses the meter will see, then log every layer interval.
  std::ofstream markers;
  const Graph* marker_graph = nullptr;
  std::string marker_net;
  if (!o.marker_log.empty()) {
    markers.open(o.marker_log, std::ios::trunc);
    if (!markers) throw_bad_input("--marker-log {}: cannot write the file", o.marker_log);
    write_marker_header(markers);
    fmt::print("sync pulses for the external meter (2 s)...\n");
    std::fflush(stdout);
    for (double t : run_sync_pulses()) write_marker_event(markers, {"sync_start", t, 0, "", "", -1, -1, -1});
    markers.flush();
    popt.on_marker = [&](const std::string& event, double t, double end, LayerId l, int rep, int64_t it) {
      MarkerEvent e{event, t, end, marker_net, "", l, rep, it};
      if (marker_graph && l >= 0) e.layer = marker_graph->layer(l).name;
      write_marker_event(markers, e);
    };
  }

  // Register networks and layers, and count the rows still to measure.
  struct NetIds {
    int64_t net = 0, whole = 0;
    std::map<LayerId, int64_t> layer;
  };
  std::vector<NetIds> ids(nets.size());
  int64_t total = 0, done = 0;
  for (size_t i = 0; i < nets.size(); ++i) {
    const Graph& g = nets[i].graph;
    ids[i].net = store.add_network(campaign.id, nets[i].spec, nets[i].spec);
    NetworkFeatures nf = network_features(g);
    StoredLayer whole{-1, "(network)", "Network",
                      {{"macs", static_cast<double>(nf.macs)}, {"ops", static_cast<double>(nf.ops)},
                       {"params", static_cast<double>(nf.params)},
                       {"weight_bytes", static_cast<double>(nf.weight_bytes)}}};
    ids[i].whole = store.add_layer(ids[i].net, whole);
    int64_t n_layers = 0;
    for (LayerId l = 0; l < g.num_layers(); ++l) {
      if (g.layer(l).kind == LayerKind::Input) continue;
      LayerFeatures f = layer_features(g, l);
      ids[i].layer[l] = store.add_layer(ids[i].net, {l, g.layer(l).name, std::string(layer_kind_name(g.layer(l).kind)),
                                                     feature_columns(f)});
      ++n_layers;
    }
    for (int r = 0; r < o.reps; ++r) {
      if (do_markers) {
        total += n_layers + 1;
        if (store.has_measurement(ids[i].whole, "markers", r)) done += n_layers + 1;
      }
      if (do_isolated)
        for (auto& [l, id] : ids[i].layer) {
          ++total;
          if (store.has_measurement(id, "isolated", r)) ++done;
        }
    }
  }

  Progress progress(total, done);
  int64_t written = 0;
  CpuShare busy;
  std::optional<double> idle_before, idle_after;
  auto stopped = [&] { return g_stop_signal != 0; };

  // What measures one network: created when it is first needed, released when the network is done.
  struct Live {
    std::unique_ptr<Executor> ex;
    std::unique_ptr<ExecutorWorkload> work;
    std::unique_ptr<Profiler> prof;
  };
  std::vector<Live> live(nets.size());
  // What the networks kept ready between rounds weigh at most; rounds run over groups of networks that fit.
  result.memory_budget_bytes = o.memory_budget_bytes > 0 ? o.memory_budget_bytes : default_memory_budget();
  auto note_ready = [&] {
    int64_t n = 0;
    for (const Live& lv : live)
      if (lv.ex) n += lv.ex->memory().total();
    result.ready_bytes_peak = std::max(result.ready_bytes_peak, n);
  };
  bool counters_noted = false;
  auto ensure_profiler = [&](size_t i) -> Profiler& {
    Live& lv = live[i];
    if (lv.prof) return *lv.prof;
    lv.ex = std::make_unique<Executor>(nets[i].graph, ExecutorOptions{o.backend, o.threads, o.seed, true, o.tf32});
    note_ready();
    // One line per network: the reasons with their layer counts (ShuffleNet alone has 32 such layers).
    std::map<std::string, int> reasons;
    for (const auto& f : lv.ex->fallbacks()) ++reasons[f.reason];
    if (!reasons.empty()) {
      std::vector<std::string> parts;
      for (const auto& [why, n] : reasons) parts.push_back(fmt::format("{} x{}", why, n));
      fmt::print("{}note: {}: {} layers run on the reference kernel ({})\n", o.progress_prefix, nets[i].spec,
                 lv.ex->fallbacks().size(), fmt::join(parts, "; "));
    }
    if (!lv.ex->skipped().empty()) {
      std::vector<std::string> names;
      for (const auto& f : lv.ex->skipped()) names.push_back(f.layer);
      fmt::print("{}note: {}: {} layers have no kernel and are not run, so not measured: {}\n", o.progress_prefix,
                 nets[i].spec, names.size(), fmt::join(names, ", "));
    }
    lv.work = std::make_unique<ExecutorWorkload>(*lv.ex);
    lv.prof = std::make_unique<Profiler>(*lv.work, sensor, popt);
    if (sensor && !idle_before) {
      idle_before = lv.prof->measure_idle_w(o.idle_s);
      store.set_idle_power(campaign.id, idle_before, std::nullopt);
    }
    lv.prof->set_idle_power(idle_before);
    lv.prof->warm_up();
    if (!counters_noted && !lv.prof->counter_failures().empty()) {
      counters_noted = true;
      const auto& f = lv.prof->counter_failures().front();
      fmt::print("counters: {} of the requested events cannot be opened (e.g. {}: {}); profiling goes on "
                 "without them\n",
                 lv.prof->counter_failures().size(), f.event, f.reason);
    }
    return *lv.prof;
  };

  // Aggregates are recomputed only where this run added raw rows or one is missing, so a run that finds
  // everything measured writes nothing.
  std::vector<char> wrote_markers(nets.size(), 0), wrote_isolated(nets.size(), 0);
  auto markers_rep = [&](size_t i, int r) {
    if (store.has_measurement(ids[i].whole, "markers", r)) return;
    const bool extra = r >= o.reps;
    marker_graph = &nets[i].graph;
    marker_net = nets[i].spec;
    const bool warm = live[i].prof != nullptr;
    Profiler& prof = ensure_profiler(i);
    // In rounds, the other networks ran since this one's last repetition: one untimed run refills the caches.
    if (warm && o.rounds) live[i].work->run(nullptr);
    wrote_markers[i] = 1;
    auto ms = prof.markers_rep(r);
    std::vector<MeasurementRow> rows;
    for (const auto& m : ms) {
      rows.push_back(to_row(m, m.layer == kWholeNetwork ? ids[i].whole : ids[i].layer.at(m.layer), o, sensor));
      if (m.layer == kWholeNetwork) busy.add(m);
    }
    store.insert(rows);  // one transaction: the whole repetition or nothing
    written += static_cast<int64_t>(rows.size());
    if (extra) progress.grow(static_cast<int64_t>(rows.size()));
    progress.step(static_cast<int64_t>(rows.size()),
                  fmt::format("{} markers rep {}{}", nets[i].spec, r + 1, extra ? " (adaptive)" : ""), true);
  };
  // Adaptive repetitions: the raw times of one row so far, and whether its median is still too uncertain.
  // The rule reads only stored rows, so a resumed campaign takes the same decisions.
  auto raw_times = [&](int64_t id, const std::string& mode) {
    std::vector<double> t;
    for (const auto& x : store.rows(id, mode))
      if (!x.aggregate()) t.push_back(x.time_ms);
    return t;
  };
  auto too_wide = [&](const std::vector<double>& t) {
    auto s = summarize(t);
    return s && s->median >= o.ci_min_ms && s->median_ci95_rel() > o.target_ci;
  };
  // Whether network i gets markers repetition r >= reps: it has it already (a resume), or a long layer's
  // median interval is still too wide.
  auto markers_need_rep = [&](size_t i, int r) {
    if (r >= max_reps) return false;
    if (store.has_measurement(ids[i].whole, "markers", r)) return true;
    if (too_wide(raw_times(ids[i].whole, "markers"))) return true;
    for (auto& [l, lid] : ids[i].layer)
      if (too_wide(raw_times(lid, "markers"))) return true;
    return false;
  };
  auto markers_aggregate = [&](size_t i) {
    std::vector<int64_t> layer_ids{ids[i].whole};
    for (auto& [l, lid] : ids[i].layer) layer_ids.push_back(lid);
    std::vector<MeasurementRow> aggs;
    for (int64_t id : layer_ids) {
      if (!wrote_markers[i] && store.has_measurement(id, "markers", -1)) continue;
      auto raw = store.rows(id, "markers");
      size_t n_raw = 0;
      for (auto& x : raw) n_raw += x.aggregate() ? 0 : 1;
      if (n_raw >= static_cast<size_t>(o.reps)) aggs.push_back(aggregate_row(raw, o, sensor));
    }
    store.insert(aggs);
  };

  if (do_markers && o.rounds) {
    // Repetition r of every network before repetition r + 1 of any: a burst of load from another process
    // then slows one repetition of a few networks, which their medians reject, instead of every repetition
    // of one network.
    // Adaptive repetitions continue in rounds over the networks that still need them.
    // The networks of a group stay ready between rounds, so a group is what fits the memory budget (the whole
    // zoo held 5.3 GB; a Jetson Nano has 4 GB): consecutive networks while their estimate fits, at least one.
    std::vector<size_t> starts;
    int64_t group_bytes = 0, all_bytes = 0;
    for (size_t i = 0; i < nets.size(); ++i) {
      const int64_t bytes = estimated_bytes(nets[i].graph);
      all_bytes += bytes;
      if (starts.empty() || group_bytes + bytes > result.memory_budget_bytes) {
        starts.push_back(i);
        group_bytes = 0;
      }
      group_bytes += bytes;
    }
    result.round_groups = static_cast<int>(starts.size());
    if (starts.size() > 1)
      fmt::print(
          "{}memory: the {} networks would hold about {:.0f} MB ready between rounds, over the budget of "
          "{:.0f} MB (--memory-budget-mb): they are measured in {} groups of rounds\n",
          o.progress_prefix, nets.size(), all_bytes / 1048576.0, result.memory_budget_bytes / 1048576.0,
          starts.size());
    starts.push_back(nets.size());
    std::vector<char> open(nets.size(), 1);
    auto close = [&](size_t i) {
      open[i] = 0;
      markers_aggregate(i);
      // Kept for the isolated mode only when every network fits at once.
      if (!do_isolated || starts.size() > 2) live[i] = Live{};
    };
    for (size_t g = 0; g + 1 < starts.size() && !stopped(); ++g) {
      const size_t begin = starts[g], end = starts[g + 1];
      for (int r = 0; r < max_reps && !stopped(); ++r) {
        for (size_t i = begin; i < end && !stopped(); ++i) {
          if (!open[i]) continue;
          if (r >= o.reps && !markers_need_rep(i, r)) {
            close(i);
            continue;
          }
          markers_rep(i, r);
        }
      }
      for (size_t i = begin; i < end && !stopped(); ++i)
        if (open[i]) close(i);
    }
  }
  for (size_t i = 0; i < nets.size() && !stopped(); ++i) {
    const Graph& g = nets[i].graph;
    if (do_markers && !o.rounds) {
      for (int r = 0; r < o.reps && !stopped(); ++r) markers_rep(i, r);
      for (int r = o.reps; !stopped() && markers_need_rep(i, r); ++r) markers_rep(i, r);
      if (!stopped()) markers_aggregate(i);
    }
    if (do_isolated && !stopped()) {
      marker_graph = &g;
      marker_net = nets[i].spec;
      for (int r = 0; r < max_reps && !stopped(); ++r) {
        // Base repetitions measure every layer; adaptive ones only the layers whose median is still uncertain.
        std::map<LayerId, bool> todo;
        for (auto& [l, id] : ids[i].layer) {
          if (store.has_measurement(id, "isolated", r)) continue;
          if (r < o.reps) {
            todo[l] = true;
          } else {
            auto t = raw_times(id, "isolated");
            if (static_cast<int>(t.size()) == r && too_wide(t)) todo[l] = true;
          }
        }
        if (todo.empty()) {
          if (r >= o.reps) break;
          continue;
        }
        if (r >= o.reps) progress.grow(static_cast<int64_t>(todo.size()));
        Profiler& prof = ensure_profiler(i);
        for (LayerId l : prof.isolated_order(r)) {
          if (stopped()) break;
          if (!todo.count(l)) continue;
          int64_t id = ids[i].layer.at(l);
          auto m = prof.isolated(l, r);
          busy.add(m);
          wrote_isolated[i] = 1;
          store.insert({to_row(m, id, o, sensor)});  // committed as soon as measured
          ++written;
          progress.step(1, fmt::format("{} isolated rep {} {}", nets[i].spec, r + 1, g.layer(l).name), false);
        }
        if (!stopped())
          progress.step(0, fmt::format("{} isolated rep {}{}", nets[i].spec, r + 1, r >= o.reps ? " (adaptive)" : ""),
                        true);
      }
      if (!stopped()) {
        std::vector<MeasurementRow> aggs;
        for (auto& [l, id] : ids[i].layer) {
          if (!wrote_isolated[i] && store.has_measurement(id, "isolated", -1)) continue;
          auto raw = store.rows(id, "isolated");
          size_t n_raw = 0;
          for (auto& x : raw) n_raw += x.aggregate() ? 0 : 1;
          if (n_raw >= static_cast<size_t>(o.reps)) aggs.push_back(aggregate_row(raw, o, sensor));
        }
        store.insert(aggs);
      }
    }
    live[i] = Live{};
  }
  progress.finish_line();

  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  if (stopped()) {
    store.set_status(campaign.id, "interrupted");
    fmt::print("interrupted by {} after {} new rows; every measured row is saved. Run the same command again to "
               "resume campaign {}.\n",
               g_stop_signal == SIGINT ? "SIGINT" : "SIGTERM", written, campaign.id);
    result.written = written;
    result.already = done;
    result.stop_signal = g_stop_signal;
    return result;
  }
  if (sensor && written > 0) {
    // Idle after the campaign.
    SensorRecorder rec(*sensor);
    double t0 = 0, t1 = 0;
    Trace tr = rec.record([&] { ::usleep(static_cast<useconds_t>(o.idle_s * 1e6)); }, &t0, &t1);
    idle_after = mean_power_w(tr, t0, t1);
    store.set_idle_power(campaign.id, std::nullopt, idle_after);
  }
  store.set_status(campaign.id, "finished");
  result.cpu_share = busy.share();
  if (result.cpu_share && *result.cpu_share < 0.85)
    fmt::print("{}warning: the measured code got {:.0f}% of a CPU (CPU time / wall time of the timing windows): "
               "other processes were running, so these timings are inflated and noisy. Profile on a quiet "
               "machine.\n",
               o.progress_prefix, 100 * *result.cpu_share);
  fmt::print("{}campaign {} finished: {} new rows in {} ({} already there){}\n", o.progress_prefix, campaign.id,
             written, o.db, done, sensor ? "" : "; energy not measured (no sensor): stored as NULL");
  result.written = written;
  result.already = done;
  return result;
}

}  // namespace convergy::study
