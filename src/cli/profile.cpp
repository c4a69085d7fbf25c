// `convergy profile NET...`: per-layer time and energy into the SQLite store, in markers and/or isolated mode.
// Every measured row is committed at once; rerunning the same command resumes an interrupted campaign, and
// SIGINT/SIGTERM finish the current row and exit cleanly (exit code 128 + signal). The measurement loop lives
// in src/study/campaign.cpp, shared with `convergy study`.
#include "cli/command.h"
#include "cli/format.h"
#include "cli/limits.h"
#include "import/load.h"
#include "study/campaign.h"

namespace convergy::cli {
namespace {

const Command kProfile{
    {"profile", "Measure per-layer time (and energy where a sensor exists) into the SQLite store", 50,
     [](CLI::App& sub) -> std::function<int()> {
       add_limit_options(sub);
       auto o = std::make_shared<study::CampaignOptions>();
       auto input_shapes = std::make_shared<std::vector<std::string>>();
       auto classes = std::make_shared<int64_t>(0);
       sub.add_option(
              "net", o->nets,
              "Zoo names, .prototxt or .onnx files; NAME@1x3x160x160 at another input shape, NAME@classes=10 "
              "with another number of classes")
           ->required();
       sub.add_option(
           "--input-shape", *input_shapes,
           "Input shape of every network, name=1x3x224x224 or 1x3x224x224 for the first input (stored "
           "as NAME@SHAPE)");
       add_classes_option(sub, *classes, true, "stored as");
       sub.add_option("--backend", o->backend, "reference | openblas | eigen | onednn | cudnn")->capture_default_str();
       sub.add_option("--threads", o->threads, "Threads of the backend")->capture_default_str();
       sub.add_option("--sensor", o->sensor, "auto | none | a name from `convergy sensors`")->capture_default_str();
       sub.add_option("--mode", o->mode, "markers | isolated | both")->capture_default_str();
       sub.add_option("--reps", o->reps, "Repetitions per layer and mode, at least")->capture_default_str();
       sub.add_option("--max-reps", o->max_reps,
                      "Adaptive repetitions: up to this many while a layer's median is uncertain (<= --reps: off)")
           ->capture_default_str();
       sub.add_option("--target-ci", o->target_ci,
                      "Adaptive repetitions stop when the 95% interval of the median is within this fraction of it")
           ->capture_default_str();
       sub.add_option("--ci-min-ms", o->ci_min_ms, "Adaptive repetitions only for layers at least this long")
           ->capture_default_str();
       sub.add_option("--warmup", o->warmup, "Untimed whole-network runs first")->capture_default_str();
       sub.add_option("--min-window-ms", o->min_window_ms, "Shortest timing window; iterations grow to fill it")
           ->capture_default_str();
       sub.add_option("--idle-s", o->idle_s, "Idle power measurement before and after (with a sensor)")
           ->capture_default_str();
       sub.add_flag("--interleave", o->interleave, "Random layer order in each isolated repetition");
       sub.add_flag("--tf32", o->tf32, "cudnn: allow TF32 tensor-core math (off: full fp32)");
       sub.add_option("--energy-window-s", o->energy_window_s,
                      "Energy windows at least this long (default: 10 sensor update periods)")
           ->check(CLI::NonNegativeNumber);
       sub.add_option("--cooldown-ms", o->cooldown_ms, "Pause before each energy window")->check(CLI::NonNegativeNumber);
       sub.add_flag("--random-phase", o->random_phase,
                    "Start each energy window at a random phase of the sensor's update period");
       sub.add_flag("--graph-replay", o->graph_replay,
                    "cudnn: replay CUDA graphs in energy and isolated windows (no launch gaps); the whole network's "
                    "energy then comes from a replay window like the layers'");
       sub.add_option("--seed", o->seed, "Weights and interleaving seed")->capture_default_str();
       sub.add_flag("--no-passes", o->no_passes, "Profile the graph as defined (no folding or fusion)");
       sub.add_flag("!--no-counters", o->counters, "Do not try hardware performance counters");
       sub.add_option("--db", o->db, "SQLite database")->capture_default_str();
       sub.add_option("--marker-log", o->marker_log,
                      "Play sync pulses and log layer intervals for an external meter (see `convergy attribute`)");
       sub.add_option("--sysfs-root", o->sysfs_root, "Read sensors under this folder (tests)")->group("");
       return [o, input_shapes, classes] {
         for (auto& net : o->nets) net = network_name(net, *input_shapes, *classes);
         study::CampaignResult r = study::run_campaign(*o);
         return r.stop_signal ? 128 + r.stop_signal : 0;
       };
     }}};

}  // namespace
}  // namespace convergy::cli
