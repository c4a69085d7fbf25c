// Internal to measure/: sensors that read one or two sysfs files, shared by the sysfs families.
#pragma once
#include "measure/sensor.h"

namespace convergy {

// errno of a failed read -> availability with a reason and a fix (permission_fix overrides the default).
SensorStatus status_from_errno(int err, const std::string& path, const std::string& permission_fix = {});

class FileCounterSensor : public Sensor {
 public:
  // to_joules scales the raw value (1e-6 for uJ); max_range_raw is where the counter wraps (0 = unknown).
  FileCounterSensor(SensorInfo info, SensorStatus status, const SysFs& fs, double to_joules, double max_range_raw);
  std::optional<double> read() override;

 private:
  SysFs fs_;
  double to_joules_, max_range_;
  std::optional<double> last_raw_;
  double total_j_ = 0;
};

class FilePowerSensor : public Sensor {
 public:
  FilePowerSensor(SensorInfo info, SensorStatus status, const SysFs& fs, double to_watts);
  std::optional<double> read() override;

 private:
  SysFs fs_;
  double to_watts_;
};

// Power as voltage x current from two files.
class ProductPowerSensor : public Sensor {
 public:
  ProductPowerSensor(SensorInfo info, SensorStatus status, const SysFs& fs, std::string voltage_path,
                     double to_volts, std::string current_path, double to_amps);
  std::optional<double> read() override;

 protected:
  SysFs fs_;
  std::string voltage_path_, current_path_;
  double to_volts_, to_amps_;
};

}  // namespace convergy
