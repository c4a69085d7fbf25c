// Helpers for the report tests: a synthetic StudyResults fixture, a strict little XML well-formedness
// checker, and a headless-Chromium runner.
#pragma once
#include "report/study_results.h"

#include <filesystem>
#include <string>
#include <vector>

namespace convergy::report::testing {

// A realistic but SYNTHETIC study (made-up numbers, fixed seed), only for rendering tests: three local
// backends measured per layer, TX2 CPU/GPU standalone layers and Jetson Nano whole networks.
StudyResults synthetic_study(bool quick = false);

// Checks that `text` is well-formed XML: one root element, tags nested and closed in order, attribute
// values quoted, `&` only in the five predefined or numeric entities, no `<` in text or attributes.
// A leading <!DOCTYPE ...> and <?xml ...?> are allowed. Returns "" when well-formed, else what is wrong
// and where (byte offset).
std::string xml_problem(const std::string& text);
// Number of start tags named `name` (e.g. "svg", "circle").
size_t count_tags(const std::string& text, const std::string& name);

std::string read_text(const std::filesystem::path& path);

struct BrowserRun {
  int exit_code = -1;
  std::string dom;                          // --dump-dom output
  std::vector<std::string> console;         // "CONSOLE" lines of the browser log: messages from the page
  std::vector<std::string> network_errors;  // log lines naming a failed request (net::ERR_...)
  std::string log;                          // the whole stderr log, for failure messages
};
// Opens `html` in headless Chromium twice: once saving a screenshot to `screenshot` (skipped when empty),
// once dumping the DOM. `work` holds the profile folders and logs.
BrowserRun open_in_chromium(const std::filesystem::path& html, const std::filesystem::path& screenshot,
                            const std::filesystem::path& work);
const char* chromium_path();

}  // namespace convergy::report::testing
