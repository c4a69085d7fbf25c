// SVG plots for the study report (see svg.h). Layout is computed here from estimated text widths, so
// the output needs no script and no font metrics at view time.
#include "report/svg.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace convergy::report::svg {

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        // XML 1.0 allows only tab, newline and carriage return below 0x20.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') break;
        out += c;
    }
  }
  return out;
}

namespace {

// m x 10^e as the double nearest the decimal, so 5e-3 is 0.005 and not 0.005000000000000001.
double decimal(int m, int e) { return std::strtod(fmt::format("{}e{}", m, e).c_str(), nullptr); }

std::string superscript(int n) {
  static const std::array<const char*, 10> digits = {"⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"};
  std::string out = n < 0 ? "⁻" : "";
  for (char c : std::to_string(std::abs(n))) out += digits[static_cast<size_t>(c - '0')];
  return out;
}

std::string num(double v) { return fmt::format("{:.1f}", v); }

// Rough advance width of sans-serif text: enough to keep labels apart without font metrics.
double text_width(std::string_view s, double font_px) {
  double units = 0;
  for (size_t k = 0; k < s.size(); ++k) {
    const unsigned char c = static_cast<unsigned char>(s[k]);
    if ((c & 0xC0) == 0x80) continue;  // UTF-8 continuation byte
    if (c == 'i' || c == 'l' || c == '.' || c == ',' || c == '1' || c == ' ' || c == '(' || c == ')')
      units += 0.35;
    else if (c == 'm' || c == 'w' || c == 'M' || c == 'W')
      units += 0.85;
    else if (c >= 'A' && c <= 'Z')
      units += 0.68;
    else
      units += 0.6;
  }
  return units * font_px;
}

}  // namespace

double nice_floor_125(double v) {
  const int e = static_cast<int>(std::floor(std::log10(v)));
  for (int m : {5, 2, 1})
    if (decimal(m, e) <= v * (1 + 1e-12)) return decimal(m, e);
  return decimal(5, e - 1);
}

double nice_ceil_125(double v) {
  const int e = static_cast<int>(std::floor(std::log10(v)));
  for (int m : {1, 2, 5})
    if (decimal(m, e) >= v * (1 - 1e-12)) return decimal(m, e);
  return decimal(1, e + 1);
}

std::string tick_label(double v) {
  if (v == 0) return "0";
  const double a = std::fabs(v);
  if (a >= 1e-3 && a < 1e5) {
    std::string s = fmt::format("{:.6g}", v);
    return s;
  }
  const int e = static_cast<int>(std::floor(std::log10(a) + 1e-9));
  const double m = v / std::pow(10.0, e);
  const std::string sign = v < 0 ? "−" : "";
  if (std::fabs(std::fabs(m) - 1) < 1e-9) return sign + "10" + superscript(e);
  return fmt::format("{:.6g}×10{}", m, superscript(e));
}

std::vector<Tick> linear_ticks(double lo, double hi, int max_count) {
  std::vector<Tick> ticks;
  if (!(hi > lo) || max_count < 1) return ticks;
  const double raw = (hi - lo) / max_count;
  const double step = nice_ceil_125(raw);
  // Integer multiples keep accumulated rounding out of the labels.
  const long first = static_cast<long>(std::ceil(lo / step - 1e-9));
  const long last = static_cast<long>(std::floor(hi / step + 1e-9));
  const int e = static_cast<int>(std::floor(std::log10(step) + 1e-9));
  for (long k = first; k <= last; ++k) {
    double v = k * step;
    if (e < 0) v = std::strtod(fmt::format("{:.{}f}", v, -e + 1).c_str(), nullptr);
    if (std::fabs(v) < step * 1e-9) v = 0;
    ticks.push_back({v, tick_label(v)});
  }
  return ticks;
}

std::vector<Tick> log_ticks(double lo, double hi) {
  std::vector<Tick> ticks;
  if (!(lo > 0) || !(hi > lo)) return ticks;
  const double decades = std::log10(hi / lo);
  const int e0 = static_cast<int>(std::floor(std::log10(lo))) - 1;
  const int e1 = static_cast<int>(std::ceil(std::log10(hi))) + 1;
  for (int e = e0; e <= e1; ++e)
    for (int m : {1, 2, 5}) {
      const double v = decimal(m, e);
      if (v < lo * (1 - 1e-9) || v > hi * (1 + 1e-9)) continue;
      const bool labelled = decades <= 3.2 || m == 1;
      ticks.push_back({v, labelled ? tick_label(v) : std::string()});
    }
  const auto labelled =
      std::count_if(ticks.begin(), ticks.end(), [](const Tick& t) { return !t.label.empty(); });
  if (labelled < 2) return linear_ticks(lo, hi, 5);
  return ticks;
}

namespace {

// Maps a data value to a pixel coordinate along one axis.
struct Axis {
  double lo = 0, hi = 1;  // data range
  double p0 = 0, p1 = 1;  // pixel range (p1 < p0 for y)
  bool log = false;
  double operator()(double v) const {
    const double t =
        log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) : (v - lo) / (hi - lo);
    return p0 + t * (p1 - p0);
  }
};

std::string marker_svg(Marker m, double x, double y, double r, const std::string& color,
                       const std::string& extra) {
  const std::string style =
      fmt::format("fill=\"{}\" stroke=\"#ffffff\" stroke-width=\"0.8\"{}", color, extra);
  switch (m) {
    case Marker::Circle:
      return fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"{}\" {}", num(x), num(y), num(r), style);
    case Marker::Square:
      return fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" {}", num(x - r * 0.9),
                         num(y - r * 0.9), num(r * 1.8), num(r * 1.8), style);
    case Marker::Diamond:
      return fmt::format("<polygon points=\"{},{} {},{} {},{} {},{}\" {}", num(x), num(y - r * 1.25),
                         num(x + r * 1.25), num(y), num(x), num(y + r * 1.25), num(x - r * 1.25), num(y),
                         style);
    case Marker::TriangleUp:
      return fmt::format("<polygon points=\"{},{} {},{} {},{}\" {}", num(x), num(y - r * 1.3),
                         num(x + r * 1.2), num(y + r * 0.8), num(x - r * 1.2), num(y + r * 0.8), style);
    case Marker::TriangleDown:
      return fmt::format("<polygon points=\"{},{} {},{} {},{}\" {}", num(x), num(y + r * 1.3),
                         num(x + r * 1.2), num(y - r * 0.8), num(x - r * 1.2), num(y - r * 0.8), style);
    case Marker::Cross: {
      const double a = r * 0.45, b = r * 1.2;
      return fmt::format(
          "<polygon points=\"{},{} {},{} {},{} {},{} {},{} {},{} {},{} {},{} {},{} {},{} {},{} {},{}\" {}",
          num(x - a), num(y - b), num(x + a), num(y - b), num(x + a), num(y - a), num(x + b), num(y - a),
          num(x + b), num(y + a), num(x + a), num(y + a), num(x + a), num(y + b), num(x - a), num(y + b),
          num(x - a), num(y + a), num(x - b), num(y + a), num(x - b), num(y - a), num(x - a), num(y - a),
          style);
    }
  }
  return "";
}

// A marker element, closed either empty or around a hover title.
std::string marker_element(Marker m, double x, double y, double r, const std::string& color,
                           const std::string& tooltip, const std::string& extra = "") {
  const std::string open = marker_svg(m, x, y, r, color, extra);
  const std::string tag = open.substr(1, open.find(' ') - 1);
  if (tooltip.empty()) return open + "/>";
  return fmt::format("{}><title>{}</title></{}>", open, escape(tooltip), tag);
}

std::string svg_open(double w, double h, const std::string& title) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 "
      "{0} "
      "{1}\" role=\"img\" aria-label=\"{2}\" font-family=\"'DejaVu Sans', 'Liberation Sans', Arial, "
      "sans-serif\" "
      "class=\"plot\">\n<title>{2}</title>\n",
      num(w), num(h), escape(title));
}

std::string text_element(double x, double y, const std::string& text, double size,
                         const std::string& attrs = "") {
  return fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"{}\"{}>{}</text>\n", num(x), num(y), num(size),
                     attrs.empty() ? "" : " " + attrs, escape(text));
}

struct Box {
  double x0, y0, x1, y1;
  bool overlaps(const Box& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
};

// Legend entries laid out in rows that wrap at `width`; returns the SVG and the height used.
struct LegendEntry {
  std::string name, color;
  Marker marker;
  enum Kind { MarkerKind, Swatch, DashedLine } kind = MarkerKind;
};
std::pair<std::string, double> legend(const std::vector<LegendEntry>& entries, double x0, double y0,
                                      double width) {
  std::string out;
  const double font = 12, row_h = 18;
  double x = x0, y = y0;
  for (const auto& e : entries) {
    const double w = 18 + text_width(e.name, font) + 18;
    if (x > x0 && x + w > x0 + width) {
      x = x0;
      y += row_h;
    }
    if (e.kind == LegendEntry::Swatch)
      out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"11\" height=\"11\" fill=\"{}\" rx=\"2\"/>\n",
                         num(x), num(y - 9.5), e.color);
    else if (e.kind == LegendEntry::DashedLine)
      out += fmt::format(
          "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"1.2\" "
          "stroke-dasharray=\"4 3\"/>\n",
          num(x - 2), num(y - 4), num(x + 12), num(y - 4), e.color);
    else
      out += marker_element(e.marker, x + 5.5, y - 4, 4.8, e.color, "") + "\n";
    out += text_element(x + 16, y, e.name, font, "fill=\"#333333\"");
    x += w;
  }
  return {out, entries.empty() ? 0.0 : y - y0 + row_h};
}

std::string percent_tick(double v) { return fmt::format("{:.0f}%", v * 100); }

}  // namespace

std::string render(const ScatterPlot& p) {
  // Data extent over drawable points (log axes cannot show values <= 0).
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  size_t dropped = 0, total = 0;
  for (const auto& s : p.series)
    for (const auto& pt : s.points) {
      ++total;
      if ((p.log_x && !(pt.x > 0)) || (p.log_y && !(pt.y > 0)) || !std::isfinite(pt.x) ||
          !std::isfinite(pt.y)) {
        ++dropped;
        continue;
      }
      xmin = std::min(xmin, pt.x);
      xmax = std::max(xmax, pt.x);
      ymin = std::min(ymin, pt.y);
      ymax = std::max(ymax, pt.y);
    }
  if (!std::isfinite(xmin))
    xmin = p.log_x ? 1 : 0, xmax = p.log_x ? 10 : 1, ymin = p.log_y ? 1 : 0, ymax = p.log_y ? 10 : 1;
  if (p.y_band) ymin = std::min(ymin, p.y_band->lo), ymax = std::max(ymax, p.y_band->hi);
  if (p.identity) {
    xmin = ymin = std::min(xmin, ymin);
    xmax = ymax = std::max(xmax, ymax);
  }
  auto pad = [](double& lo, double& hi, bool log) {
    if (log) {
      lo = nice_floor_125(lo / 1.08);
      hi = nice_ceil_125(hi * 1.08);
    } else {
      const double span = hi > lo ? hi - lo : std::max(std::fabs(hi), 1.0);
      const double step = nice_ceil_125(span / 6);
      lo = std::floor((lo - span * 0.04) / step) * step;
      hi = std::ceil((hi + span * 0.04) / step) * step;
    }
  };
  pad(xmin, xmax, p.log_x);
  pad(ymin, ymax, p.log_y);
  if (p.x_min) xmin = *p.x_min;
  if (p.x_max) xmax = *p.x_max;
  if (p.y_min) ymin = *p.y_min;
  if (p.y_max) ymax = *p.y_max;

  const std::vector<Tick> xt = p.log_x ? log_ticks(xmin, xmax) : linear_ticks(xmin, xmax, 7);
  std::vector<Tick> yt = p.log_y ? log_ticks(ymin, ymax) : linear_ticks(ymin, ymax, 7);
  if (p.percent_y)
    for (auto& t : yt)
      if (!t.label.empty()) t.label = percent_tick(t.value);

  // Margins from the widest y label, so long labels never run off the left edge.
  double ylab_w = 0;
  for (const auto& t : yt) ylab_w = std::max(ylab_w, text_width(t.label, 12));
  const double left = 24 + ylab_w + 14, right = 18, top = p.title.empty() ? 14 : 38;
  const double plot_h_target = p.height - top - 60;
  const double plot_w = p.width - left - right;
  const double plot_h = p.identity ? std::min(plot_w, plot_h_target) : plot_h_target;
  const Axis ax{xmin, xmax, left, left + plot_w, p.log_x};
  const Axis ay{ymin, ymax, top + plot_h, top, p.log_y};

  // Legend below the x axis title; its height decides the picture's height.
  std::vector<LegendEntry> entries;
  if (p.legend) {
    for (const auto& s : p.series) entries.push_back({s.name, s.color, s.marker});
    if (p.identity) entries.push_back({"y = x", "#444444", Marker::Circle, LegendEntry::DashedLine});
  }
  const double legend_y = top + plot_h + (entries.empty() ? 46 : 58);
  auto [legend_svg, legend_h] = legend(entries, left, legend_y, plot_w);
  std::string note = p.note;
  auto step_of = [&](size_t n) {
    return n > p.max_points_per_series ? (n + p.max_points_per_series - 1) / p.max_points_per_series : 1;
  };
  size_t shown_total = 0, outside = 0;
  for (const auto& s : p.series) {
    shown_total += (s.points.size() + step_of(s.points.size()) - 1) / step_of(s.points.size());
    for (const auto& pt : s.points)
      if (std::isfinite(pt.x) && std::isfinite(pt.y) && !(p.log_x && !(pt.x > 0)) &&
          !(p.log_y && !(pt.y > 0)) && (pt.x < xmin || pt.x > xmax || pt.y < ymin || pt.y > ymax))
        ++outside;
  }
  auto add_note = [&](const std::string& text) { note += (note.empty() ? "" : " ") + text; };
  if (shown_total < total)
    add_note(fmt::format("Showing {} of {} points (evenly thinned).", shown_total, total));
  if (dropped) add_note(fmt::format("{} point(s) with values <= 0 cannot be drawn on log axes.", dropped));
  if (outside) add_note(fmt::format("{} point(s) outside the plotted range.", outside));
  const double note_h = note.empty() ? 0 : 18;
  const double height = legend_y + legend_h + note_h;

  std::string out = svg_open(p.width, height, p.title);
  out += fmt::format("<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n", num(p.width),
                     num(height));
  if (!p.title.empty()) out += text_element(left, 22, p.title, 15, "font-weight=\"bold\" fill=\"#222222\"");
  out += fmt::format(
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#fbfbfd\" stroke=\"#c8c8d0\"/>\n", num(left),
      num(top), num(plot_w), num(plot_h));

  // Grid and ticks.
  for (const auto& t : xt) {
    const double x = ax(t.value);
    out +=
        fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"{3}\" stroke-width=\"1\"/>\n",
                    num(x), num(top), num(top + plot_h), t.label.empty() ? "#f0f0f4" : "#e2e2ea");
    out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#666666\"/>\n", num(x),
                       num(top + plot_h), num(top + plot_h + (t.label.empty() ? 3 : 5)));
    if (!t.label.empty())
      out += text_element(x, top + plot_h + 19, t.label, 12, "text-anchor=\"middle\" fill=\"#333333\"");
  }
  for (const auto& t : yt) {
    const double y = ay(t.value);
    out +=
        fmt::format("<line x1=\"{1}\" y1=\"{0}\" x2=\"{2}\" y2=\"{0}\" stroke=\"{3}\" stroke-width=\"1\"/>\n",
                    num(y), num(left), num(left + plot_w), t.label.empty() ? "#f0f0f4" : "#e2e2ea");
    out += fmt::format("<line x1=\"{1}\" y1=\"{0}\" x2=\"{2}\" y2=\"{0}\" stroke=\"#666666\"/>\n", num(y),
                       num(left - (t.label.empty() ? 3 : 5)), num(left));
    if (!t.label.empty())
      out += text_element(left - 8, y + 4, t.label, 12, "text-anchor=\"end\" fill=\"#333333\"");
  }

  std::vector<Box> taken;  // drawn things point labels must not cover
  if (p.y_band) {
    const double y0 = ay(std::clamp(p.y_band->hi, ymin, ymax)), y1 = ay(std::clamp(p.y_band->lo, ymin, ymax));
    out += fmt::format(
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" fill-opacity=\"0.22\"/>\n", num(left),
        num(y0), num(plot_w), num(y1 - y0), p.y_band->color);
    // Caption inside the band, bottom right, where it reads as the band's name.
    const double w = text_width(p.y_band->label, 11);
    out += text_element(
        left + plot_w - 6, y1 - 5, p.y_band->label, 11,
        fmt::format("text-anchor=\"end\" fill=\"{}\" font-style=\"italic\"", p.y_band->text_color));
    taken.push_back({left + plot_w - 6 - w, y1 - 17, left + plot_w - 6, y1 - 2});
  }
  if (p.zero_line && ymin < 0 && ymax > 0)
    out += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#444444\" stroke-width=\"1.2\" "
        "stroke-dasharray=\"5 4\"/>\n",
        num(left), num(ay(0)), num(left + plot_w));

  if (p.identity) {
    const double lo = xmin, hi = xmax;
    if (p.identity_band > 0) {
      // The band's edges y = (1 +- b) x are straight lines in log-log and linear axes alike; the polygon
      // follows them to where they leave the square plot area.
      const double up = 1 + p.identity_band, dn = 1 - p.identity_band;
      const std::vector<std::pair<double, double>> poly = {{lo, std::min(lo * up, hi)},
                                                           {std::min(hi / up, hi), hi},
                                                           {hi, hi},
                                                           {hi, hi * dn},
                                                           {std::min(lo / dn, hi), lo},
                                                           {lo, lo}};
      std::string pts;
      for (const auto& [x, y] : poly)
        pts += fmt::format("{}{},{}", pts.empty() ? "" : " ", num(ax(x)), num(ay(y)));
      out += fmt::format("<polygon points=\"{}\" fill=\"#9aa5b1\" fill-opacity=\"0.22\" stroke=\"none\"/>\n",
                         pts);
      const double lx = hi / std::pow(hi / lo, 0.16);
      out += text_element(ax(lx / up) - 4, ay(lx) + 2, fmt::format("±{:.0f}%", p.identity_band * 100), 11,
                          "text-anchor=\"end\" fill=\"#5a6570\"");
    }
    out += fmt::format(
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#444444\" stroke-width=\"1.2\" "
        "stroke-dasharray=\"5 4\"/>\n",
        num(ax(lo)), num(ay(lo)), num(ax(hi)), num(ay(hi)));
  }

  // Points, thinned evenly when a series is huge, then their labels placed where they collide least.
  std::string labels;
  for (const auto& s : p.series) {
    const size_t n = s.points.size();
    const size_t step = step_of(n);
    out += fmt::format("<g class=\"series\" data-series=\"{}\">\n", escape(s.name));
    for (size_t k = 0; k < n; k += step) {
      const Point& pt = s.points[k];
      if ((p.log_x && !(pt.x > 0)) || (p.log_y && !(pt.y > 0)) || !std::isfinite(pt.x) ||
          !std::isfinite(pt.y))
        continue;
      if (pt.x < xmin || pt.x > xmax || pt.y < ymin || pt.y > ymax) continue;
      const double x = ax(pt.x), y = ay(pt.y);
      out += marker_element(s.marker, x, y, p.label_points ? 5.5 : 4.5, s.color,
                            pt.tooltip.empty() ? pt.label : pt.tooltip, " fill-opacity=\"0.88\"") +
             "\n";
      taken.push_back({x - 5, y - 5, x + 5, y + 5});
    }
    out += "</g>\n";
  }
  if (p.label_points) {
    for (const auto& s : p.series)
      for (const auto& pt : s.points) {
        if (pt.label.empty() || pt.x < xmin || pt.x > xmax || pt.y < ymin || pt.y > ymax) continue;
        if ((p.log_x && !(pt.x > 0)) || (p.log_y && !(pt.y > 0))) continue;
        const double x = ax(pt.x), y = ay(pt.y), w = text_width(pt.label, 11), h = 12;
        // Candidate spots around the point: right, left, above, below, then further out.
        const std::vector<std::pair<double, double>> offsets = {
            {9, 4},  {-9 - w, 4},  {-w / 2, -9}, {-w / 2, 16}, {9, -8},
            {9, 16}, {-9 - w, -8}, {-9 - w, 16}, {9, 28},      {9, -20}};
        Box best{};
        bool found = false;
        for (const auto& [dx, dy] : offsets) {
          Box b{x + dx, y + dy - h + 2, x + dx + w, y + dy + 2};
          if (b.x0 < left + 2 || b.x1 > left + plot_w - 2 || b.y0 < top + 2 || b.y1 > top + plot_h - 2)
            continue;
          if (std::none_of(taken.begin(), taken.end(), [&](const Box& o) { return o.overlaps(b); })) {
            best = b;
            found = true;
            break;
          }
        }
        if (!found) continue;  // the tooltip still names the point
        taken.push_back(best);
        labels += text_element(best.x0, best.y1 - 2, pt.label, 11, fmt::format("fill=\"{}\"", s.color));
      }
    out += "<g class=\"labels\" paint-order=\"stroke\" stroke=\"#ffffff\" stroke-width=\"3\">\n" + labels +
           "</g>\n";
  }

  // Axis titles.
  out += text_element(left + plot_w / 2, top + plot_h + 40, p.x_title, 13,
                      "text-anchor=\"middle\" fill=\"#222222\"");
  const double yc = top + plot_h / 2;
  out += fmt::format(
      "<text x=\"16\" y=\"{0}\" font-size=\"13\" text-anchor=\"middle\" fill=\"#222222\" "
      "transform=\"rotate(-90 16 "
      "{0})\">{1}</text>\n",
      num(yc), escape(p.y_title));
  out += legend_svg;
  if (!note.empty())
    out += text_element(left, legend_y + legend_h + 8, note, 11, "fill=\"#666666\" font-style=\"italic\"");
  out += "</svg>\n";
  return out;
}

std::string render(const StackedBarChart& c) {
  const double font = 12, row_h = 20, bar_h = 14, group_gap = 10;
  // Left column: group names; second column: bar labels.
  double group_w = 0, label_w = 0;
  for (const auto& b : c.bars) {
    group_w = std::max(group_w, text_width(b.group, font) * 1.12);  // group names are bold
    label_w = std::max(label_w, text_width(b.label, 11));
  }
  double end_w = 0;
  for (const auto& b : c.bars) end_w = std::max(end_w, text_width(b.end_label, 11));
  const double left = 12 + group_w + (label_w > 0 ? 10 + label_w : 0) + 10;
  const double right = 14 + end_w;
  const double plot_w = c.width - left - right;
  const double title_h = c.title.empty() ? 8 : 32;

  std::vector<LegendEntry> entries;
  if (c.legend)
    for (size_t k = 0; k < c.categories.size(); ++k)
      entries.push_back({c.categories[k], k < c.colors.size() ? c.colors[k] : "#888888", Marker::Square,
                         LegendEntry::Swatch});
  auto [legend_svg, legend_h] = legend(entries, left, title_h + 12, plot_w);
  const double top = title_h + legend_h + (legend_h > 0 ? 6 : 4) + (c.x_band || c.reference_line ? 16 : 0);

  double xmax = 0;
  for (const auto& b : c.bars) {
    double sum = 0;
    for (const auto& v : b.values)
      if (v) sum += std::max(0.0, *v);
    xmax = std::max(xmax, sum);
  }
  if (c.x_band) xmax = std::max(xmax, c.x_band->hi);
  if (c.reference_line) xmax = std::max(xmax, c.reference_line->value);
  const double data_max = xmax > 0 ? xmax : 1;
  if (c.x_max)
    xmax = *c.x_max;
  else
    xmax = data_max * 1.04;
  std::vector<Tick> ticks = linear_ticks(0, xmax, 6);
  // The axis ends on a tick at or past the longest bar (end labels live in the right margin).
  if (!c.x_max && !ticks.empty() && ticks.back().value < data_max * (1 - 1e-9)) {
    const double step = ticks.size() > 1 ? ticks[1].value - ticks[0].value : xmax;
    xmax = ticks.back().value + step;
    ticks = linear_ticks(0, xmax, 6);
  } else if (!c.x_max && !ticks.empty()) {
    xmax = ticks.back().value;
  }
  if (c.percent_x)
    for (auto& t : ticks) t.label = percent_tick(t.value);

  // Rows: a gap before each new group.
  std::vector<double> ys;
  double y = top + 6;
  for (size_t k = 0; k < c.bars.size(); ++k) {
    if (k > 0 && c.bars[k].group != c.bars[k - 1].group) y += group_gap;
    ys.push_back(y);
    y += row_h;
  }
  const double plot_bottom = y + 2;
  const double height = plot_bottom + 44 + (c.note.empty() ? 0 : 16);
  const Axis ax{0, xmax, left, left + plot_w, false};

  std::string out = svg_open(c.width, height, c.title);
  out += fmt::format("<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n", num(c.width),
                     num(height));
  if (!c.title.empty()) out += text_element(12, 22, c.title, 15, "font-weight=\"bold\" fill=\"#222222\"");
  out += legend_svg;
  if (c.x_band) {
    const double x0 = ax(c.x_band->lo), x1 = ax(c.x_band->hi);
    out += fmt::format(
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#f2c14e\" fill-opacity=\"0.28\"/>\n",
        num(x0), num(top), num(x1 - x0), num(plot_bottom - top));
  }
  for (const auto& t : ticks) {
    const double x = ax(t.value);
    out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#e2e2ea\"/>\n", num(x),
                       num(top), num(plot_bottom));
    out += text_element(x, plot_bottom + 16, t.label, font, "text-anchor=\"middle\" fill=\"#333333\"");
  }
  out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#666666\"/>\n", num(left),
                     num(top), num(plot_bottom));
  // Under the bars and their end labels, which stay readable across it.
  if (c.reference_line) {
    const double x = ax(c.reference_line->value);
    out += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#444444\" stroke-width=\"1.2\" "
        "stroke-dasharray=\"5 4\"/>\n",
        num(x), num(top - 4), num(plot_bottom));
    out += text_element(x, top - 7, c.reference_line->label, 11, "text-anchor=\"middle\" fill=\"#444444\"");
  }
  for (size_t k = 0; k < c.bars.size(); ++k) {
    const StackedBar& b = c.bars[k];
    const double yb = ys[k];
    if (k == 0 || b.group != c.bars[k - 1].group)
      out += text_element(12, yb + bar_h - 2.5, b.group, font, "fill=\"#222222\" font-weight=\"bold\"");
    if (!b.label.empty())
      out += text_element(left - 8, yb + bar_h - 3, b.label, 11, "text-anchor=\"end\" fill=\"#555555\"");
    double x = 0;
    bool any = false;
    for (size_t m = 0; m < b.values.size(); ++m) {
      if (!b.values[m] || *b.values[m] <= 0) continue;
      any = true;
      const double v = *b.values[m];
      const std::string name = m < c.categories.size() ? c.categories[m] : "";
      out += fmt::format(
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{}</title></rect>\n",
          num(ax(x)), num(yb), num(std::max(ax(x + v) - ax(x), 0.5)), num(bar_h),
          m < c.colors.size() ? c.colors[m] : "#888888",
          escape(fmt::format("{} · {} · {}: {}", b.group, b.label, name,
                             c.percent_x ? percent_tick(v) : tick_label(v))));
      x += v;
    }
    if (!any && !b.missing_text.empty())
      out += text_element(left + 6, yb + bar_h - 3, b.missing_text, 11,
                          "fill=\"#888888\" font-style=\"italic\"");
    else if (!b.end_label.empty())
      out += text_element(ax(std::min(x, xmax)) + 5, yb + bar_h - 3, b.end_label, 11,
                          "fill=\"#333333\" paint-order=\"stroke\" stroke=\"#ffffff\" stroke-width=\"3\"");
  }
  out += text_element(left + plot_w / 2, plot_bottom + 36, c.x_title, 13,
                      "text-anchor=\"middle\" fill=\"#222222\"");
  if (c.x_band)
    out += text_element((ax(c.x_band->lo) + ax(c.x_band->hi)) / 2, top - 5, c.x_band->label, 11,
                        "text-anchor=\"middle\" fill=\"#8a6d1a\" font-style=\"italic\"");
  if (!c.note.empty())
    out += text_element(12, height - 6, c.note, 11, "fill=\"#666666\" font-style=\"italic\"");
  out += "</svg>\n";
  return out;
}

}  // namespace convergy::report::svg
