// `convergy export --db F [--campaign ID] [--raw] --out file.csv`: per-layer measurement rows as CSV. Safe to
// run while a campaign is writing (WAL); the output appears only when complete (written aside, then renamed).
#include "cli/command.h"
#include "cli/format.h"
#include "store/store.h"
#include "util/error.h"

#include <filesystem>
#include <iostream>
#include <optional>

namespace convergy::cli {
namespace {

struct ExportOptions {
  std::string db = "convergy.db";
  std::optional<int64_t> campaign;
  bool raw = false;
  std::string out;
};

int run_export(const ExportOptions& o) {
  if (!std::filesystem::exists(o.db)) throw_bad_input("{}: no such database (run `convergy profile` first)", o.db);
  Store store(o.db, /*read_only=*/true);
  if (o.out.empty() || o.out == "-") {
    store.export_csv(std::cout, o.campaign, o.raw);
    return 0;
  }
  write_output_file(o.out, o.out, [&](std::ostream& f) { store.export_csv(f, o.campaign, o.raw); });
  return 0;
}

const Command kExport{{"export", "Write measured per-layer rows from the store as CSV", 60,
                       [](CLI::App& sub) -> std::function<int()> {
                         auto o = std::make_shared<ExportOptions>();
                         sub.add_option("--db", o->db, "SQLite database")->capture_default_str();
                         sub.add_option("--campaign", o->campaign, "Only this campaign (default: all)");
                         sub.add_flag("--raw", o->raw, "Include every raw repetition, not only aggregates");
                         sub.add_option("--out", o->out, "Output CSV file (- for standard output)")->required();
                         return [o] { return run_export(*o); };
                       }}};

}  // namespace
}  // namespace convergy::cli
