// `convergy zoo`: lists the built-in networks with input size, layer count, MACs and parameters.
#include "zoo/zoo.h"
#include "cli/command.h"
#include "cli/format.h"
#include "features/features.h"
#include "import/load.h"

#include <fmt/core.h>

namespace convergy::cli {

namespace {

struct ZooRow {
  const ZooEntry* entry;
  Shape input;
  int layers = 0;  // as defined, Input layers excluded
  uint64_t macs = 0;
  uint64_t params = 0;
};

int run_zoo(OutputFormat format) {
  std::vector<ZooRow> rows;
  for (const ZooEntry& e : zoo_entries()) {
    // The as-defined graph: published parameter counts are of the network before any pass.
    Graph g = load_network(e.name);
    NetworkFeatures f = network_features(g);
    ZooRow r{&e, {}, static_cast<int>(f.layers.size()), f.macs, f.params};
    auto inputs = g.inputs();
    if (!inputs.empty()) r.input = g.blob(inputs.front()).shape;
    rows.push_back(std::move(r));
  }

  if (format == OutputFormat::Json) {
    Json nets = Json::array();
    for (const auto& r : rows) {
      nets.push_back({{"name", r.entry->name},
                      {"title", r.entry->title},
                      {"source", r.entry->source},
                      {"input_shape", r.input.dims},
                      {"layers", r.layers},
                      {"macs", r.macs},
                      {"flops", 2 * r.macs},
                      {"params", r.params}});
    }
    fmt::print("{}", json_text(Json{{"networks", nets}}));
    return 0;
  }
  const bool table = format == OutputFormat::Table;
  // CSV headers are the JSON keys; table headers are for people.
  Table t({{table ? "network" : "name"},
           {"title"},
           {table ? "input" : "input_shape"},
           {"layers", Align::Right},
           {table ? "MACs" : "macs", Align::Right},
           {"params", Align::Right}});
  for (const auto& r : rows)
    t.add_row({r.entry->name, r.entry->title, r.input.str(), std::to_string(r.layers),
               table ? human_count(r.macs) : std::to_string(r.macs),
               table ? human_count(r.params) : std::to_string(r.params)});
  fmt::print("{}", table ? t.text() : t.csv());
  return 0;
}

const Command kZoo{
    {"zoo", "List the built-in networks (input, layers, MACs, parameters)", 10, [](CLI::App& sub) {
       auto format = std::make_shared<OutputFormat>(OutputFormat::Table);
       add_format_option(sub, *format);
       return std::function<int()>([format] { return run_zoo(*format); });
     }}};

}  // namespace

}  // namespace convergy::cli
