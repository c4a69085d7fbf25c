// Test helpers: a strict little XML well-formedness checker and a headless-Chromium runner.
#include "report_test_util.h"

#include <fmt/format.h>

#include <sys/wait.h>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

namespace convergy::report::testing {

namespace {

bool name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':' || c == '.';
}

// Checks the entity at text[pos] == '&'; returns its length or 0 if it is not a valid reference.
size_t entity_length(const std::string& text, size_t pos) {
  static const std::array<const char*, 5> named = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
  for (const char* e : named)
    if (text.compare(pos, std::char_traits<char>::length(e), e) == 0)
      return std::char_traits<char>::length(e);
  if (text.compare(pos, 2, "&#") == 0) {
    size_t k = pos + 2;
    const bool hex = k < text.size() && text[k] == 'x';
    if (hex) ++k;
    const size_t digits_start = k;
    while (k < text.size() && (hex ? std::isxdigit(static_cast<unsigned char>(text[k]))
                                   : std::isdigit(static_cast<unsigned char>(text[k]))))
      ++k;
    if (k > digits_start && k < text.size() && text[k] == ';') return k + 1 - pos;
  }
  return 0;
}

}  // namespace

std::string xml_problem(const std::string& text) {
  std::vector<std::string> stack;
  size_t pos = 0;
  bool root_seen = false, root_closed = false;
  auto at = [&](size_t p, const std::string& what) { return fmt::format("byte {}: {}", p, what); };
  // Raw-text elements: their content is not parsed (CSS may hold '>' and '&').
  auto skip_raw = [&](const std::string& name) -> bool {
    if (name != "style") return true;
    const size_t end = text.find("</style>", pos);
    if (end == std::string::npos) return false;
    pos = end;
    return true;
  };
  while (pos < text.size()) {
    const char c = text[pos];
    if (c == '&') {
      if (!entity_length(text, pos)) return at(pos, "'&' that does not start an entity");
      pos += entity_length(text, pos);
      continue;
    }
    if (c == '>') return at(pos, "'>' outside a tag");
    if (c != '<') {
      if (root_closed && !std::isspace(static_cast<unsigned char>(c)))
        return at(pos, "text after the root element");
      ++pos;
      continue;
    }
    if (text.compare(pos, 4, "<!--") == 0) {
      const size_t end = text.find("-->", pos + 4);
      if (end == std::string::npos) return at(pos, "unclosed comment");
      pos = end + 3;
      continue;
    }
    if (text.compare(pos, 2, "<?") == 0) {
      const size_t end = text.find("?>", pos);
      if (end == std::string::npos) return at(pos, "unclosed processing instruction");
      pos = end + 2;
      continue;
    }
    if (text.compare(pos, 9, "<!DOCTYPE") == 0) {
      if (root_seen) return at(pos, "DOCTYPE after the root element");
      const size_t end = text.find('>', pos);
      if (end == std::string::npos) return at(pos, "unclosed DOCTYPE");
      pos = end + 1;
      continue;
    }
    if (text.compare(pos, 2, "</") == 0) {
      size_t k = pos + 2;
      const size_t s = k;
      while (k < text.size() && name_char(text[k])) ++k;
      const std::string name = text.substr(s, k - s);
      while (k < text.size() && std::isspace(static_cast<unsigned char>(text[k]))) ++k;
      if (k >= text.size() || text[k] != '>') return at(pos, "malformed end tag");
      if (stack.empty()) return at(pos, fmt::format("end tag </{}> with no open element", name));
      if (stack.back() != name) return at(pos, fmt::format("end tag </{}> closes <{}>", name, stack.back()));
      stack.pop_back();
      if (stack.empty()) root_closed = true;
      pos = k + 1;
      continue;
    }
    // Start tag.
    size_t k = pos + 1;
    const size_t s = k;
    while (k < text.size() && name_char(text[k])) ++k;
    const std::string name = text.substr(s, k - s);
    if (name.empty()) return at(pos, "'<' that starts no tag");
    if (root_closed) return at(pos, "a second root element");
    std::vector<std::string> attrs;
    while (true) {
      while (k < text.size() && std::isspace(static_cast<unsigned char>(text[k]))) ++k;
      if (k >= text.size()) return at(pos, fmt::format("unclosed start tag <{}>", name));
      if (text[k] == '>' || text.compare(k, 2, "/>") == 0) break;
      const size_t as = k;
      while (k < text.size() && name_char(text[k])) ++k;
      const std::string attr = text.substr(as, k - as);
      if (attr.empty()) return at(k, fmt::format("bad character in <{}>", name));
      for (const auto& a : attrs)
        if (a == attr) return at(as, fmt::format("attribute {} repeated in <{}>", attr, name));
      attrs.push_back(attr);
      if (k >= text.size() || text[k] != '=')
        return at(k, fmt::format("attribute {} of <{}> without a value", attr, name));
      ++k;
      if (k >= text.size() || (text[k] != '"' && text[k] != '\''))
        return at(k, fmt::format("unquoted value of {}", attr));
      const char q = text[k++];
      while (k < text.size() && text[k] != q) {
        if (text[k] == '<') return at(k, fmt::format("'<' inside the value of {}", attr));
        if (text[k] == '&') {
          const size_t len = entity_length(text, k);
          if (!len) return at(k, fmt::format("'&' that does not start an entity in {}", attr));
          k += len;
          continue;
        }
        ++k;
      }
      if (k >= text.size()) return at(as, fmt::format("unterminated value of {}", attr));
      ++k;
    }
    root_seen = true;
    if (text[k] == '/') {
      pos = k + 2;
      if (stack.empty()) root_closed = true;
      continue;
    }
    pos = k + 1;
    stack.push_back(name);
    if (!skip_raw(name)) return at(pos, fmt::format("unclosed <{}>", name));
  }
  if (!stack.empty()) return fmt::format("end of input: <{}> not closed", stack.back());
  if (!root_seen) return "no root element";
  return "";
}

size_t count_tags(const std::string& text, const std::string& name) {
  size_t n = 0;
  for (size_t p = text.find("<" + name); p != std::string::npos; p = text.find("<" + name, p + 1)) {
    const char after = p + 1 + name.size() < text.size() ? text[p + 1 + name.size()] : '\0';
    if (after == ' ' || after == '>' || after == '/' || after == '\n') ++n;
  }
  return n;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const char* chromium_path() { return "/usr/bin/chromium"; }

namespace {

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

int run_shell(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

BrowserRun open_in_chromium(const std::filesystem::path& html, const std::filesystem::path& screenshot,
                            const std::filesystem::path& work) {
  std::filesystem::create_directories(work);
  const std::string url = "file://" + std::filesystem::absolute(html).string();
  auto base = [&](const std::string& profile) {
    // A fresh profile each time: a profile left locked by a killed browser must not stall the next one.
    std::filesystem::remove_all(work / profile);
    return fmt::format(
        "timeout 60 {} --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
        "--disable-background-networking --disable-component-update --disable-sync --disable-dev-shm-usage "
        "--user-data-dir={} --enable-logging=stderr --v=0",
        chromium_path(), quote((work / profile).string()));
  };
  // On this shared 2-core machine headless Chromium has, rarely, stalled before its first frame; that is
  // the browser, not the page, so a run killed by the timeout (exit 124) is tried once more.
  auto run_browser = [&](const std::string& profile, const std::string& args,
                         const std::filesystem::path& log_file) {
    int code = run_shell(fmt::format("{} {} 2>{}", base(profile), args, quote(log_file.string())));
    std::string text = read_text(log_file);
    if (code == 124) {
      code = run_shell(fmt::format("{} {} 2>{}", base(profile + "-retry"), args, quote(log_file.string())));
      text = "[first run timed out after 60 s; retried]\n" + read_text(log_file);
    }
    return std::pair<int, std::string>(code, text);
  };
  BrowserRun run;
  std::string log;
  if (!screenshot.empty()) {
    auto [code, text] =
        run_browser("profile-shot",
                    fmt::format("--screenshot={} --window-size=1280,2400 --hide-scrollbars {} >/dev/null",
                                quote(screenshot.string()), quote(url)),
                    work / "screenshot.log");
    run.exit_code = code;
    log += text;
    if (run.exit_code != 0) {
      run.log = log;
      return run;
    }
  }
  const auto dom = work / "dom.html";
  auto [code, text] = run_browser(
      "profile-dom", fmt::format("--dump-dom {} >{}", quote(url), quote(dom.string())), work / "dom.log");
  run.exit_code = code;
  log += text;
  run.dom = read_text(dom);
  run.log = log;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    // Chromium logs every console message of the page as "...:CONSOLE(line)] "message", source: ...".
    if (line.find(":CONSOLE") != std::string::npos) run.console.push_back(line);
    if (line.find("net::ERR_") != std::string::npos ||
        line.find("Failed to load resource") != std::string::npos)
      run.network_errors.push_back(line);
  }
  return run;
}

}  // namespace convergy::report::testing
