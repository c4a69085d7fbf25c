// Checked 64-bit arithmetic for shapes and counts: absurd shapes fail clearly instead of wrapping.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace convergy {

inline std::optional<int64_t> checked_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}
inline std::optional<int64_t> checked_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}
inline std::optional<uint64_t> checked_mul_u(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}
inline std::optional<uint64_t> checked_add_u(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}
inline std::optional<int64_t> checked_product(std::span<const int64_t> v) {
  int64_t r = 1;
  for (int64_t x : v) {
    auto m = checked_mul(r, x);
    if (!m) return std::nullopt;
    r = *m;
  }
  return r;
}

// Upper bounds that keep a hostile file from asking for absurd work or memory. The CLI can raise them.
struct Limits {
  int64_t max_dim = int64_t{1} << 24;          // any single dimension
  int64_t max_tensor_elems = int64_t{1} << 34;  // elements of any one blob or weight
  int64_t max_layers = 100000;
  int64_t max_nesting = 64;                     // nested messages in text formats
};
Limits& global_limits();

enum class Limit { Dim, TensorElems, Layers, Nesting };
// A limit's current value and the CLI option that raises it, for the end of a message:
// "16777216 (raise with --max-dim)", as in "channels 2^40, expected at most 16777216 (raise with --max-dim)".
std::string limit_text(Limit which);

}  // namespace convergy
