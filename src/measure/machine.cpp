// Machine state recorded with every campaign, so a measurement can be judged later (google/benchmark's context).
#include "measure/profiler.h"

#include "convergy/version.h"
#include "runtime/backend.h"

#include <nlohmann/json.hpp>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

extern "C" char* openblas_get_config(void);

namespace convergy {
namespace {

std::optional<std::string> text(const SysFs& fs, const std::string& abs) { return fs.read(fs.path(abs)).value; }

nlohmann::json number_or_null(std::optional<double> v) { return v ? nlohmann::json(*v) : nlohmann::json(); }

}  // namespace

std::string machine_state_json(const SysFs& fs, const std::string& backend, int threads,
                               const std::string& math_mode) {
  nlohmann::ordered_json j;
  j["convergy_version"] = CONVERGY_VERSION;
  j["backend"] = backend;
  j["threads"] = threads;
  if (!math_mode.empty()) j["math_mode"] = math_mode;
#ifdef CONVERGY_HAVE_CUDNN
  if (backend == "cudnn") j["cuda_libraries"] = runtime::cudnn_library_versions();
#endif
  // GPUs whenever the driver is there (not only for the cudnn backend: a GPU's idle draw is part of the
  // machine's state).
  if (fs.root == "/") {
    std::string why;
    nlohmann::ordered_json gpus = nlohmann::ordered_json::array();
    if (auto api = load_nvml(&why))
      for (const GpuInfo& g : nvml_gpus(*api, &why))
        gpus.push_back({{"index", g.index},
                        {"name", g.name},
                        {"driver", g.driver},
                        {"sm_clock_mhz", g.sm_mhz ? nlohmann::json(*g.sm_mhz) : nlohmann::json()},
                        {"mem_clock_mhz", g.mem_mhz ? nlohmann::json(*g.mem_mhz) : nlohmann::json()},
                        {"max_sm_clock_mhz", g.max_sm_mhz ? nlohmann::json(*g.max_sm_mhz) : nlohmann::json()},
                        {"energy_counter", std::string(to_string(g.energy.availability))}});
    j["gpus"] = gpus;
  }
  j["available_backends"] = Executor::available_backends();
#ifdef NDEBUG
  j["build"] = "optimised (NDEBUG)";
#else
  j["build"] = "debug (assertions on)";
#endif
  j["compiler"] = __VERSION__;
  j["blas"] = backend == "openblas" ? nlohmann::json(openblas_get_config()) : nlohmann::json();
  // CPU model: x86 "model name", ARM "Hardware"/"CPU part" lines.
  std::string model;
  if (auto cpuinfo = text(fs, "/proc/cpuinfo")) {
    std::istringstream in(*cpuinfo);
    for (std::string line; std::getline(in, line);) {
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
      if (key == "model name" || key == "Hardware" || (model.empty() && key == "CPU part")) {
        model = line.substr(line.find_first_not_of(" \t", colon + 1));
        if (key == "model name" || key == "Hardware") break;
      }
    }
  }
  j["cpu_model"] = model.empty() ? nlohmann::json() : nlohmann::json(model);
  j["cpus_online"] = text(fs, "/sys/devices/system/cpu/online").value_or("");
  j["logical_cpus"] = static_cast<int64_t>(::sysconf(_SC_NPROCESSORS_ONLN));
  const std::string cpufreq = "/sys/devices/system/cpu/cpu0/cpufreq/";
  j["governor"] = text(fs, cpufreq + "scaling_governor") ? nlohmann::json(*text(fs, cpufreq + "scaling_governor"))
                                                        : nlohmann::json();
  auto khz = [&](const char* f) {
    auto v = fs.read_number(fs.path(cpufreq + f));
    return v ? std::optional<double>(*v / 1000.0) : std::nullopt;
  };
  j["freq_cur_mhz"] = number_or_null(khz("scaling_cur_freq"));
  j["freq_min_mhz"] = number_or_null(khz("scaling_min_freq"));
  j["freq_max_mhz"] = number_or_null(khz("scaling_max_freq"));
  j["loadavg"] = text(fs, "/proc/loadavg").value_or("");
  j["aslr"] = number_or_null(fs.read_number(fs.path("/proc/sys/kernel/randomize_va_space")));
  nlohmann::ordered_json temps = nlohmann::ordered_json::object();
  const std::string tz = fs.path("/sys/class/thermal");
  for (const auto& z : fs.list(tz)) {
    if (z.rfind("thermal_zone", 0) != 0) continue;
    auto type = fs.read(tz + "/" + z + "/type").value.value_or(z);
    if (auto t = fs.read_number(tz + "/" + z + "/temp")) temps[type] = *t / 1000.0;
  }
  j["temperatures_c"] = temps;
  // Jetson power mode: nvpmodel keeps the current mode in its status file.
  auto nvp = text(fs, "/var/lib/nvpmodel/status");
  j["nvpmodel"] = nvp ? nlohmann::json(*nvp) : nlohmann::json();
  utsname u;
  if (::uname(&u) == 0) j["kernel"] = std::string(u.sysname) + " " + u.release + " " + u.machine;
  return j.dump();
}

}  // namespace convergy
