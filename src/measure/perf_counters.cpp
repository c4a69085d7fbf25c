// perf_event_open counters (see perf_counters.h). libpfm4 is loaded with dlopen so it is optional at run time.
#include "measure/perf_counters.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <linux/perf_event.h>
#include <perfmon/pfmlib_perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>

namespace convergy {
namespace {

int paranoid_level() {
  std::ifstream f("/proc/sys/kernel/perf_event_paranoid");
  int v = -99;
  f >> v;
  return v;
}

std::string open_failure_reason(int err) {
  switch (err) {
    case ENOENT:
    case EOPNOTSUPP:
    case ENODEV:
    case EINVAL:
      return fmt::format("not supported: this CPU (or its hypervisor) exposes no such PMU event ({}); "
                         "virtual machines and containers often have no hardware counters",
                         std::strerror(err));
    case EACCES:
    case EPERM:
      return fmt::format("permission denied (kernel.perf_event_paranoid = {}): run `sudo sysctl "
                         "kernel.perf_event_paranoid=1` or grant CAP_PERFMON",
                         paranoid_level());
    case ENOSYS:
      return "the kernel was built without perf events (CONFIG_PERF_EVENTS)";
    default:
      return fmt::format("perf_event_open failed: {}", std::strerror(err));
  }
}

// libpfm4 event-name encoder, loaded on first use.
class Pfm {
 public:
  static Pfm& get() {
    static Pfm p;
    return p;
  }
  // Fills `attr` for `name`; returns an empty string or the reason it could not.
  std::string encode(const std::string& name, perf_event_attr* attr) {
    if (!encode_) return why_;
    pfm_perf_encode_arg_t arg;
    std::memset(&arg, 0, sizeof arg);
    arg.attr = attr;
    arg.size = sizeof arg;
    int rc = encode_(name.c_str(), PFM_PLM3, PFM_OS_PERF_EVENT, &arg);
    if (rc != PFM_SUCCESS)
      return fmt::format("libpfm4 does not know \"{}\" on this CPU: {}", name, strerror_ ? strerror_(rc) : "error");
    return {};
  }

 private:
  Pfm() {
    void* h = ::dlopen("libpfm.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      why_ = "libpfm.so.4 not found: named events need libpfm4 (Debian package libpfm4)";
      return;
    }
    auto init = reinterpret_cast<int (*)()>(::dlsym(h, "pfm_initialize"));
    encode_ = reinterpret_cast<EncodeFn>(::dlsym(h, "pfm_get_os_event_encoding"));
    strerror_ = reinterpret_cast<const char* (*)(int)>(::dlsym(h, "pfm_strerror"));
    if (!init || !encode_ || init() != PFM_SUCCESS) {
      encode_ = nullptr;
      why_ = "libpfm4 failed to initialise (no supported PMU detected)";
    }
  }
  using EncodeFn = int (*)(const char*, int, pfm_os_t, void*);
  EncodeFn encode_ = nullptr;
  const char* (*strerror_)(int) = nullptr;
  std::string why_;
};

bool generic_event(const std::string& name, perf_event_attr& attr) {
  static const std::map<std::string, uint64_t> hw = {
      {"instructions", PERF_COUNT_HW_INSTRUCTIONS},
      {"cycles", PERF_COUNT_HW_CPU_CYCLES},
      {"cache-references", PERF_COUNT_HW_CACHE_REFERENCES},
      {"cache-misses", PERF_COUNT_HW_CACHE_MISSES},
      {"branch-misses", PERF_COUNT_HW_BRANCH_MISSES},
  };
  auto it = hw.find(name);
  if (it == hw.end()) return false;
  attr.type = PERF_TYPE_HARDWARE;
  attr.config = it->second;
  return true;
}

}  // namespace

PerfCounters PerfCounters::open(const std::vector<std::string>& events) {
  PerfCounters pc;
  for (const auto& name : events) {
    perf_event_attr attr;
    std::memset(&attr, 0, sizeof attr);
    if (!generic_event(name, attr)) {
      std::string why = Pfm::get().encode(name, &attr);
      if (!why.empty()) {
        pc.failures_.push_back({name, why});
        continue;
      }
    }
    attr.size = sizeof attr;
    attr.disabled = 1;
    attr.inherit = 1;  // count threads the backend starts later too
    attr.exclude_kernel = 1;
    attr.exclude_hv = 1;
    int fd = static_cast<int>(::syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
    if (fd < 0) {
      pc.failures_.push_back({name, open_failure_reason(errno)});
      continue;
    }
    pc.fds_.push_back(fd);
    pc.names_.push_back(name);
  }
  return pc;
}

PerfCounters::PerfCounters(PerfCounters&& o) noexcept
    : fds_(std::move(o.fds_)), names_(std::move(o.names_)), failures_(std::move(o.failures_)) {
  o.fds_.clear();
}

PerfCounters& PerfCounters::operator=(PerfCounters&& o) noexcept {
  if (this != &o) {
    for (int fd : fds_) ::close(fd);
    fds_ = std::move(o.fds_);
    names_ = std::move(o.names_);
    failures_ = std::move(o.failures_);
    o.fds_.clear();
  }
  return *this;
}

PerfCounters::~PerfCounters() {
  for (int fd : fds_) ::close(fd);
}

void PerfCounters::start() {
  for (int fd : fds_) {
    ::ioctl(fd, PERF_EVENT_IOC_RESET, 0);
    ::ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
  }
}

std::vector<uint64_t> PerfCounters::stop() {
  std::vector<uint64_t> out;
  for (int fd : fds_) {
    ::ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
    uint64_t v = 0;
    if (::read(fd, &v, sizeof v) != static_cast<ssize_t>(sizeof v)) v = 0;
    out.push_back(v);
  }
  return out;
}

std::vector<std::string> default_perf_events() {
  std::vector<std::string> e = {"instructions", "cycles", "cache-references", "cache-misses"};
#if defined(__aarch64__)
  e.insert(e.end(), {"ASE_SPEC", "BUS_ACCESS"});
#elif defined(__x86_64__)
  e.insert(e.end(), {"FP_ARITH:SCALAR_SINGLE", "FP_ARITH:128B_PACKED_SINGLE", "FP_ARITH:256B_PACKED_SINGLE",
                     "LLC_MISSES", "LLC_REFERENCES"});
#endif
  return e;
}

}  // namespace convergy
