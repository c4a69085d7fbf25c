// Errors thrown by library code. Only main() turns them into exit codes:
// BadInput -> 2 (the user's file or arguments are wrong), Failure -> 1 (the work itself failed).
#pragma once
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace convergy {

enum class ErrorKind { BadInput, Failure };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message) : std::runtime_error(std::move(message)), kind_(kind) {}
  ErrorKind kind() const { return kind_; }
  int exit_code() const { return kind_ == ErrorKind::BadInput ? 2 : 1; }

 private:
  ErrorKind kind_;
};

// The one-line message names where (file:line:col, layer or node), what was received and what was
// expected, e.g. `resnet.prototxt:41:7: layer "conv2": kernel_size 0, expected >= 1`.
template <typename... Args>
[[noreturn]] void throw_bad_input(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(ErrorKind::BadInput, fmt::format(f, std::forward<Args>(args)...));
}

template <typename... Args>
[[noreturn]] void throw_failure(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(ErrorKind::Failure, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace convergy
