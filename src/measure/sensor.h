// Power and energy sensors behind one interface: powercap/RAPL, Jetson INA3221 (iio and hwmon), generic
// hwmon, power_supply and NVML. Every reader takes a sysfs root so tests can build fake boards in temp dirs.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace convergy {

// Where sensors look for files. `root` replaces "/" so tests can point at a fake tree; `open_hook`, when
// set, is asked first and may return an errno (EACCES, ENOENT, ...) to simulate a failure that root
// would otherwise bypass.
struct SysFs {
  std::string root = "/";
  std::function<int(const std::string& path)> open_hook;

  std::string path(std::string_view absolute) const;  // "/sys/class/x" -> root + "sys/class/x"
  struct Text {
    std::optional<std::string> value;  // trimmed contents, nullopt on error
    int error = 0;                     // errno of the failure
  };
  Text read(const std::string& full_path) const;  // full_path already includes root
  std::optional<double> read_number(const std::string& full_path, int* error = nullptr) const;
  bool exists(const std::string& full_path) const;
  std::vector<std::string> list(const std::string& full_dir) const;  // sorted entry names; empty on error
};

enum class SensorKind { EnergyCounter, PowerSample };
enum class Availability { Available, Missing, PermissionDenied, NotSupported };
std::string_view to_string(Availability a);
std::string_view to_string(SensorKind k);

struct SensorInfo {
  std::string name;    // unique, e.g. "rapl:package-0", "ina3221:VDD_IN", "nvml:0"
  std::string rail;    // what it measures: "package-0", "VDD_SYS_GPU", "GPU 0 (NVIDIA H100)"
  std::string source;  // "powercap", "iio ina3221x", "hwmon ina3221", "hwmon ina226", "power_supply", "nvml"
  std::string unit;    // unit of the raw file value: "uJ", "mW", "uW", "mV*mA", "uA*uV", "mJ"
  SensorKind kind = SensorKind::PowerSample;
  double update_period_ms = 0;  // how often the value changes (nominal; measure_update_period() measures)
  bool board_total = false;     // the whole board's input; never add other rails of the same board to it
  std::string part_of;          // name of the sensor that already includes this one ("" if none)
  std::string path;             // main file read
};

struct SensorStatus {
  Availability availability = Availability::Available;
  std::string reason;  // why not available
  std::string fix;     // what the user can do about it
};

class Sensor {
 public:
  Sensor(SensorInfo info, SensorStatus status) : info_(std::move(info)), status_(std::move(status)) {}
  virtual ~Sensor() = default;
  const SensorInfo& info() const { return info_; }
  const SensorStatus& status() const { return status_; }
  bool available() const { return status_.availability == Availability::Available; }
  // For discovery, which links rails once all of a board's sensors are known.
  SensorInfo& mutable_info() { return info_; }

  // EnergyCounter: cumulative joules since the first read, with wraparound undone.
  // PowerSample: instantaneous watts. nullopt if this read failed.
  virtual std::optional<double> read() = 0;

 protected:
  SensorInfo info_;
  SensorStatus status_;
};

// A family probed and found absent or unusable as a whole (e.g. no /sys/class/powercap).
struct ProbeNote {
  std::string family;
  SensorStatus status;
};

struct Discovery {
  std::vector<std::unique_ptr<Sensor>> sensors;  // available or not; each says why
  std::vector<ProbeNote> notes;
};

// Probes every family under `fs`. Never throws for missing or unreadable files.
Discovery discover_sensors(const SysFs& fs, bool with_nvml = true);

// The sensor to use when the user says "auto": a board-total rail, else the RAPL packages, else the
// first available one. nullptr if none is available.
Sensor* choose_auto_sensor(const Discovery& d);
// By name (exact, or the rail name when unique). nullptr if not found.
Sensor* find_sensor(const Discovery& d, std::string_view name);

// Throws BadInput if summing `sensors` would count power twice: a board total with its own sub-rails,
// or a zone with its parent zone (RAPL core inside package).
void check_disjoint(const std::vector<const Sensor*>& sensors);

// Counter delta with wraparound: a counter that restarts from 0 after `max_range` (0 = unknown).
double counter_delta(double previous, double current, double max_range);

// Polls `sensor` for `duration_ms` and returns the mean time between value changes, or nullopt if the
// value never changed.
std::optional<double> measure_update_period_ms(Sensor& sensor, double duration_ms);

// Factories (also used by discover_sensors), exposed for tests.
std::vector<std::unique_ptr<Sensor>> probe_powercap(const SysFs& fs, std::vector<ProbeNote>& notes);
std::vector<std::unique_ptr<Sensor>> probe_iio_ina3221(const SysFs& fs, std::vector<ProbeNote>& notes);
std::vector<std::unique_ptr<Sensor>> probe_hwmon(const SysFs& fs, std::vector<ProbeNote>& notes);
std::vector<std::unique_ptr<Sensor>> probe_power_supply(const SysFs& fs, std::vector<ProbeNote>& notes);

// NVML, loaded with dlopen. The function table is injectable so tests can play a GPU that answers
// NOT_SUPPORTED without a driver.
struct NvmlApi {
  using Device = void*;
  std::function<int()> init;
  std::function<int(unsigned*)> device_count;
  std::function<int(unsigned, Device*)> handle_by_index;
  std::function<int(Device, std::string*)> name;
  std::function<int(Device, unsigned long long*)> total_energy_mj;
  std::function<int(Device, unsigned*)> power_mw;
  std::function<std::string(int)> error_string;
  std::function<int(std::string*)> driver_version;                 // may be empty (tests)
  std::function<int(Device, int type, bool max, unsigned*)> clock_mhz;  // type: 0 graphics, 1 SM, 2 memory
  std::shared_ptr<void> keep_alive;  // the dlopen handle
};
// Loads libnvidia-ml.so.1; nullopt (with the reason in *why) if it is not there.
std::optional<NvmlApi> load_nvml(std::string* why);
std::vector<std::unique_ptr<Sensor>> probe_nvml(const NvmlApi& api, std::vector<ProbeNote>& notes);

// One GPU as NVML describes it, for `convergy sensors` and the machine state of a campaign.
struct GpuInfo {
  unsigned index = 0;
  std::string name, driver;
  std::optional<unsigned> sm_mhz, mem_mhz, max_sm_mhz;
  SensorStatus energy;  // whether nvmlDeviceGetTotalEnergyConsumption answers, and why not
};
// Empty (with the reason in *why) when NVML cannot be initialised or sees no GPU.
std::vector<GpuInfo> nvml_gpus(const NvmlApi& api, std::string* why);

}  // namespace convergy
