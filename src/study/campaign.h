// A profiling campaign: measure per-layer time (and energy where a sensor exists) of several networks on
// one backend into the SQLite store. Every measured row is committed at once; running the same campaign
// again resumes it; SIGINT/SIGTERM finish the current row and return cleanly. `convergy profile` and
// `convergy study` both run campaigns through this function.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace convergy::study {

struct CampaignOptions {
  std::vector<std::string> nets;  // zoo names or model files
  std::string backend = "openblas";
  int threads = 1;
  std::string sensor = "auto";  // auto | none | a sensor name
  std::string mode = "both";    // markers | isolated | both
  int reps = 5;  // repetitions of every layer and mode, at least
  // Adaptive repetitions: after `reps`, layers whose median lasts at least `ci_min_ms` get more repetitions
  // (whole-network runs in markers mode, the layer alone in isolated mode) until the distribution-free 95%
  // interval of their median is within `target_ci` of it, or `max_reps` is reached. max_reps <= reps turns
  // this off.
  int max_reps = 20;
  double target_ci = 0.02;
  double ci_min_ms = 1.0;
  int warmup = 2;
  double min_window_ms = 10;
  double idle_s = 2;
  bool interleave = false;
  bool tf32 = false;               // cudnn: allow TF32 math (recorded in the campaign's config and machine state)
  double energy_window_s = 0;      // energy windows at least this long (0: 10 sensor update periods)
  double cooldown_ms = 0;          // pause before each energy window
  bool random_phase = false;       // random start phase of each energy window within the sensor's period
  bool graph_replay = false;       // cudnn: energy and isolated windows replay CUDA graphs (ProfileOptions)
  // Markers mode: repetition r of every network before repetition r + 1 of any (each network's profiler
  // stays alive between rounds), so that transient load from other processes cannot slow every
  // repetition of one network. Otherwise all repetitions of a network run back to back.
  bool rounds = false;
  // Rounds: the most host memory the networks kept ready between rounds may hold (their weights and blobs).
  // Networks that do not fit at once are measured in consecutive groups that do, each group in rounds; each
  // network is built once. 0: half of the memory available when the campaign starts (the whole study held
  // 5.3 GB; a Jetson Nano has 4 GB in all).
  int64_t memory_budget_bytes = 0;
  uint64_t seed = 1;
  bool no_passes = false;
  bool counters = true;
  std::string db = "convergy.db";
  std::string sysfs_root = "/";
  std::string marker_log;       // write the layer marker log here (for external meters)
  std::string progress_prefix;  // printed before progress lines, e.g. "[openblas] "
  // Reuse a finished campaign of the same options (the study: a rerun measures nothing); `convergy profile`
  // starts a new campaign once the last one finished.
  bool reuse_finished = false;
};

struct CampaignResult {
  int64_t campaign_id = 0;
  bool resumed = false;
  int64_t written = 0;  // rows measured now
  int64_t already = 0;  // rows found in the store
  int stop_signal = 0;  // SIGINT/SIGTERM that interrupted it, 0 when it finished
  std::string sensor;   // sensor name, empty when energy was not measured
  std::string rail;
  std::string target_reason;  // why the target is energy or time
  // CPU time / wall time of the windows measured now: 1 or more on a quiet machine, below 1 when other
  // processes took the CPU; nullopt when less than a second was measured.
  std::optional<double> cpu_share;
  int64_t memory_budget_bytes = 0;  // the budget that applied (rounds)
  int64_t ready_bytes_peak = 0;     // the most the ready networks held at once (Executor::memory())
  int round_groups = 0;             // groups of networks measured in rounds (1: all at once)
};

// Throws BadInput for bad options or networks (before measuring anything).
CampaignResult run_campaign(const CampaignOptions& options);

}  // namespace convergy::study
