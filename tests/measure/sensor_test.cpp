// Sensor readers against fake sysfs trees shaped like real boards: Jetson TX1/TX2/Nano (iio ina3221x),
// Orin (hwmon ina3221), RAPL with wraparound, Android battery, INA226/INA219, NVML, and denied files.
#include "measure/fake_tree.h"
#include "measure/sensor.h"
#include "util/error.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

namespace convergy {
namespace {

using testing::FakeTree;
using ::testing::HasSubstr;

std::vector<std::unique_ptr<Sensor>> jetson(const FakeTree& t) {
  std::vector<ProbeNote> notes;
  return probe_iio_ina3221(t.fs(), notes);
}

const Sensor* by_name(const std::vector<std::unique_ptr<Sensor>>& v, const std::string& name) {
  for (auto& s : v)
    if (s->info().name == name) return s.get();
  return nullptr;
}

// One L4T iio ina3221x device with three channels.
void add_iio(FakeTree& t, const std::string& dev, const std::vector<std::string>& rails,
             const std::vector<int>& power_mw) {
  std::string d = "sys/bus/iio/devices/" + dev;
  t.write(d + "/name", "ina3221x");
  for (size_t ch = 0; ch < rails.size(); ++ch) {
    t.write(d + "/rail_name_" + std::to_string(ch), rails[ch]);
    t.write(d + "/in_power" + std::to_string(ch) + "_input", std::to_string(power_mw[ch]));
    t.write(d + "/in_current" + std::to_string(ch) + "_input", "100");
    t.write(d + "/in_voltage" + std::to_string(ch) + "_input", "5000");
  }
}

TEST(JetsonIio, Tx1RailsAndBoardTotal) {
  FakeTree t;
  add_iio(t, "iio:device0", {"VDD_IN", "VDD_GPU", "VDD_CPU"}, {4321, 1200, 800});
  auto s = jetson(t);
  ASSERT_EQ(s.size(), 3u);
  auto* in = by_name(s, "ina3221:VDD_IN");
  auto* gpu = by_name(s, "ina3221:VDD_GPU");
  auto* cpu = by_name(s, "ina3221:VDD_CPU");
  ASSERT_TRUE(in && gpu && cpu);
  EXPECT_TRUE(in->info().board_total);
  EXPECT_FALSE(gpu->info().board_total);
  EXPECT_EQ(gpu->info().part_of, "ina3221:VDD_IN");
  EXPECT_EQ(cpu->info().part_of, "ina3221:VDD_IN");
  EXPECT_EQ(in->info().unit, "mW");
  EXPECT_EQ(in->info().kind, SensorKind::PowerSample);
  EXPECT_DOUBLE_EQ(*const_cast<Sensor*>(in)->read(), 4.321);
  // Never add a board total to its sub-rails; sub-rails together are fine.
  EXPECT_THROW(check_disjoint({in, gpu}), Error);
  EXPECT_NO_THROW(check_disjoint({gpu, cpu}));
}

TEST(JetsonIio, Tx2FiveRailsOverTwoDevices) {
  FakeTree t;
  // The TX2 module: 0-0040 carries GPU/SOC/WIFI, 0-0041 carries the input, CPU and DDR rails.
  add_iio(t, "iio:device0", {"VDD_SYS_GPU", "VDD_SYS_SOC", "VDD_4V0_WIFI"}, {2000, 900, 10});
  add_iio(t, "iio:device1", {"VDD_IN", "VDD_SYS_CPU", "VDD_SYS_DDR"}, {5000, 700, 600});
  auto s = jetson(t);
  for (const char* r : {"VDD_IN", "VDD_SYS_GPU", "VDD_SYS_CPU", "VDD_SYS_SOC", "VDD_SYS_DDR"})
    ASSERT_NE(by_name(s, std::string("ina3221:") + r), nullptr) << r;
  for (auto& x : s) {
    if (x->info().rail == "VDD_IN") continue;
    EXPECT_EQ(x->info().part_of, "ina3221:VDD_IN") << x->info().rail;
  }
  Discovery d;
  for (auto& x : s) d.sensors.push_back(std::move(x));
  ASSERT_NE(choose_auto_sensor(d), nullptr);
  EXPECT_EQ(choose_auto_sensor(d)->info().rail, "VDD_IN");
}

TEST(JetsonIio, NanoPomRails) {
  FakeTree t;
  add_iio(t, "iio:device0", {"POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU"}, {3000, 500, 700});
  auto s = jetson(t);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_TRUE(by_name(s, "ina3221:POM_5V_IN")->info().board_total);
  EXPECT_EQ(by_name(s, "ina3221:POM_5V_GPU")->info().part_of, "ina3221:POM_5V_IN");
  EXPECT_THROW(check_disjoint({by_name(s, "ina3221:POM_5V_IN"), by_name(s, "ina3221:POM_5V_CPU")}), Error);
}

TEST(JetsonIio, CurrentAndVoltageWhenNoPowerFile) {
  FakeTree t;
  t.write("sys/bus/iio/devices/iio:device0/name", "ina3221x");
  t.write("sys/bus/iio/devices/iio:device0/rail_name_0", "VDD_IN");
  t.write("sys/bus/iio/devices/iio:device0/in_current0_input", "1500");  // mA
  t.write("sys/bus/iio/devices/iio:device0/in_voltage0_input", "19000");  // mV
  auto s = jetson(t);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_NEAR(*s[0]->read(), 28.5, 1e-9);
}

TEST(JetsonHwmon, OrinLabelsMillivoltsMilliamps) {
  FakeTree t;
  std::string d = "sys/class/hwmon/hwmon1";
  t.write(d + "/name", "ina3221");
  const char* labels[] = {"VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"};
  int mv[] = {5080, 5072, 5076}, ma[] = {1432, 392, 656};
  for (int ch = 1; ch <= 3; ++ch) {
    t.write(d + "/in" + std::to_string(ch) + "_label", labels[ch - 1]);
    t.write(d + "/in" + std::to_string(ch) + "_input", std::to_string(mv[ch - 1]));
    t.write(d + "/curr" + std::to_string(ch) + "_input", std::to_string(ma[ch - 1]));
  }
  t.write(d + "/in7_label", "sum of shunt voltages");
  t.write(d + "/in7_input", "12");
  t.write("sys/class/hwmon/hwmon0/name", "cpu_thermal");
  t.write("sys/class/hwmon/hwmon0/temp1_input", "41000");
  std::vector<ProbeNote> notes;
  auto s = probe_hwmon(t.fs(), notes);
  ASSERT_EQ(s.size(), 3u);
  auto* in = by_name(s, "ina3221:VDD_IN");
  ASSERT_NE(in, nullptr);
  EXPECT_TRUE(in->info().board_total);
  EXPECT_NEAR(*const_cast<Sensor*>(in)->read(), 5.080 * 1.432, 1e-9);
  EXPECT_EQ(by_name(s, "ina3221:VDD_SOC")->info().part_of, "ina3221:VDD_IN");
  EXPECT_THROW(check_disjoint({in, by_name(s, "ina3221:VDD_SOC")}), Error);
}

TEST(GenericHwmon, Ina226PowerFileAndIna219CurrentTimesVoltage) {
  FakeTree t;
  t.write("sys/class/hwmon/hwmon2/name", "ina226");
  t.write("sys/class/hwmon/hwmon2/power1_input", "2500000");  // uW
  t.write("sys/class/hwmon/hwmon2/curr1_input", "500");
  t.write("sys/class/hwmon/hwmon2/in1_input", "5000");
  t.write("sys/class/hwmon/hwmon2/update_interval", "2");
  t.write("sys/class/hwmon/hwmon3/name", "ina219");
  t.write("sys/class/hwmon/hwmon3/curr1_input", "250");   // mA
  t.write("sys/class/hwmon/hwmon3/in0_input", "20");      // shunt mV: not the bus voltage
  t.write("sys/class/hwmon/hwmon3/in1_input", "12000");   // mV
  t.write("sys/class/hwmon/hwmon4/name", "amd_energy");
  t.write("sys/class/hwmon/hwmon4/energy1_input", "1000000");
  t.write("sys/class/hwmon/hwmon4/energy1_label", "Esocket0");
  std::vector<ProbeNote> notes;
  auto s = probe_hwmon(t.fs(), notes);
  ASSERT_EQ(s.size(), 3u);
  auto* p226 = by_name(s, "hwmon:hwmon2:power1");
  ASSERT_NE(p226, nullptr);
  EXPECT_EQ(p226->info().unit, "uW");
  EXPECT_DOUBLE_EQ(p226->info().update_period_ms, 2.0);
  EXPECT_DOUBLE_EQ(*const_cast<Sensor*>(p226)->read(), 2.5);
  auto* p219 = by_name(s, "hwmon:hwmon3:ina219");
  ASSERT_NE(p219, nullptr);
  EXPECT_DOUBLE_EQ(*const_cast<Sensor*>(p219)->read(), 3.0);
  auto* e = by_name(s, "hwmon:hwmon4:Esocket0");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->info().kind, SensorKind::EnergyCounter);
  EXPECT_EQ(e->info().unit, "uJ");
}

void add_rapl(FakeTree& t, double package_uj, double max_uj) {
  std::string b = "sys/class/powercap/";
  t.write(b + "intel-rapl/enabled", "1");  // the control type folder has no energy
  t.write(b + "intel-rapl:0/name", "package-0");
  t.write(b + "intel-rapl:0/energy_uj", std::to_string(static_cast<long long>(package_uj)));
  t.write(b + "intel-rapl:0/max_energy_range_uj", std::to_string(static_cast<long long>(max_uj)));
  const char* subs[] = {"core", "uncore", "dram"};
  for (int i = 0; i < 3; ++i) {
    std::string z = b + "intel-rapl:0:" + std::to_string(i);
    t.write(z + "/name", subs[i]);
    t.write(z + "/energy_uj", "1000");
    t.write(z + "/max_energy_range_uj", std::to_string(static_cast<long long>(max_uj)));
  }
}

TEST(Rapl, ZonesSubzonesAndWraparound) {
  FakeTree t;
  const double max_uj = 262143328850;
  add_rapl(t, max_uj - 1000000, max_uj);  // 1 J before the wrap
  std::vector<ProbeNote> notes;
  auto s = probe_powercap(t.fs(), notes);
  ASSERT_EQ(s.size(), 4u);
  auto* pkg = const_cast<Sensor*>(by_name(s, "rapl:package-0"));
  ASSERT_NE(pkg, nullptr);
  EXPECT_EQ(pkg->info().kind, SensorKind::EnergyCounter);
  EXPECT_TRUE(pkg->available());
  EXPECT_EQ(by_name(s, "rapl:package-0/core")->info().part_of, "rapl:package-0");
  EXPECT_EQ(by_name(s, "rapl:package-0/uncore")->info().part_of, "rapl:package-0");
  EXPECT_EQ(by_name(s, "rapl:package-0/dram")->info().part_of, "");  // DRAM is its own domain
  EXPECT_THROW(check_disjoint({pkg, by_name(s, "rapl:package-0/core")}), Error);
  EXPECT_NO_THROW(check_disjoint({pkg, by_name(s, "rapl:package-0/dram")}));

  EXPECT_DOUBLE_EQ(*pkg->read(), 0.0);
  t.write("sys/class/powercap/intel-rapl:0/energy_uj", "2500000");  // wrapped, then 2.5 J more
  EXPECT_NEAR(*pkg->read(), 3.5, 1e-9);
  t.write("sys/class/powercap/intel-rapl:0/energy_uj", "4500000");
  EXPECT_NEAR(*pkg->read(), 5.5, 1e-9);
}

TEST(Rapl, CounterDelta) {
  EXPECT_DOUBLE_EQ(counter_delta(10, 25, 100), 15);
  EXPECT_DOUBLE_EQ(counter_delta(90, 5, 100), 15);
  EXPECT_DOUBLE_EQ(counter_delta(90, 5, 0), 0);  // unknown range: never negative energy
}

TEST(Rapl, PermissionDeniedThroughHookHasFix) {
  FakeTree t;
  add_rapl(t, 1000, 262143328850);
  SysFs fs = t.fs();
  fs.open_hook = [](const std::string& p) { return p.ends_with("energy_uj") ? EACCES : 0; };
  std::vector<ProbeNote> notes;
  auto s = probe_powercap(fs, notes);
  ASSERT_FALSE(s.empty());
  for (auto& x : s) {
    EXPECT_EQ(x->status().availability, Availability::PermissionDenied);
    EXPECT_THAT(x->status().reason, HasSubstr("permission denied"));
    EXPECT_THAT(x->status().fix, HasSubstr("chmod o+r"));
  }
  Discovery d;
  for (auto& x : s) d.sensors.push_back(std::move(x));
  EXPECT_EQ(choose_auto_sensor(d), nullptr);
}

// Tests run as root, which bypasses file modes. A child that drops to "nobody" gets a real EACCES from
// the kernel on a mode-000 file, so this exercises the real open() path, not the hook.
TEST(Rapl, PermissionDeniedForRealAsUnprivilegedUser) {
  FakeTree t;
  add_rapl(t, 1000, 262143328850);
  ::chmod(t.full("sys/class/powercap/intel-rapl:0/energy_uj").c_str(), 0400);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(3);
    std::vector<ProbeNote> notes;
    auto s = probe_powercap(t.fs(), notes);
    for (auto& x : s)
      if (x->info().name == "rapl:package-0")
        ::_exit(x->status().availability == Availability::PermissionDenied ? 0 : 1);
    ::_exit(2);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: not reported as denied, 2: zone missing, 3: could not drop root";
}

TEST(PowerSupply, AndroidBatteryNegativeCurrentWhileDischarging) {
  FakeTree t;
  std::string b = "sys/class/power_supply/battery/";
  t.write(b + "type", "Battery");
  t.write(b + "status", "Discharging");
  t.write(b + "current_now", "-350000");  // uA, negative on discharge for this fuel gauge
  t.write(b + "voltage_now", "3850000");  // uV
  t.write("sys/class/power_supply/usb/type", "USB");
  t.write("sys/class/power_supply/usb/online", "0");
  std::vector<ProbeNote> notes;
  auto s = probe_power_supply(t.fs(), notes);
  ASSERT_EQ(s.size(), 2u);
  auto* bat = const_cast<Sensor*>(by_name(s, "supply:battery"));
  ASSERT_NE(bat, nullptr);
  EXPECT_TRUE(bat->available());
  EXPECT_NEAR(*bat->read(), 0.35 * 3.85, 1e-9);
  t.write(b + "current_now", "350000");  // the other sign convention gives the same draw
  EXPECT_NEAR(*bat->read(), 0.35 * 3.85, 1e-9);
  t.write(b + "status", "Charging");
  EXPECT_FALSE(bat->read().has_value());  // charge current is not consumption
  auto* usb = by_name(s, "supply:usb");
  ASSERT_NE(usb, nullptr);
  EXPECT_EQ(usb->status().availability, Availability::NotSupported);
}

TEST(PowerSupply, ChargingBatteryIsNotUsable) {
  FakeTree t;
  std::string b = "sys/class/power_supply/BAT0/";
  t.write(b + "type", "Battery");
  t.write(b + "status", "Charging");
  t.write(b + "current_now", "1200000");
  t.write(b + "voltage_now", "12600000");
  std::vector<ProbeNote> notes;
  auto s = probe_power_supply(t.fs(), notes);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0]->status().availability, Availability::NotSupported);
  EXPECT_THAT(s[0]->status().fix, HasSubstr("unplug"));
}

TEST(Discovery, EmptyMachineSaysWhyForEveryFamily) {
  FakeTree t;
  t.write("sys/class/power_supply/.keep", "");
  Discovery d = discover_sensors(t.fs(), /*with_nvml=*/false);
  EXPECT_TRUE(d.sensors.empty());
  EXPECT_EQ(choose_auto_sensor(d), nullptr);
  std::set<std::string> families;
  for (auto& n : d.notes) {
    families.insert(n.family);
    EXPECT_EQ(n.status.availability, Availability::Missing);
    EXPECT_FALSE(n.status.reason.empty());
  }
  EXPECT_EQ(families.size(), 5u);
}

TEST(Discovery, FifoInPlaceOfAFileDoesNotHang) {
  FakeTree t;
  add_rapl(t, 1000, 1000000);
  std::string f = t.full("sys/class/powercap/intel-rapl:0/energy_uj");
  std::filesystem::remove(f);
  ASSERT_EQ(::mkfifo(f.c_str(), 0644), 0);
  std::vector<ProbeNote> notes;
  auto s = probe_powercap(t.fs(), notes);
  auto* pkg = by_name(s, "rapl:package-0");
  ASSERT_NE(pkg, nullptr);
  EXPECT_FALSE(pkg->available());
}

NvmlApi fake_nvml(int energy_rc, int power_rc) {
  NvmlApi api;
  api.init = [] { return 0; };
  api.device_count = [](unsigned* n) {
    *n = 1;
    return 0;
  };
  api.handle_by_index = [](unsigned, NvmlApi::Device* d) {
    static int dev;
    *d = &dev;
    return 0;
  };
  api.name = [](NvmlApi::Device, std::string* s) {
    *s = "Tesla K80";
    return 0;
  };
  api.total_energy_mj = [energy_rc](NvmlApi::Device, unsigned long long* mj) {
    *mj = 123456;
    return energy_rc;
  };
  api.power_mw = [power_rc](NvmlApi::Device, unsigned* mw) {
    *mw = 61000;
    return power_rc;
  };
  api.error_string = [](int rc) { return rc == 3 ? std::string("Not Supported") : std::string("err"); };
  return api;
}

TEST(Nvml, EnergyNotSupportedIsStatedAndPowerStillWorks) {
  std::vector<ProbeNote> notes;
  auto s = probe_nvml(fake_nvml(/*NOT_SUPPORTED*/ 3, 0), notes);
  auto* energy = by_name(s, "nvml:0:energy");
  auto* power = const_cast<Sensor*>(by_name(s, "nvml:0:power"));
  ASSERT_TRUE(energy && power);
  EXPECT_EQ(energy->status().availability, Availability::NotSupported);
  EXPECT_THAT(energy->status().reason, HasSubstr("NOT_SUPPORTED"));
  EXPECT_TRUE(power->available());
  EXPECT_DOUBLE_EQ(*power->read(), 61.0);
}

TEST(Nvml, NothingSupportedMeansNoAvailableSensor) {
  std::vector<ProbeNote> notes;
  auto s = probe_nvml(fake_nvml(3, 3), notes);
  ASSERT_FALSE(s.empty());
  for (auto& x : s) EXPECT_EQ(x->status().availability, Availability::NotSupported) << x->info().name;
}

TEST(Nvml, EnergyCounterInJoulesFromFirstRead) {
  std::vector<ProbeNote> notes;
  auto api = fake_nvml(0, 0);
  unsigned long long counter = 1000000;
  api.total_energy_mj = [&counter](NvmlApi::Device, unsigned long long* mj) {
    *mj = counter;
    return 0;
  };
  auto s = probe_nvml(api, notes);
  auto* e = const_cast<Sensor*>(by_name(s, "nvml:0:energy"));
  ASSERT_NE(e, nullptr);
  EXPECT_DOUBLE_EQ(*e->read(), 0.0);
  counter += 2500;
  EXPECT_DOUBLE_EQ(*e->read(), 2.5);
  EXPECT_EQ(by_name(s, "nvml:0:power")->info().part_of, "nvml:0:energy");
}

}  // namespace
}  // namespace convergy
