// A SYNTHETIC StudyResults for rendering tests only: plausible shapes and magnitudes, made-up numbers from
// a fixed seed. Nothing here is a measurement.
#include "report_test_util.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>
#include <vector>

namespace convergy::report::testing {

namespace {

struct Net {
  const char* name;
  double openblas_ms;            // made-up magnitudes in the range a 2-core machine gives
  double conv, fc, pool, other;  // made-up shares of the total
};

// The last one has every XML special character in its name, to test escaping end to end.
const Net kNets[] = {
    {"alexnet", 48, 0.71, 0.22, 0.03, 0.04},      {"vgg16", 1150, 0.91, 0.07, 0.01, 0.01},
    {"googlenet", 112, 0.88, 0.01, 0.05, 0.06},   {"resnet18", 152, 0.9, 0.01, 0.02, 0.07},
    {"resnet50", 341, 0.89, 0.01, 0.01, 0.09},    {"squeezenet1_0", 36, 0.86, 0.0, 0.06, 0.08},
    {"mobilenet_v1", 61, 0.9, 0.02, 0.01, 0.07},  {"mobilenet_v2", 47, 0.82, 0.02, 0.01, 0.15},
    {"densenet121", 276, 0.83, 0.01, 0.03, 0.13}, {"toy<&\"'>net", 3.2, 0.6, 0.3, 0.05, 0.05},
};

struct FeatureSet {
  const char* name;
  double error_sd;  // spread of the made-up relative errors
  double bias;
  int complexity[4];  // conv, fc, pool, other
  double accuracy[4];
};

const FeatureSet kSets[] = {
    {"macs", 0.2, 0.08, {1, 1, 1, 1}, {0.79, 0.83, 0.52, 0.61}},
    {"macs+1", 0.13, 0.03, {2, 2, 2, 2}, {0.85, 0.88, 0.7, 0.74}},
    {"macs+mem", 0.045, 0.0, {5, 5, 5, 5}, {0.93, 0.92, 0.86, 0.83}},
    {"neuralpower", 0.07, 0.01, {41, 17, 12, 9}, {0.91, 0.9, 0.84, 0.8}},
    {"counters", 0.05, 0.0, {4, 4, 4, 4}, {0.94, 0.93, 0.87, 0.85}},
};

const char* kTypes[] = {"conv", "fc", "pool", "other"};

}  // namespace

StudyResults synthetic_study(bool quick) {
  std::mt19937 rng(20180611);
  std::normal_distribution<double> normal(0, 1);
  StudyResults r;
  StudyInfo& i = r.info;
  i.convergy_version = "0.1.0-test";
  i.created_utc = "2026-11-26T12:00:00Z";
  i.quick = quick;
  i.machine = {
      "synthetic-host", "Synthetic CPU @ 2.20GHz (test fixture)", 2, "Debian GNU/Linux 12", "GCC 12.2.0",
      "RelWithDebInfo"};
  i.backends = {"openblas", "eigen", "onednn"};
  i.threads = 2;
  i.sensor = "none";
  i.target = "time_ms";
  i.target_reason = "no power sensor on this machine: the target is time";
  i.wall_time_s = quick ? 58.4 : 512.0;
  i.measured_rows = quick ? 0 : 24310;
  i.reused_rows = quick ? 5120 : 0;
  i.notes = {"SYNTHETIC test fixture: made-up numbers for rendering tests, not measurements."};

  struct Local {
    const char* id;
    const char* label;
    const char* backend;
    double speed;
  };
  const Local locals[] = {{"local-openblas", "This machine · OpenBLAS", "openblas", 1.0},
                          {"local-eigen", "This machine · Eigen", "eigen", 1.32},
                          {"local-onednn", "This machine · oneDNN", "onednn", 0.61}};
  for (const auto& l : locals)
    r.combinations.push_back({l.id, l.label, "synthetic-host, 2 cores",
                              fmt::format("{}, 2 threads, FP32", l.backend), "measured by this study",
                              "time_ms", "per layer"});
  r.combinations.push_back({"tx2-cpu", "Jetson TX2 · CPU rail", "NVIDIA Jetson TX2, VDD_SYS_CPU",
                            "PyTorch eager, FP32", "shared data: tx2-conv-layers.csv", "energy_mj",
                            "standalone layers"});
  r.combinations.push_back({"tx2-gpu", "Jetson TX2 · GPU rail", "NVIDIA Jetson TX2, VDD_SYS_GPU",
                            "PyTorch eager + cuDNN, FP32", "shared data: tx2-conv-layers.csv", "energy_mj",
                            "standalone layers"});
  r.combinations.push_back({"nano-trt", "Jetson Nano · TensorRT", "NVIDIA Jetson Nano 4 GB, module input",
                            "TensorRT FP32", "shared data: jetson-nano/networks.csv", "energy_mj",
                            "whole networks"});

  const size_t n_nets = quick ? 6 : std::size(kNets);
  auto noisy = [&](double v, double sd) { return std::clamp(v + sd * normal(rng), 0.05, 0.995); };

  for (const auto& l : locals) {
    const bool has_counters = std::string(l.backend) == "openblas";
    for (const char* eval : {"lono", "split"}) {
      for (const auto& fs : kSets) {
        if (std::string(fs.name) == "counters" && !has_counters) continue;
        for (int t = 0; t < 4; ++t)
          r.layer_types.push_back({l.id, eval, fs.name, kTypes[t], noisy(fs.accuracy[t], 0.015),
                                   std::max(0.01, (1 - fs.accuracy[t]) * 1.35 + 0.01 * normal(rng)),
                                   fs.complexity[t], t == 0 ? 180 : (t == 1 ? 14 : 40)});
        for (size_t n = 0; n < n_nets; ++n) {
          // The fixed split tests on about a third of the networks.
          if (std::string(eval) == "split" && n % 3 != 2) continue;
          const Net& net = kNets[n];
          const double measured = net.openblas_ms * l.speed * (1 + 0.03 * normal(rng));
          const double err = fs.bias + fs.error_sd * normal(rng);
          r.predictions.push_back({l.id, eval, fs.name, net.name, "network", measured, measured * (1 + err)});
          if (std::string(eval) == "lono" &&
              (std::string(fs.name) == "macs+mem" || std::string(fs.name) == "macs")) {
            Breakdown b{l.id, net.name, fs.name, {}};
            const double shares[4] = {net.conv, net.fc, net.pool, net.other};
            for (int t = 0; t < 4; ++t) {
              if (shares[t] == 0) continue;
              const double m = measured * shares[t];
              b.parts.push_back({kTypes[t], m, m * (1 + err + 0.05 * normal(rng))});
            }
            r.breakdowns.push_back(std::move(b));
          }
        }
      }
    }
  }

  // TX2: standalone convolution layers, energy in mJ, spread over five orders of magnitude.
  const size_t n_layers = quick ? 120 : 400;
  std::uniform_real_distribution<double> log_energy(std::log(0.6), std::log(50000.0));
  const int wh[] = {11, 20, 30, 40, 50, 60, 70, 80, 90, 100};
  const int ch[] = {3, 59, 116, 172, 229, 285, 342, 398, 455, 512};
  const int ks[] = {1, 3, 5, 7, 11};
  for (const char* rail : {"tx2-cpu", "tx2-gpu"}) {
    // As the study does for thousands of layers: every 4th layer is listed (and plotted), the metrics
    // are over all of them.
    std::vector<std::pair<double, double>> every[4];
    for (const char* eval : {"lono", "split"})
      for (size_t f = 0; f < 4; ++f) {
        const FeatureSet& fs = kSets[f];
        r.layer_types.push_back({rail, eval, fs.name, "conv", noisy(fs.accuracy[0] - 0.06, 0.02),
                                 (1 - fs.accuracy[0]) * 1.6, fs.complexity[0], static_cast<int>(n_layers)});
      }
    for (size_t k = 0; k < n_layers; ++k) {
      const double measured = std::exp(log_energy(rng));
      const std::string item =
          fmt::format("conv k{} {}->{} @{}", ks[k % 5], ch[(k / 5) % 10], ch[(k / 7) % 10], wh[k % 10]);
      for (size_t f = 0; f < 4; ++f) {
        // Small layers are dominated by fixed overheads a MAC-only model cannot see.
        const double small = measured < 20 ? 0.25 : 0.0;
        const double err = kSets[f].bias + (kSets[f].error_sd * 1.4 + small / (f + 1)) * normal(rng);
        every[f].emplace_back(measured, measured * (1 + err));
        if (k % 4 == 0)
          r.predictions.push_back(
              {rail, "lono", kSets[f].name, item, "layer", measured, measured * (1 + err)});
      }
    }
    for (size_t f = 0; f < 4; ++f) {
      HeldOutSummary h = summarise_held_out(every[f]);
      h.combination = rail;
      h.evaluation = "lono";
      h.feature_set = kSets[f].name;
      h.item_kind = "layer";
      r.held_out.push_back(h);
    }
  }

  // Nano: whole networks only, so layer-type rows carry complexity but no accuracy.
  for (size_t f = 0; f < 3; ++f) {
    const FeatureSet& fs = kSets[f];
    r.layer_types.push_back(
        {"nano-trt", "split", fs.name, "conv", std::nullopt, std::nullopt, fs.complexity[0], 0});
    r.layer_types.push_back(
        {"nano-trt", "split", fs.name, "fc", std::nullopt, std::nullopt, fs.complexity[1], 0});
  }
  const size_t n_nano = quick ? 30 : 60;
  for (size_t k = 0; k < n_nano; ++k) {
    const int layers = 2 + static_cast<int>(k % 9), filters = 64 << (k % 4),
              kernel = 1 + static_cast<int>(k % 4);
    const int w = 10 + 10 * static_cast<int>(k % 10);
    const std::string name = fmt::format("convnet_L{}_F{}_K{}x{}_W{}", layers, filters, kernel, kernel, w);
    const double measured =
        std::exp(std::uniform_real_distribution<double>(std::log(110.0), std::log(5100.0))(rng));
    for (size_t f = 0; f < 3; ++f) {
      const double err = kSets[f].bias * 0.5 + kSets[f].error_sd * 0.9 * normal(rng);
      r.predictions.push_back(
          {"nano-trt", "split", kSets[f].name, name, "network", measured, measured * (1 + err)});
    }
    if (k < 3) {
      Breakdown b{"nano-trt", name, "macs+mem", {}};
      b.parts.push_back({"conv", std::nullopt, measured * 0.93});
      b.parts.push_back({"fc", std::nullopt, measured * 0.05});
      r.breakdowns.push_back(std::move(b));
    }
  }
  // Transfer rows: a family held out, a transfer far outside the training data (accuracy below 0, 3 intervals
  // unbounded), and one without intervals.
  r.transfer.push_back({"nano-trt", "leave-one-family-out", "the other families", "family=dws", "macs+mem",
                        800, 400, 0.867, 0.439, 0.923, 0.9, "5-fold", 0.891, 0, 1.62});
  r.transfer.push_back({"nano-trt", "synthetic -> real", "jetson-nano/networks.csv",
                        "data/jetson-nano-real/networks.csv", "macs+mem", 1200, 7, -12.055, 0.0, 0.0, 0.9,
                        "5-fold", 0.891, 3, 2.4});
  r.transfer.push_back({"nano-trt", "leave-one-family-out", "the other families", "family=conv", "macs", 800, 430, 0.81,
                        0.3, std::nullopt, std::nullopt, "5-fold", std::nullopt});
  // A learning curve: 10 networks drawn 5 times (no interval: too few rows), then 100 with one.
  r.learning.push_back({"nano-trt", "transfer", "network", 10, 1190, 5, 0.874, 0.82, 0.905, 0.58,
                        std::nullopt, std::nullopt, std::nullopt});
  r.learning.push_back(
      {"nano-trt", "transfer", "network", 100, 1100, 5, 0.931, 0.928, 0.934, 0.77, 0.952, 0.9, 1.53, 12});
  return r;
}

}  // namespace convergy::report::testing
