// NVIDIA GPUs through NVML, loaded at run time with dlopen so convergy builds and runs without the driver.
// NOT_SUPPORTED (e.g. the energy counter on pre-Volta GPUs) is detected and reported, never shown as 0.
#include "measure/sensor.h"

#include <dlfcn.h>
#include <fmt/format.h>

namespace convergy {
namespace {

// nvmlReturn_t values from the NVML API reference (no header needed at build time).
constexpr int kNvmlSuccess = 0;
constexpr int kNvmlNotSupported = 3;
constexpr int kNvmlNoPermission = 4;

class NvmlSensor : public Sensor {
 public:
  NvmlSensor(SensorInfo info, SensorStatus status, NvmlApi api, NvmlApi::Device dev)
      : Sensor(std::move(info), std::move(status)), api_(std::move(api)), dev_(dev) {}

  std::optional<double> read() override {
    if (info_.kind == SensorKind::EnergyCounter) {
      unsigned long long mj = 0;
      if (api_.total_energy_mj(dev_, &mj) != kNvmlSuccess) return std::nullopt;
      if (!first_) first_ = mj;
      return static_cast<double>(mj - *first_) * 1e-3;  // a 64-bit mJ counter since driver load: no wrap
    }
    unsigned mw = 0;
    if (api_.power_mw(dev_, &mw) != kNvmlSuccess) return std::nullopt;
    return mw * 1e-3;
  }

 private:
  NvmlApi api_;
  NvmlApi::Device dev_;
  std::optional<unsigned long long> first_;
};

SensorStatus status_of(const NvmlApi& api, int rc, const std::string& what) {
  if (rc == kNvmlSuccess) return {};
  std::string msg = api.error_string ? api.error_string(rc) : fmt::format("error {}", rc);
  if (rc == kNvmlNotSupported)
    return {Availability::NotSupported, fmt::format("{}: NVML says NOT_SUPPORTED", what),
            "this GPU or driver does not report it (the energy counter needs Volta or newer)"};
  if (rc == kNvmlNoPermission)
    return {Availability::PermissionDenied, fmt::format("{}: NVML says NO_PERMISSION", what),
            "run as root or ask the administrator to allow NVML queries"};
  return {Availability::NotSupported, fmt::format("{}: NVML error: {}", what, msg), ""};
}

}  // namespace

std::optional<NvmlApi> load_nvml(std::string* why) {
  void* h = ::dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    if (why) *why = "libnvidia-ml.so.1 not found (no NVIDIA driver)";
    return std::nullopt;
  }
  std::shared_ptr<void> handle(h, [](void* p) { ::dlclose(p); });
  auto sym = [h](const char* n) { return ::dlsym(h, n); };
  using InitFn = int (*)();
  using CountFn = int (*)(unsigned*);
  using HandleFn = int (*)(unsigned, void**);
  using NameFn = int (*)(void*, char*, unsigned);
  using EnergyFn = int (*)(void*, unsigned long long*);
  using PowerFn = int (*)(void*, unsigned*);
  using ErrFn = const char* (*)(int);
  using DriverFn = int (*)(char*, unsigned);
  using ClockFn = int (*)(void*, int, unsigned*);
  auto init = reinterpret_cast<InitFn>(sym("nvmlInit_v2"));
  auto count = reinterpret_cast<CountFn>(sym("nvmlDeviceGetCount_v2"));
  auto handle_fn = reinterpret_cast<HandleFn>(sym("nvmlDeviceGetHandleByIndex_v2"));
  auto name = reinterpret_cast<NameFn>(sym("nvmlDeviceGetName"));
  auto energy = reinterpret_cast<EnergyFn>(sym("nvmlDeviceGetTotalEnergyConsumption"));
  auto power = reinterpret_cast<PowerFn>(sym("nvmlDeviceGetPowerUsage"));
  auto err = reinterpret_cast<ErrFn>(sym("nvmlErrorString"));
  auto driver = reinterpret_cast<DriverFn>(sym("nvmlSystemGetDriverVersion"));
  auto clock = reinterpret_cast<ClockFn>(sym("nvmlDeviceGetClockInfo"));
  auto max_clock = reinterpret_cast<ClockFn>(sym("nvmlDeviceGetMaxClockInfo"));
  if (!init || !count || !handle_fn || !power) {
    if (why) *why = "libnvidia-ml.so.1 lacks nvmlInit_v2/nvmlDeviceGetPowerUsage (driver too old)";
    return std::nullopt;
  }
  NvmlApi api;
  api.keep_alive = handle;
  api.init = [init] { return init(); };
  api.device_count = [count](unsigned* n) { return count(n); };
  api.handle_by_index = [handle_fn](unsigned i, NvmlApi::Device* d) { return handle_fn(i, d); };
  api.name = [name](NvmlApi::Device d, std::string* out) {
    if (!name) return kNvmlNotSupported;
    char buf[96] = {};
    int rc = name(d, buf, sizeof buf);
    if (rc == kNvmlSuccess) *out = buf;
    return rc;
  };
  api.total_energy_mj = [energy](NvmlApi::Device d, unsigned long long* mj) {
    return energy ? energy(d, mj) : kNvmlNotSupported;  // symbol absent in old drivers
  };
  api.power_mw = [power](NvmlApi::Device d, unsigned* mw) { return power(d, mw); };
  api.error_string = [err](int rc) { return std::string(err ? err(rc) : "unknown NVML error"); };
  api.driver_version = [driver](std::string* out) {
    if (!driver) return kNvmlNotSupported;
    char buf[96] = {};
    int rc = driver(buf, sizeof buf);
    if (rc == kNvmlSuccess) *out = buf;
    return rc;
  };
  api.clock_mhz = [clock, max_clock](NvmlApi::Device d, int type, bool max, unsigned* mhz) {
    auto fn = max ? max_clock : clock;
    return fn ? fn(d, type, mhz) : kNvmlNotSupported;
  };
  return api;
}

std::vector<std::unique_ptr<Sensor>> probe_nvml(const NvmlApi& api, std::vector<ProbeNote>& notes) {
  std::vector<std::unique_ptr<Sensor>> out;
  int rc = api.init();
  if (rc != kNvmlSuccess) {
    notes.push_back({"nvml", status_of(api, rc, "nvmlInit")});
    return out;
  }
  unsigned n = 0;
  rc = api.device_count(&n);
  if (rc != kNvmlSuccess || n == 0) {
    notes.push_back({"nvml", rc != kNvmlSuccess ? status_of(api, rc, "nvmlDeviceGetCount")
                                                : SensorStatus{Availability::Missing, "NVML sees no GPU", ""}});
    return out;
  }
  for (unsigned i = 0; i < n; ++i) {
    NvmlApi::Device dev = nullptr;
    if (api.handle_by_index(i, &dev) != kNvmlSuccess) continue;
    std::string gpu = "GPU";
    if (api.name) api.name(dev, &gpu);
    SensorInfo info;
    info.source = "nvml";
    info.rail = fmt::format("GPU {} ({})", i, gpu);
    info.path = "libnvidia-ml.so.1";
    // Prefer the energy counter; fall back to power samples; say why when neither works.
    unsigned long long mj = 0;
    int erc = api.total_energy_mj(dev, &mj);
    unsigned mw = 0;
    int prc = api.power_mw(dev, &mw);
    if (erc == kNvmlSuccess) {
      info.name = fmt::format("nvml:{}:energy", i);
      info.kind = SensorKind::EnergyCounter;
      info.unit = "mJ";
      info.update_period_ms = 100;  // nominal; the driver refreshes it on its own schedule
      out.push_back(std::make_unique<NvmlSensor>(info, SensorStatus{}, api, dev));
    }
    SensorInfo pinfo = info;
    if (erc == kNvmlSuccess) pinfo.part_of = info.name;  // the same GPU: never add the two
    pinfo.name = fmt::format("nvml:{}:power", i);
    pinfo.kind = SensorKind::PowerSample;
    pinfo.unit = "mW";
    pinfo.update_period_ms = 100;
    out.push_back(std::make_unique<NvmlSensor>(pinfo, status_of(api, prc, "nvmlDeviceGetPowerUsage"), api, dev));
    if (erc != kNvmlSuccess) {
      info.name = fmt::format("nvml:{}:energy", i);
      info.kind = SensorKind::EnergyCounter;
      info.unit = "mJ";
      out.push_back(std::make_unique<NvmlSensor>(info, status_of(api, erc, "nvmlDeviceGetTotalEnergyConsumption"),
                                                 api, dev));
    }
  }
  return out;
}

std::vector<GpuInfo> nvml_gpus(const NvmlApi& api, std::string* why) {
  std::vector<GpuInfo> out;
  int rc = api.init();
  unsigned n = 0;
  if (rc == kNvmlSuccess) rc = api.device_count(&n);
  if (rc != kNvmlSuccess || n == 0) {
    if (why) *why = rc != kNvmlSuccess ? status_of(api, rc, "NVML").reason : "NVML sees no GPU";
    return out;
  }
  std::string driver;
  if (api.driver_version) api.driver_version(&driver);
  for (unsigned i = 0; i < n; ++i) {
    NvmlApi::Device dev = nullptr;
    if (api.handle_by_index(i, &dev) != kNvmlSuccess) continue;
    GpuInfo g;
    g.index = i;
    g.driver = driver;
    if (api.name) api.name(dev, &g.name);
    auto clock = [&](int type, bool max) -> std::optional<unsigned> {
      unsigned mhz = 0;
      if (api.clock_mhz && api.clock_mhz(dev, type, max, &mhz) == kNvmlSuccess) return mhz;
      return std::nullopt;
    };
    g.sm_mhz = clock(1, false);
    g.mem_mhz = clock(2, false);
    g.max_sm_mhz = clock(1, true);
    unsigned long long mj = 0;
    g.energy = status_of(api, api.total_energy_mj(dev, &mj), "nvmlDeviceGetTotalEnergyConsumption");
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace convergy
