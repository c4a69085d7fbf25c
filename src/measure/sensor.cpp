// Sensor plumbing shared by every family: file access under a sysfs root, errno -> availability,
// wraparound, discovery and the rules for choosing and combining rails.
#include "measure/sensor.h"

#include "measure/sensor_files.h"
#include "util/error.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace convergy {

std::string SysFs::path(std::string_view absolute) const {
  std::string r = root.empty() ? "/" : root;
  if (r.back() != '/') r += '/';
  while (!absolute.empty() && absolute.front() == '/') absolute.remove_prefix(1);
  r += absolute;
  return r;
}

SysFs::Text SysFs::read(const std::string& full_path) const {
  Text t;
  if (open_hook) {
    int err = open_hook(full_path);
    if (err != 0) {
      t.error = err;
      return t;
    }
  }
  // O_NONBLOCK so a FIFO or a stuck device file cannot hang discovery.
  int fd = ::open(full_path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    t.error = errno;
    return t;
  }
  std::string s;
  char buf[512];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      t.error = errno;
      ::close(fd);
      return t;
    }
    if (n == 0) break;
    s.append(buf, static_cast<size_t>(n));
    if (s.size() > 65536) break;  // sysfs attributes are one page at most
  }
  ::close(fd);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t' || s.back() == '\0')) s.pop_back();
  size_t b = s.find_first_not_of(" \t");
  t.value = b == std::string::npos ? std::string() : s.substr(b);
  return t;
}

std::optional<double> SysFs::read_number(const std::string& full_path, int* error) const {
  Text t = read(full_path);
  if (error) *error = t.error;
  if (!t.value) return std::nullopt;
  const char* s = t.value->c_str();
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s, &end);
  if (end == s || errno == ERANGE) {
    if (error) *error = EINVAL;
    return std::nullopt;
  }
  return v;
}

bool SysFs::exists(const std::string& full_path) const {
  struct stat st;
  return ::stat(full_path.c_str(), &st) == 0;
}

std::vector<std::string> SysFs::list(const std::string& full_dir) const {
  std::vector<std::string> out;
  DIR* d = ::opendir(full_dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::string_view to_string(Availability a) {
  switch (a) {
    case Availability::Available: return "available";
    case Availability::Missing: return "missing";
    case Availability::PermissionDenied: return "permission denied";
    case Availability::NotSupported: return "not supported";
  }
  return "?";
}

std::string_view to_string(SensorKind k) {
  return k == SensorKind::EnergyCounter ? "energy counter" : "power sample";
}

SensorStatus status_from_errno(int err, const std::string& path, const std::string& permission_fix) {
  SensorStatus s;
  if (err == 0) return s;
  if (err == EACCES || err == EPERM) {
    s.availability = Availability::PermissionDenied;
    s.reason = fmt::format("{}: permission denied", path);
    s.fix = permission_fix.empty() ? fmt::format("run as root or make {} readable (chmod o+r)", path)
                                   : permission_fix;
  } else if (err == ENOENT || err == ENOTDIR) {
    s.availability = Availability::Missing;
    s.reason = fmt::format("{}: no such file", path);
  } else {
    s.availability = Availability::NotSupported;
    s.reason = fmt::format("{}: read failed: {}", path, std::strerror(err));
    s.fix = "the driver does not provide this value on this hardware";
  }
  return s;
}

double counter_delta(double previous, double current, double max_range) {
  if (current >= previous) return current - previous;
  // The counter wrapped: it ran from `previous` up to `max_range` and restarted at 0.
  if (max_range > 0) return (max_range - previous) + current;
  return 0;  // unknown range: a reset, not energy; the caller sees no increase rather than a negative one
}

// --- file-backed sensors ---

FileCounterSensor::FileCounterSensor(SensorInfo info, SensorStatus status, const SysFs& fs, double to_joules,
                                     double max_range_raw)
    : Sensor(std::move(info), std::move(status)), fs_(fs), to_joules_(to_joules), max_range_(max_range_raw) {}

std::optional<double> FileCounterSensor::read() {
  auto raw = fs_.read_number(info_.path);
  if (!raw) return std::nullopt;
  if (!last_raw_) {
    last_raw_ = *raw;
    return total_j_;
  }
  total_j_ += counter_delta(*last_raw_, *raw, max_range_) * to_joules_;
  last_raw_ = *raw;
  return total_j_;
}

FilePowerSensor::FilePowerSensor(SensorInfo info, SensorStatus status, const SysFs& fs, double to_watts)
    : Sensor(std::move(info), std::move(status)), fs_(fs), to_watts_(to_watts) {}

std::optional<double> FilePowerSensor::read() {
  auto raw = fs_.read_number(info_.path);
  if (!raw) return std::nullopt;
  return *raw * to_watts_;
}

ProductPowerSensor::ProductPowerSensor(SensorInfo info, SensorStatus status, const SysFs& fs,
                                       std::string voltage_path, double to_volts, std::string current_path,
                                       double to_amps)
    : Sensor(std::move(info), std::move(status)),
      fs_(fs),
      voltage_path_(std::move(voltage_path)),
      current_path_(std::move(current_path)),
      to_volts_(to_volts),
      to_amps_(to_amps) {}

std::optional<double> ProductPowerSensor::read() {
  auto v = fs_.read_number(voltage_path_);
  auto i = fs_.read_number(current_path_);
  if (!v || !i) return std::nullopt;
  // The sign of a current depends on the driver's convention (see power_supply); power drawn is positive.
  return std::abs(*v * to_volts_ * *i * to_amps_);
}

// --- discovery and selection ---

Discovery discover_sensors(const SysFs& fs, bool with_nvml) {
  Discovery d;
  auto add = [&d](std::vector<std::unique_ptr<Sensor>> v) {
    for (auto& s : v) d.sensors.push_back(std::move(s));
  };
  add(probe_powercap(fs, d.notes));
  add(probe_iio_ina3221(fs, d.notes));
  add(probe_hwmon(fs, d.notes));
  add(probe_power_supply(fs, d.notes));
  if (with_nvml) {
    std::string why;
    if (auto api = load_nvml(&why)) {
      add(probe_nvml(*api, d.notes));
    } else {
      d.notes.push_back({"nvml", {Availability::Missing, why, "install the NVIDIA driver (libnvidia-ml.so.1) on a machine with an NVIDIA GPU"}});
    }
  }
  return d;
}

Sensor* choose_auto_sensor(const Discovery& d) {
  for (auto& s : d.sensors)
    if (s->available() && s->info().board_total) return s.get();
  for (auto& s : d.sensors)
    if (s->available() && s->info().source == "powercap" && s->info().part_of.empty()) return s.get();
  for (auto& s : d.sensors)
    if (s->available() && s->info().part_of.empty()) return s.get();
  for (auto& s : d.sensors)
    if (s->available()) return s.get();
  return nullptr;
}

Sensor* find_sensor(const Discovery& d, std::string_view name) {
  for (auto& s : d.sensors)
    if (s->info().name == name) return s.get();
  Sensor* found = nullptr;
  for (auto& s : d.sensors) {
    if (s->info().rail == name) {
      if (found) return nullptr;  // ambiguous: the caller asks for the full name
      found = s.get();
    }
  }
  return found;
}

void check_disjoint(const std::vector<const Sensor*>& sensors) {
  for (const Sensor* a : sensors) {
    for (const Sensor* b : sensors) {
      if (a == b) continue;
      if (!b->info().part_of.empty() && b->info().part_of == a->info().name)
        throw_bad_input("sensors {} and {}: {} already includes {}; adding them would count its power twice",
                        a->info().name, b->info().name, a->info().name, b->info().rail);
      if (a->info().board_total && a->info().source == b->info().source && a->info().source != "nvml" &&
          a->info().source != "power_supply")
        throw_bad_input("sensors {} and {}: {} is the board's total input and already includes {}",
                        a->info().name, b->info().name, a->info().rail, b->info().rail);
    }
  }
}

std::optional<double> measure_update_period_ms(Sensor& sensor, double duration_ms) {
  using clock = std::chrono::steady_clock;
  auto start = clock::now();
  auto last = sensor.read();
  std::optional<clock::time_point> first_change, last_change;
  int changes = 0;
  while (std::chrono::duration<double, std::milli>(clock::now() - start).count() < duration_ms) {
    auto v = sensor.read();
    if (v && last && *v != *last) {
      auto now = clock::now();
      if (!first_change) first_change = now;
      else ++changes;
      last_change = now;
    }
    last = v;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  if (changes == 0) return std::nullopt;
  return std::chrono::duration<double, std::milli>(*last_change - *first_change).count() / changes;
}

}  // namespace convergy
