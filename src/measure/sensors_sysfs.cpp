// The sysfs sensor families: powercap/RAPL, Jetson INA3221 (L4T iio ina3221x and JetPack 5+ hwmon ina3221),
// generic hwmon power monitors (INA219/226/238...) and power_supply (batteries, USB, mains).
#include "measure/sensor_files.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <map>
#include <set>

namespace convergy {
namespace {

const char* kRaplPermissionFix =
    "since Linux 5.10 energy_uj is readable by root only (CVE-2020-8694): run as root, or "
    "`sudo chmod o+r /sys/class/powercap/intel-rapl:*/energy_uj` (a udev rule makes it permanent)";

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// Rails that carry the whole board's input power on Jetson modules.
bool is_board_total_rail(std::string_view rail) { return rail == "VDD_IN" || rail == "POM_5V_IN"; }

// Marks every other rail of the same board as part of the board-total rail, if one exists.
void link_board_rails(std::vector<std::unique_ptr<Sensor>>& sensors, size_t first) {
  std::string total;
  for (size_t i = first; i < sensors.size(); ++i)
    if (sensors[i]->info().board_total) total = sensors[i]->info().name;
  if (total.empty()) return;
  for (size_t i = first; i < sensors.size(); ++i) {
    auto& info = sensors[i]->mutable_info();
    if (!info.board_total) info.part_of = total;
  }
}

// A sensor whose main file failed to read still appears, with the reason.
SensorStatus probe_file(const SysFs& fs, const std::string& path, const std::string& permission_fix = {}) {
  int err = 0;
  auto v = fs.read_number(path, &err);
  if (v) return {};
  if (err == EINVAL) return {Availability::NotSupported, fmt::format("{}: not a number", path), ""};
  return status_from_errno(err, path, permission_fix);
}

}  // namespace

std::vector<std::unique_ptr<Sensor>> probe_powercap(const SysFs& fs, std::vector<ProbeNote>& notes) {
  std::vector<std::unique_ptr<Sensor>> out;
  const std::string base = fs.path("/sys/class/powercap");
  if (!fs.exists(base)) {
    notes.push_back({"powercap (RAPL)",
                     {Availability::Missing, "/sys/class/powercap does not exist",
                      "needs an Intel/AMD CPU with RAPL and the intel_rapl_msr (or intel_rapl_common) module; "
                      "virtual machines usually do not expose it"}});
    return out;
  }
  // Zone names: intel-rapl:P (package), intel-rapl:P:S (subzone). intel-rapl-mmio:* repeat the package
  // zones through another interface, so they are skipped to avoid counting a package twice.
  std::vector<std::string> zones;
  for (const auto& e : fs.list(base))
    if (starts_with(e, "intel-rapl:") || starts_with(e, "amd-rapl:")) zones.push_back(e);
  if (zones.empty()) {
    notes.push_back({"powercap (RAPL)",
                     {Availability::Missing, "/sys/class/powercap has no intel-rapl zones",
                      "load the intel_rapl_msr module (`modprobe intel_rapl_msr`); not available in most VMs"}});
    return out;
  }
  std::map<std::string, std::string> zone_sensor_name;  // zone dir -> sensor name, for subzone parents
  for (const auto& z : zones) {
    const std::string dir = base + "/" + z;
    auto name = fs.read(dir + "/name").value.value_or(z);
    auto colon = z.find(':');
    bool subzone = z.find(':', colon + 1) != std::string::npos;
    std::string parent_zone = subzone ? z.substr(0, z.rfind(':')) : std::string();
    SensorInfo info;
    info.source = "powercap";
    info.kind = SensorKind::EnergyCounter;
    info.unit = "uJ";
    info.update_period_ms = 1.0;  // RAPL updates its counters about every 976 us
    info.path = dir + "/energy_uj";
    if (subzone && zone_sensor_name.count(parent_zone)) {
      const std::string& parent = zone_sensor_name[parent_zone];
      info.rail = parent.substr(5) + "/" + name;  // "package-0/core"
      info.name = parent + "/" + name;
      // core (PP0) and uncore (PP1) are inside the package domain; dram is a separate domain.
      if (name == "core" || name == "uncore") info.part_of = parent;
    } else {
      info.rail = name;
      info.name = "rapl:" + name;
      // psys (platform) covers the whole SoC, packages included.
      info.board_total = name == "psys";
    }
    zone_sensor_name[z] = info.name;
    double max_range = fs.read_number(dir + "/max_energy_range_uj").value_or(0);
    SensorStatus st = probe_file(fs, info.path, kRaplPermissionFix);
    out.push_back(std::make_unique<FileCounterSensor>(info, st, fs, 1e-6, max_range));
  }
  // psys includes every package: link them so they are never added together.
  std::string psys;
  for (auto& s : out)
    if (s->info().board_total) psys = s->info().name;
  if (!psys.empty())
    for (auto& s : out) {
      auto& info = s->mutable_info();
      if (!info.board_total && info.part_of.empty()) info.part_of = psys;
    }
  return out;
}

std::vector<std::unique_ptr<Sensor>> probe_iio_ina3221(const SysFs& fs, std::vector<ProbeNote>& notes) {
  std::vector<std::unique_ptr<Sensor>> out;
  const std::string base = fs.path("/sys/bus/iio/devices");
  bool any = false;
  for (const auto& dev : fs.list(base)) {
    const std::string dir = base + "/" + dev;
    auto driver = fs.read(dir + "/name").value.value_or("");
    if (driver != "ina3221x") continue;
    any = true;
    for (int ch = 0; ch < 3; ++ch) {
      auto rail = fs.read(fmt::format("{}/rail_name_{}", dir, ch)).value;
      if (!rail || rail->empty() || *rail == "NC") continue;
      SensorInfo info;
      info.source = "iio ina3221x";
      info.rail = *rail;
      info.name = "ina3221:" + *rail;
      info.kind = SensorKind::PowerSample;
      info.unit = "mW";
      // The L4T driver converts shunt and bus voltage of 3 channels at 1.1 ms each.
      info.update_period_ms = 6.6;
      info.board_total = is_board_total_rail(*rail);
      std::string power = fmt::format("{}/in_power{}_input", dir, ch);
      if (fs.exists(power)) {
        info.path = power;
        out.push_back(std::make_unique<FilePowerSensor>(info, probe_file(fs, power), fs, 1e-3));
      } else {
        // Some L4T releases expose only current and voltage for a channel.
        std::string v = fmt::format("{}/in_voltage{}_input", dir, ch), i = fmt::format("{}/in_current{}_input", dir, ch);
        info.path = i;
        info.unit = "mV*mA";
        SensorStatus st = probe_file(fs, v);
        if (st.availability == Availability::Available) st = probe_file(fs, i);
        out.push_back(std::make_unique<ProductPowerSensor>(info, st, fs, v, 1e-3, i, 1e-3));
      }
    }
  }
  if (!any)
    notes.push_back({"Jetson INA3221 (iio ina3221x, L4T 28/32)",
                     {Availability::Missing, "no iio device named ina3221x", "present on Jetson TX1/TX2/Nano/Xavier"}});
  link_board_rails(out, 0);
  return out;
}

std::vector<std::unique_ptr<Sensor>> probe_hwmon(const SysFs& fs, std::vector<ProbeNote>& notes) {
  std::vector<std::unique_ptr<Sensor>> out;
  const std::string base = fs.path("/sys/class/hwmon");
  bool jetson = false, generic = false;
  size_t jetson_first = 0;
  std::vector<std::unique_ptr<Sensor>> jetson_rails;
  for (const auto& dev : fs.list(base)) {
    const std::string dir = base + "/" + dev;
    auto driver = fs.read(dir + "/name").value.value_or("");
    if (driver.empty()) continue;
    auto files = fs.list(dir);
    std::set<std::string> fileset(files.begin(), files.end());
    std::optional<double> interval_ms = fs.read_number(dir + "/update_interval");
    if (driver == "ina3221") {
      // JetPack 5+: inN_input is the bus voltage (mV) and currN_input the current (mA) of channel N=1..3;
      // in4..in7 are shunt voltages and their sum, not rails.
      jetson = true;
      for (int ch = 1; ch <= 3; ++ch) {
        auto label = fs.read(fmt::format("{}/in{}_label", dir, ch)).value;
        std::string v = fmt::format("{}/in{}_input", dir, ch), i = fmt::format("{}/curr{}_input", dir, ch);
        if (!label || label->empty() || !fileset.count(fmt::format("curr{}_input", ch))) continue;
        if (starts_with(*label, "sum of")) continue;
        SensorInfo info;
        info.source = "hwmon ina3221";
        info.rail = *label;
        info.name = "ina3221:" + *label;
        info.unit = "mV*mA";
        info.kind = SensorKind::PowerSample;
        info.update_period_ms = interval_ms.value_or(6.6);
        info.board_total = is_board_total_rail(*label);
        info.path = i;
        SensorStatus st = probe_file(fs, v);
        if (st.availability == Availability::Available) st = probe_file(fs, i);
        jetson_rails.push_back(std::make_unique<ProductPowerSensor>(info, st, fs, v, 1e-3, i, 1e-3));
      }
      continue;
    }
    // Generic monitors: powerN_input/powerN_average (uW), energyN_input (uJ); otherwise currN (mA) x inN (mV).
    bool has_power = false;
    for (const auto& f : files) {
      bool power = starts_with(f, "power") && (f.ends_with("_input") || f.ends_with("_average"));
      bool energy = starts_with(f, "energy") && f.ends_with("_input");
      if (!power && !energy) continue;
      std::string stem = f.substr(0, f.find('_'));
      if (power && f.ends_with("_average") && fileset.count(stem + "_input")) continue;  // one per channel
      has_power = true;
      auto label = fs.read(dir + "/" + stem + "_label").value;
      SensorInfo info;
      info.source = "hwmon " + driver;
      info.rail = label && !label->empty() ? *label : fmt::format("{}/{}", driver, stem);
      info.name = fmt::format("hwmon:{}:{}", dev, label && !label->empty() ? *label : stem);
      info.path = dir + "/" + f;
      info.update_period_ms = interval_ms.value_or(0);
      SensorStatus st = probe_file(fs, info.path);
      if (energy) {
        info.kind = SensorKind::EnergyCounter;
        info.unit = "uJ";
        out.push_back(std::make_unique<FileCounterSensor>(info, st, fs, 1e-6, 0));
      } else {
        info.kind = SensorKind::PowerSample;
        info.unit = "uW";
        out.push_back(std::make_unique<FilePowerSensor>(info, st, fs, 1e-6));
      }
      generic = true;
    }
    if (has_power) continue;
    // INA219/INA226 via ina2xx: in0 is the shunt voltage, in1 the bus voltage; curr1 is the current.
    if (fileset.count("curr1_input") && fileset.count("in1_input") &&
        (starts_with(driver, "ina") || driver == "max34440")) {
      SensorInfo info;
      info.source = "hwmon " + driver;
      auto label = fs.read(dir + "/curr1_label").value;
      info.rail = label && !label->empty() ? *label : driver;
      info.name = fmt::format("hwmon:{}:{}", dev, info.rail);
      info.unit = "mV*mA";
      info.kind = SensorKind::PowerSample;
      info.update_period_ms = interval_ms.value_or(0);
      info.path = dir + "/curr1_input";
      SensorStatus st = probe_file(fs, dir + "/in1_input");
      if (st.availability == Availability::Available) st = probe_file(fs, info.path);
      out.push_back(std::make_unique<ProductPowerSensor>(info, st, fs, dir + "/in1_input", 1e-3, info.path, 1e-3));
      generic = true;
    }
  }
  if (!jetson)
    notes.push_back({"Jetson INA3221 (hwmon ina3221, JetPack 5+)",
                     {Availability::Missing, "no hwmon device named ina3221", "present on Jetson Xavier/Orin"}});
  if (!generic)
    notes.push_back({"hwmon power monitors",
                     {Availability::Missing,
                      fs.exists(base) ? "no hwmon device has power, energy or current+voltage files"
                                      : "/sys/class/hwmon does not exist",
                      "needs a board power monitor (INA219/INA226/INA238...) with its hwmon driver loaded"}});
  jetson_first = 0;
  link_board_rails(jetson_rails, jetson_first);
  for (auto& s : jetson_rails) out.push_back(std::move(s));
  return out;
}

namespace {

// power_supply reports uA and uV by its ABI, but some Android kernels write mV; a battery voltage below
// 100 (units) cannot be in uV.
double supply_volts(double raw) { return raw < 100000 ? raw * 1e-3 : raw * 1e-6; }

class SupplySensor : public Sensor {
 public:
  SupplySensor(SensorInfo info, SensorStatus status, const SysFs& fs, std::string dir, bool battery)
      : Sensor(std::move(info), std::move(status)), fs_(fs), dir_(std::move(dir)), battery_(battery) {}

  std::optional<double> read() override {
    if (battery_) {
      // While charging, a battery's current is the charge flow, not what the device draws.
      auto st = fs_.read(dir_ + "/status").value.value_or("");
      if (st == "Charging") return std::nullopt;
    }
    if (auto p = fs_.read_number(dir_ + "/power_now")) return std::abs(*p) * 1e-6;
    auto i = fs_.read_number(dir_ + "/current_now");
    auto v = fs_.read_number(dir_ + "/voltage_now");
    if (!i || !v) return std::nullopt;
    // Discharge current is negative on some drivers (most Android fuel gauges) and positive on others
    // (many laptops); the device draws |I| x V either way.
    return std::abs(*i) * 1e-6 * supply_volts(*v);
  }

 private:
  SysFs fs_;
  std::string dir_;
  bool battery_;
};

}  // namespace

std::vector<std::unique_ptr<Sensor>> probe_power_supply(const SysFs& fs, std::vector<ProbeNote>& notes) {
  std::vector<std::unique_ptr<Sensor>> out;
  const std::string base = fs.path("/sys/class/power_supply");
  for (const auto& dev : fs.list(base)) {
    const std::string dir = base + "/" + dev;
    auto type = fs.read(dir + "/type").value.value_or("");
    bool battery = type == "Battery";
    bool input = type == "USB" || type == "Mains" || type == "USB_PD" || type == "USB_C";
    if (!battery && !input) continue;
    SensorInfo info;
    info.source = "power_supply";
    info.rail = fmt::format("{} ({})", dev, type);
    info.name = "supply:" + dev;
    info.kind = SensorKind::PowerSample;
    info.update_period_ms = 1000;  // fuel gauges update about once a second (nominal)
    info.board_total = true;       // a battery or the input supply feeds the whole device
    bool has_power = fs.exists(dir + "/power_now");
    info.path = has_power ? dir + "/power_now" : dir + "/current_now";
    info.unit = has_power ? "uW" : "uA*uV";
    SensorStatus st;
    if (!has_power && (!fs.exists(dir + "/current_now") || !fs.exists(dir + "/voltage_now"))) {
      st = {Availability::NotSupported, fmt::format("{}: {} supply reports no current_now/voltage_now", dir, type),
            input ? "USB and mains supplies rarely report input current; measure from the battery, unplugged"
                  : "this fuel gauge driver does not report current"};
    } else {
      st = probe_file(fs, info.path);
      if (st.availability == Availability::Available && !has_power) st = probe_file(fs, dir + "/voltage_now");
      auto status = fs.read(dir + "/status").value.value_or("");
      if (st.availability == Availability::Available && battery && status == "Charging")
        st = {Availability::NotSupported,
              fmt::format("{}: battery is charging; its current is the charge current, not the device's draw", dir),
              "unplug the charger while measuring"};
    }
    out.push_back(std::make_unique<SupplySensor>(info, st, fs, dir, battery));
  }
  if (out.empty())
    notes.push_back({"power_supply (battery, USB)",
                     {Availability::Missing, "no battery or USB/mains supply in /sys/class/power_supply",
                      "only on battery-powered or USB-powered devices (phones, laptops, some boards)"}});
  return out;
}

}  // namespace convergy
