// Turns what a user names (a zoo network or a file path) into a Graph, choosing the importer by extension.
#include "import/load.h"

#include "graph/classifier.h"
#include "import/caffe/caffe_import.h"
#include "util/checked.h"
#include "util/error.h"
#include "zoo/probe.h"
#include "zoo/zoo.h"

#include <fmt/core.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

namespace convergy {

namespace {

std::string lower_extension(const std::string& path) {
  const size_t slash = path.find_last_of("/\\");
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return {};
  std::string ext = path.substr(dot);
  for (char& c : ext)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return ext;
}

// Reads a whole file. A stdio read loop (rather than streams) keeps large files cheap and reports errno.
std::string read_file(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw_bad_input("cannot open {}: {}", path, std::strerror(errno));
  std::string text;
  if (std::fseek(f.get(), 0, SEEK_END) == 0) {
    const long size = std::ftell(f.get());
    if (size > 0) text.reserve(static_cast<size_t>(size));
    std::rewind(f.get());
  }
  char buf[1 << 16];
  while (true) {
    const size_t n = std::fread(buf, 1, sizeof buf, f.get());
    text.append(buf, n);
    if (n < sizeof buf) break;
  }
  if (std::ferror(f.get())) throw_bad_input("cannot read {}: {}", path, std::strerror(errno));
  return text;
}

// A class count from `what` (a name, --classes): a whole number from 1 to --max-dim.
void check_classes(bool ok, int64_t n, const std::string& text, const std::string& what) {
  if (!ok || n < 1 || n > global_limits().max_dim)
    throw_bad_input("{}: classes \"{}\", expected a whole number from 1 to {}", what, text,
                    limit_text(Limit::Dim));
}

// The N of "classes=N".
int64_t parse_classes(const std::string& digits, const std::string& what) {
  int64_t n = 0;
  bool ok = !digits.empty() && digits.size() <= 18;
  for (char c : digits) {
    ok = ok && c >= '0' && c <= '9';
    if (ok) n = n * 10 + (c - '0');
  }
  check_classes(ok, n, digits, what);
  return n;
}

// What follows '@' in NAME@...: input shapes, each "1x3x224x224" (the first input) or "name=1x3x224x224", and
// at most one "classes=N".
struct NameSuffix {
  std::vector<std::pair<std::string, Shape>> shapes;
  int64_t classes = 0;
};

NameSuffix split_name_suffix(const std::string& text, const std::string& spec) {
  NameSuffix out;
  size_t begin = 0;
  while (true) {
    const size_t end = text.find('@', begin);
    const std::string part = text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    const size_t eq = part.rfind('=');
    const std::string name = eq == std::string::npos ? std::string() : part.substr(0, eq);
    if (name == "classes") {
      if (out.classes) throw_bad_input("\"{}\": classes given twice, expected once", spec);
      out.classes = parse_classes(part.substr(eq + 1), "\"" + spec + "\"");
    } else {
      if (eq != std::string::npos && name.empty())
        throw_bad_input("\"{}\": input shape \"{}\" has an empty input name, expected name=1x3x224x224", spec,
                        part);
      const std::string what =
          fmt::format("\"{}\" {}", spec, name.empty() ? "input shape" : "input \"" + name + "\"");
      Shape shape = parse_shape(eq == std::string::npos ? part : part.substr(eq + 1), what);
      for (const auto& o : out.shapes)
        if (o.first == name)
          throw_bad_input("\"{}\": the {} has two shapes, expected one", spec,
                          name.empty() ? "first input" : "input \"" + name + "\"");
      out.shapes.emplace_back(name, std::move(shape));
    }
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return out;
}

std::string zoo_names() {
  std::string s;
  for (const auto& e : zoo_entries()) s += (s.empty() ? "" : ", ") + e.name;
  return s.empty() ? "(the zoo is empty)" : s;
}

}  // namespace

Graph import_caffe_prototxt_file(const std::string& path, const LoadOptions& options) {
  Graph g = import_caffe_text(read_file(path), path, options);
  g.set_source(path);
  return g;
}

namespace {

// A zoo name or a file, as defined (no '@' suffix, no class count).
Graph load_as_defined(const std::string& spec, const LoadOptions& options) {
  if (spec == kProbeName) {
    Graph g = import_caffe_text(probe_prototxt(), std::string(kProbeName) + ".prototxt", options);
    g.set_source(spec);
    return g;
  }
  if (const ZooEntry* entry = find_zoo_entry(spec)) {
    // Messages point into the zoo file by its name, e.g. "resnet50.prototxt:12:3".
    Graph g = import_caffe_text(std::string(entry->text), entry->name + ".prototxt", options);
    g.set_source(spec);
    return g;
  }
  const std::string ext = lower_extension(spec);
  if (ext == ".prototxt" || ext == ".pt" || ext == ".txt") return import_caffe_prototxt_file(spec, options);
  if (ext == ".onnx") {
#ifdef CONVERGY_HAVE_ONNX
    return import_onnx_file(spec, options);
#else
    throw_bad_input(
        "{}: ONNX support was not built (configure with -DCONVERGY_WITH_ONNX=ON), expected a .prototxt "
        "file or a zoo name",
        spec);
#endif
  }
  if (ext.empty() && spec.find_first_of("/\\") == std::string::npos)
    throw_bad_input(
        "unknown network \"{}\", expected a zoo name ({}), \"{}\" (the operator probe) or a "
        ".prototxt/.onnx file",
        spec, zoo_names(), kProbeName);
  if (ext.empty())
    throw_bad_input("{}: the path has no file extension, expected a .prototxt, .pt, .txt or .onnx file", spec);
  throw_bad_input(
      "{}: unknown file type \"{}\", expected a .prototxt, .pt, .txt or .onnx file, or a zoo name ({})", spec,
      ext, zoo_names());
}

}  // namespace

Graph load_network(const std::string& spec, const LoadOptions& options) {
  if (options.classes != 0)
    check_classes(true, options.classes, std::to_string(options.classes), "--classes");
  // NAME@SHAPE: the network at another input shape (an existing file whose name has an '@' is that file).
  // The shapes start at the first '@' after which the name before it is a zoo network or a file (or at the
  // first '@', so that an error names what is missing).
  const size_t slash = spec.find_last_of("/\\");
  size_t at = spec.find('@', slash == std::string::npos ? 0 : slash + 1);
  for (size_t a = at; a != std::string::npos; a = spec.find('@', a + 1)) {
    const std::string base = spec.substr(0, a);
    if (find_zoo_entry(base) || std::filesystem::is_regular_file(base)) {
      at = a;
      break;
    }
  }
  std::string base = spec;
  LoadOptions resolved = options;
  if (at != std::string::npos && !find_zoo_entry(spec) && !std::filesystem::is_regular_file(spec)) {
    base = spec.substr(0, at);
    if (base.empty()) throw_bad_input("\"{}\": no network before '@', expected NAME@1x3x224x224", spec);
    NameSuffix suffix = split_name_suffix(spec.substr(at + 1), spec);
    for (auto& part : suffix.shapes) {
      for (const auto& given : options.input_shapes)
        if (given.first == part.first)
          throw_bad_input("\"{}\": the {} is set both in the name and by --input-shape, expected one of them",
                          spec, part.first.empty() ? "first input" : "input \"" + part.first + "\"");
      resolved.input_shapes.push_back(std::move(part));
    }
    if (suffix.classes) {
      if (options.classes)
        throw_bad_input("\"{}\": classes are set both in the name and by --classes, expected one of them",
                        spec);
      resolved.classes = suffix.classes;
    }
  }
  Graph g = load_as_defined(base, resolved);
  g.set_source(spec);
  if (resolved.classes) g = with_classes(std::move(g), resolved.classes);
  return g;
}

std::string network_name(const std::string& spec, const std::vector<std::string>& input_shapes,
                         int64_t classes) {
  std::string name = spec;
  for (const auto& s : input_shapes) name += "@" + s;
  if (classes != 0) name += fmt::format("@classes={}", classes);
  return name;
}

std::pair<std::string, Shape> parse_input_shape_option(const std::string& text) {
  const size_t eq = text.rfind('=');
  if (eq == std::string::npos) return {std::string(), parse_shape(text, "--input-shape")};
  std::string name = text.substr(0, eq);
  if (name.empty())
    throw_bad_input("--input-shape \"{}\" has an empty input name, expected name=1x3x224x224 or 1x3x224x224",
                    text);
  return {std::move(name), parse_shape(text.substr(eq + 1), "--input-shape " + text.substr(0, eq))};
}

}  // namespace convergy
