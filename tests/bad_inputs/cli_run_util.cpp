// Child-process runner and generators of large hostile inputs for tests/bad_inputs (see cli_run.h).
#include "bad_inputs/cli_run.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace convergy::bad_inputs {
namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

bool sanitizer_build() {
#if defined(__SANITIZE_ADDRESS__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
  return true;
#else
  return false;
#endif
#else
  return false;
#endif
}

// Protobuf wire format, just enough for an ONNX model of chained Relu nodes.
void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void put_bytes(std::string& out, uint32_t field, const std::string& bytes) {
  put_varint(out, (uint64_t{field} << 3) | 2);
  put_varint(out, bytes.size());
  out += bytes;
}
void put_int(std::string& out, uint32_t field, uint64_t v) {
  put_varint(out, uint64_t{field} << 3);
  put_varint(out, v);
}

// ValueInfoProto of a float tensor with the given dims (an empty dims list leaves the shape out).
std::string value_info(const std::string& name, const std::vector<int64_t>& dims) {
  std::string shape, tensor, type, vi;
  for (int64_t d : dims) {
    std::string dim;
    put_int(dim, 1, static_cast<uint64_t>(d));  // TensorShapeProto.Dimension.dim_value
    put_bytes(shape, 1, dim);
  }
  put_int(tensor, 1, 1);  // TypeProto.Tensor.elem_type = FLOAT
  if (!dims.empty()) put_bytes(tensor, 2, shape);
  put_bytes(type, 1, tensor);  // TypeProto.tensor_type
  put_bytes(vi, 1, name);
  put_bytes(vi, 2, type);
  return vi;
}

std::string relu_chain_onnx(int n) {
  std::string graph;
  for (int i = 0; i < n; ++i) {
    std::string node;
    put_bytes(node, 1, i == 0 ? "x" : "t" + std::to_string(i - 1));  // input
    put_bytes(node, 2, "t" + std::to_string(i));                      // output
    put_bytes(node, 3, "relu" + std::to_string(i));                   // name
    put_bytes(node, 4, "Relu");                                       // op_type
    put_bytes(graph, 1, node);                                        // GraphProto.node
  }
  put_bytes(graph, 2, "relu_chain");
  put_bytes(graph, 11, value_info("x", {1, 3, 4, 4}));
  put_bytes(graph, 12, value_info("t" + std::to_string(n - 1), {}));
  std::string opset, model;
  put_int(opset, 2, 13);  // OperatorSetIdProto.version
  put_int(model, 1, 7);   // ModelProto.ir_version
  put_bytes(model, 8, opset);
  put_bytes(model, 7, graph);
  return model;
}

std::string relu_chain_prototxt(int n) {
  std::string s = "name: \"relu_chain\"\ninput: \"data\"\ninput_shape { dim: 1 dim: 3 dim: 4 dim: 4 }\n";
  for (int i = 0; i < n; ++i)
    s += "layer { name: \"relu" + std::to_string(i) + "\" type: \"ReLU\" bottom: \"data\" top: \"data\" }\n";
  return s;
}

std::string repeat(const std::string& s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

double default_timeout_s() {
  if (const char* v = std::getenv("CONVERGY_BAD_INPUT_TIMEOUT_S")) return std::atof(v);
  return sanitizer_build() ? 300.0 : 60.0;
}

fs::path data_dir() { return fs::path(CONVERGY_SOURCE_DIR) / "tests/bad_inputs/data"; }

fs::path scratch_root() {
  // One folder per test process: ctest runs cases of the same executable in parallel.
  return fs::temp_directory_path() / ("convergy_bad_inputs_" + std::to_string(::getpid()));
}

void remove_scratch() { fs::remove_all(scratch_root()); }

fs::path scratch_dir(const std::string& name) {
  const fs::path dir = scratch_root() / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

fs::path generated(const std::string& name) {
  static std::map<std::string, fs::path> made;
  if (auto it = made.find(name); it != made.end()) return it->second;
  std::string bytes;
  if (name == "million_layers.prototxt") {
    bytes = "input: \"data\"\ninput_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n" + repeat("layer {}\n", 1000000);
  } else if (name == "deep_nesting.prototxt") {
    bytes = repeat("layer {", 100000);
  } else if (name == "deep_nesting.json") {
    bytes = repeat("[", 100000) + repeat("]", 100000);
  } else if (name == "wide_header.csv") {
    for (int i = 0; i < 1000000; ++i) bytes += (i ? ",c" : "c") + std::to_string(i);
    bytes += "\n";
  } else if (name.starts_with("relu_chain_") && (name.ends_with(".prototxt") || name.ends_with(".onnx"))) {
    const size_t digits = name.find('.') - 11;
    const int n = std::stoi(name.substr(11, digits));
    bytes = name.ends_with(".onnx") ? relu_chain_onnx(n) : relu_chain_prototxt(n);
  } else {
    throw std::invalid_argument("no generator for \"" + name + "\"");
  }
  const fs::path p = scratch_dir("generated_" + name) / name;
  write_file(p, bytes);
  made[name] = p;
  return p;
}

CliRun run_cli(const std::vector<std::string>& args, const fs::path& cwd, double timeout_s) {
  static int counter = 0;
  const fs::path io = scratch_dir("io_" + std::to_string(++counter));
  const fs::path out_path = io / "stdout", err_path = io / "stderr";
  std::vector<std::string> argv_s = {CONVERGY_CLI};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || err < 0 || ::chdir(cwd.c_str()) != 0) ::_exit(127);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  CliRun r;
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (elapsed > timeout_s) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      r.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  fs::remove_all(io);
  return r;
}

}  // namespace convergy::bad_inputs
