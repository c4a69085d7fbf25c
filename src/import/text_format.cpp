// The protobuf text-format reader: a one-pass lexer and an iterative parser (an explicit stack rather than
// recursion, so a raised nesting limit cannot overflow the C++ stack).
#include "import/text_format.h"

#include "util/checked.h"
#include "util/error.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

namespace convergy::textproto {

namespace {

enum class Tok : uint8_t { End, Identifier, Integer, Float, String, Symbol };

struct Token {
  Tok kind = Tok::End;
  char symbol = 0;        // for Symbol
  bool escaped = false;   // for String: the literal has a backslash
  std::string_view text;  // raw text (String: including the quotes)
  Pos pos;
};

// What the lexer needs to know of a byte, looked up once per byte rather than tested by a chain of
// comparisons: how a token (or the space before one) starts with it, and what runs it may continue.
enum class Start : uint8_t { Other, Ident, Digit, Dot, Quote, Symbol, Blank, LineEnd, Comment };
enum : uint8_t {
  kIdentChar = 1 << 0,   // a-z A-Z _ 0-9
  kDigit = 1 << 1,       // 0-9
  kNumberChar = 1 << 2,  // what a number token may hold before it is validated: ident chars and '.'
  kStringStop = 1 << 3,  // where the scan of a string literal stops: quotes, backslash, \n, NUL
};
struct CharInfo {
  Start start = Start::Other;
  uint8_t flags = 0;
};
constexpr auto kCharInfo = [] {
  std::array<CharInfo, 256> t{};
  for (int c = 0; c < 256; ++c) {
    CharInfo& i = t[static_cast<size_t>(c)];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (letter || digit) i.flags |= kIdentChar | kNumberChar;
    if (digit) i.flags |= kDigit;
    if (c == '.') i.flags |= kNumberChar;
    if (c == '"' || c == '\'' || c == '\\' || c == '\n' || c == 0) i.flags |= kStringStop;
    if (letter) i.start = Start::Ident;
    if (digit) i.start = Start::Digit;
    if (c == '.') i.start = Start::Dot;
    if (c == '"' || c == '\'') i.start = Start::Quote;
    for (char sym : {'{', '}', '<', '>', '[', ']', ':', ',', ';', '-'})
      if (c == sym) i.start = Start::Symbol;
    if (c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f') i.start = Start::Blank;
    if (c == '\n') i.start = Start::LineEnd;
    if (c == '#') i.start = Start::Comment;
  }
  return t;
}();
uint8_t char_class(char c) { return kCharInfo[static_cast<unsigned char>(c)].flags; }
Start start_of(char c) { return kCharInfo[static_cast<unsigned char>(c)].start; }

bool is_digit(char c) { return (char_class(c) & kDigit) != 0; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

// A character as it should appear in a message: printable ASCII quoted, anything else as a byte value.
std::string show_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x21 && u < 0x7f) return c == '"' ? std::string("'\"'") : fmt::format("\"{}\"", c);
  return fmt::format("byte 0x{:02X}", u);
}

bool all_of(std::string_view s, bool (*pred)(char)) {
  if (s.empty()) return false;
  for (char c : s)
    if (!pred(c)) return false;
  return true;
}
bool is_octal(char c) { return c >= '0' && c <= '7'; }

// Classifies a number token: Integer, Float, or End when malformed.
Tok classify_number(std::string_view t) {
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X'))
    return all_of(t.substr(2), is_hex) ? Tok::Integer : Tok::End;
  if (all_of(t, is_digit)) {
    // A leading zero means octal, as in C and protobuf.
    if (t.size() > 1 && t[0] == '0') return all_of(t.substr(1), is_octal) ? Tok::Integer : Tok::End;
    return Tok::Integer;
  }
  // Float: digits [. digits] [e [+-] digits] [f], at least one mantissa digit.
  size_t i = 0, mantissa_digits = 0;
  while (i < t.size() && is_digit(t[i])) ++i, ++mantissa_digits;
  if (i < t.size() && t[i] == '.') {
    ++i;
    while (i < t.size() && is_digit(t[i])) ++i, ++mantissa_digits;
  }
  if (mantissa_digits == 0) return Tok::End;
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    size_t exp_digits = 0;
    while (i < t.size() && is_digit(t[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return Tok::End;
  }
  if (i < t.size() && (t[i] == 'f' || t[i] == 'F')) ++i;
  return i == t.size() ? Tok::Float : Tok::End;
}

}  // namespace

class Parser {
 public:
  Parser(Document& doc, std::string_view counted_root_field)
      : doc_(doc), buf_(doc.text_->data()), s_(*doc.text_), p_(0), counted_root_field_(counted_root_field) {}

  void run();
  // Points each message at its fields, now that the array of fields no longer grows.
  void finish() {
    for (size_t m = 0; m < doc_.messages_.size(); ++m)
      doc_.messages_[m].fields.data_ = doc_.fields_.data() + offsets_[m];
  }

 private:
  struct Frame {
    uint32_t message;
    char close;  // '}' or '>' ('\0' for the root)
    Pos open_pos;
    std::string_view name;  // the field that opened it
    size_t first_field;     // where its fields start in pending_
    // Set while this message is inside `name: [ {...}, {...} ]` and the element just closed.
    bool list_pending = false;
    std::string_view list_name;
    Pos list_name_pos;
  };

  // Lexer ------------------------------------------------------------------------------------------
  // The lexer reads s_[s_.size()], the std::string's terminating NUL, where that saves a bounds check: a NUL
  // ends every run of space, identifier and number bytes, and then the offset tells the end from a NUL byte.
  Pos pos_at(size_t offset) const { return Pos{line_, static_cast<uint32_t>(offset - line_start_ + 1)}; }
  [[gnu::always_inline]] inline Start skip_space(size_t& p);
  Token lex();
  // Consumes a ':' if it is the next token (nothing is peeked then), as next() would.
  bool skip_colon() {
    if (has_peek_) {
      if (!is_symbol(peek_, ':')) return false;
      has_peek_ = false;
      return true;
    }
    size_t p = p_;
    const bool colon = skip_space(p) == Start::Symbol && s_[p] == ':';
    p_ = colon ? p + 1 : p;
    return colon;
  }
  // The lexer's errors, out of its way.
  [[noreturn, gnu::cold, gnu::noinline]] Token fail_unexpected(Pos pos, char c) const;
  [[noreturn, gnu::cold, gnu::noinline]] void fail_unterminated(Pos pos, char quote) const;
  [[noreturn, gnu::cold, gnu::noinline]] void fail_number(Pos pos, std::string_view number) const;
  Token next() {
    if (has_peek_) {
      has_peek_ = false;
      return peek_;
    }
    return lex();
  }
  // next(), with the common cases at the start of a field, a name or a closing brace, lexed in place.
  Token next_name() {
    if (!has_peek_) {
      size_t p = p_;
      const Start start = skip_space(p);
      if (start == Start::Ident || start == Start::Symbol) {
        const char* s = s_.data();
        Token t;
        t.pos = pos_at(p);
        const size_t begin = p++;
        if (start == Start::Ident) {
          while (char_class(s[p]) & kIdentChar) ++p;
          t.kind = Tok::Identifier;
        } else {
          t.kind = Tok::Symbol;
          t.symbol = s[begin];
        }
        t.text = std::string_view(s + begin, p - begin);
        p_ = p;
        return t;
      }
      p_ = p;
    }
    return next();
  }
  // Whether a string literal comes next. An identifier or a symbol cannot fail to lex, so no token is made of
  // one here; anything else is peeked, so that a lexer error in it still comes before this field is added.
  bool string_follows() {
    if (!has_peek_) {
      size_t p = p_;
      const Start start = skip_space(p);
      p_ = p;
      if (start == Start::Ident || start == Start::Symbol) return false;
    }
    return peek().kind == Tok::String;
  }
  const Token& peek() {
    if (!has_peek_) {
      peek_ = lex();
      has_peek_ = true;
    }
    return peek_;
  }
  static bool is_symbol(const Token& t, char c) { return t.kind == Tok::Symbol && t.symbol == c; }
  static bool is_open(const Token& t) { return is_symbol(t, '{') || is_symbol(t, '<'); }
  std::string show(const Token& t) const;
  char* decode_string(const Token& t, char* out) const;

  // Parser -----------------------------------------------------------------------------------------
  // A field of the innermost open message (`message`, the top of the stack).
  Field& add_field(uint32_t message, std::string_view name, Pos name_pos) {
    if (message == 0 && !counted_root_field_.empty() && name == counted_root_field_ &&
        ++counted_ > global_limits().max_layers)
      fail(name_pos, fmt::format("more than {} {}s, expected at most {}", global_limits().max_layers, name,
                                 limit_text(Limit::Layers)));
    Field& f = pending_.push();
    f = Field{};
    f.name = name;
    f.pos = name_pos;
    return f;
  }
  void open_message(std::string_view name, Pos name_pos, const Token& open);
  void parse_scalar(std::string_view name, Pos name_pos, Token t);
  // Consumes a ';' or ',' if it is the next token, without making a token of what comes next: a lexer error
  // there is then reported by the next() that always follows.
  void skip_separator() {
    if (has_peek_) {
      if (is_symbol(peek_, ';') || is_symbol(peek_, ',')) has_peek_ = false;
      return;
    }
    size_t p = p_;
    const bool separator = skip_space(p) == Start::Symbol && (s_[p] == ';' || s_[p] == ',');
    p_ = separator ? p + 1 : p;
  }
  [[noreturn]] void fail(Pos p, std::string_view what) const { doc_.fail(p, what); }
  // A message is complete: its fields, the top of the pending stack, move to the document's array.
  void close_message() {
    const Frame& top = stack_.back();
    offsets_[top.message] = doc_.fields_.size();
    doc_.messages_[top.message].fields.size_ = pending_.size() - top.first_field;
    doc_.fields_.append(pending_.data() + top.first_field, pending_.size() - top.first_field);
    pending_.truncate(top.first_field);
    stack_.pop_back();
  }

  Document& doc_;
  char* buf_;  // the Document's text, where string literals are decoded in place
  std::string_view s_;
  size_t p_;
  uint32_t line_ = 1;
  size_t line_start_ = 0;
  bool has_peek_ = false;
  Token peek_;
  std::vector<Frame> stack_;
  // The fields of the open messages until each closes, outermost first: a message's fields are added only
  // while it is the innermost open one, so they form a stack, each message's fields contiguous.
  detail::PodArray<Field> pending_;
  std::vector<size_t> offsets_;  // per message, where its fields start in doc_.fields_
  std::string_view counted_root_field_;
  int64_t counted_ = 0;
};

// Skips the space and comments from `p` and returns where the next token starts, and how.
inline Start Parser::skip_space(size_t& p) {
  const char* s = s_.data();
  while (true) {
    const Start start = start_of(s[p]);
    if (start == Start::Blank) {
      ++p;
    } else if (start == Start::LineEnd) {
      ++p;
      ++line_;
      line_start_ = p;
    } else if (start == Start::Comment) {
      const void* nl = std::memchr(s + p, '\n', s_.size() - p);
      p = nl ? static_cast<size_t>(static_cast<const char*>(nl) - s) : s_.size();
    } else {
      return start;
    }
  }
}

Token Parser::lex() {
  const char* s = s_.data();
  size_t p = p_;
  const Start start = skip_space(p);
  Token t;
  t.pos = pos_at(p);
  const size_t begin = p;
  const char c = s[p];
  switch (start) {
    case Start::Ident:
      ++p;
      while (char_class(s[p]) & kIdentChar) ++p;
      t.kind = Tok::Identifier;
      break;
    case Start::Symbol:
      ++p;
      t.kind = Tok::Symbol;
      t.symbol = c;
      break;
    case Start::Quote:
      ++p;
      while (true) {
        while (!(char_class(s[p]) & kStringStop)) ++p;
        const char d = s[p];
        if (d == c) break;
        if (d == '\\' && p + 1 < s_.size() && s[p + 1] != '\n') {
          p += 2;
          t.escaped = true;
          continue;
        }
        if (d == '\n' || p >= s_.size()) fail_unterminated(t.pos, c);
        ++p;  // the other quote, a NUL byte, or a backslash before a line end (which the next byte fails)
      }
      ++p;
      t.kind = Tok::String;
      break;
    case Start::Dot:
      if (!is_digit(s[p + 1])) return fail_unexpected(t.pos, c);
      [[fallthrough]];
    case Start::Digit: {
      // Take the longest run that could belong to a number, then validate it as a whole, so "3x" or
      // "1.2.3" is one bad number rather than a number followed by something confusing.
      const bool hex = c == '0' && (s[p + 1] == 'x' || s[p + 1] == 'X');
      while (true) {
        const char d = s[p];
        if (char_class(d) & kNumberChar) {
          ++p;
        } else if ((d == '+' || d == '-') && !hex && (s[p - 1] == 'e' || s[p - 1] == 'E')) {
          ++p;
        } else {
          break;
        }
      }
      t.text = std::string_view(s + begin, p - begin);
      t.kind = classify_number(t.text);
      if (t.kind == Tok::End) fail_number(t.pos, t.text);
      p_ = p;
      return t;
    }
    default:
      if (p >= s_.size()) {  // the terminating NUL, not a NUL byte of the text
        p_ = p;
        return t;
      }
      return fail_unexpected(t.pos, c);
  }
  t.text = std::string_view(s + begin, p - begin);
  p_ = p;
  return t;
}

void Parser::fail_unterminated(Pos pos, char quote) const {
  fail(pos, fmt::format("unterminated string, expected a closing {} on the same line", quote));
}

void Parser::fail_number(Pos pos, std::string_view number) const {
  fail(pos, fmt::format(
                "invalid number \"{}\", expected an integer (12, 0x1F, 017) or a float (1.5, .5, 5., 1e-5, "
                "2.5f)",
                number));
}

Token Parser::fail_unexpected(Pos pos, char c) const {
  fail(pos, fmt::format("unexpected {}, expected a field name, a value or one of {{ }} < > [ ] : , ;",
                        show_char(c)));
}

std::string Parser::show(const Token& t) const {
  switch (t.kind) {
    case Tok::End:
      return "end of file";
    case Tok::Symbol:
      return show_char(t.symbol);
    case Tok::String:
      return t.text.size() > 40 ? std::string(t.text.substr(0, 37)) + "...\"" : std::string(t.text);
    default:
      return fmt::format(
          "\"{}\"", t.text.size() > 40 ? std::string(t.text.substr(0, 37)) + "..." : std::string(t.text));
  }
}

// Writes the decoded bytes of the literal `t` at `out` and returns the end of what it wrote. `out` is at or
// before the literal's body in the Document's text, and each byte is read before anything is written over it:
// an escape is at least two bytes that decode to one, so the output never overtakes the input, and a literal
// can be decoded over itself, or appended to the literal before it over the quotes and space between them.
char* Parser::decode_string(const Token& t, char* out) const {
  // t.text includes both quotes; the lexer already checked that the literal is closed.
  const std::string_view body = t.text.substr(1, t.text.size() - 2);
  if (!t.escaped) {
    if (out != body.data()) std::memmove(out, body.data(), body.size());
    return out + body.size();
  }
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c != '\\') {
      *out++ = c;
      continue;
    }
    const Pos at{t.pos.line, static_cast<uint32_t>(t.pos.col + 1 + i)};  // strings never span lines
    const char e = body[i + 1];  // the lexer guarantees a character after a backslash
    ++i;
    switch (e) {
      case 'n':
        *out++ = '\n';
        break;
      case 't':
        *out++ = '\t';
        break;
      case 'r':
        *out++ = '\r';
        break;
      case 'a':
        *out++ = '\a';
        break;
      case 'b':
        *out++ = '\b';
        break;
      case 'f':
        *out++ = '\f';
        break;
      case 'v':
        *out++ = '\v';
        break;
      case '\\':
        *out++ = '\\';
        break;
      case '\'':
        *out++ = '\'';
        break;
      case '"':
        *out++ = '"';
        break;
      case '?':
        *out++ = '?';
        break;
      case 'x':
      case 'X': {
        int v = 0, n = 0;
        while (n < 2 && i + 1 < body.size() && is_hex(body[i + 1])) v = v * 16 + hex_value(body[++i]), ++n;
        if (n == 0)
          fail(at, "invalid escape \"\\x\" without hex digits, expected \\xNN with one or two hex digits");
        *out++ = static_cast<char>(v);
        break;
      }
      default:
        if (is_octal(e)) {
          int v = e - '0', n = 1;
          while (n < 3 && i + 1 < body.size() && is_octal(body[i + 1])) v = v * 8 + (body[++i] - '0'), ++n;
          if (v > 255)
            fail(at, fmt::format("octal escape \"\\{:o}\" is above \\377, expected a byte value", v));
          *out++ = static_cast<char>(v);
          break;
        }
        fail(at, fmt::format("invalid escape \"\\{}\" in string, expected one of \\n \\t \\r \\a \\b \\f \\v "
                             "\\\\ \\' \\\" \\? \\NNN (octal) \\xNN (hex)",
                             static_cast<unsigned char>(e) >= 0x20 && static_cast<unsigned char>(e) < 0x7f
                                 ? std::string(1, e)
                                 : fmt::format("x{:02X}", static_cast<unsigned char>(e))));
    }
  }
  return out;
}

void Parser::open_message(std::string_view name, Pos name_pos, const Token& open) {
  const int64_t depth = static_cast<int64_t>(stack_.size());  // the root is depth 0
  if (depth > global_limits().max_nesting)
    fail(open.pos, fmt::format("message \"{}\" is nested {} levels deep, expected at most {}", name, depth,
                               limit_text(Limit::Nesting)));
  const auto index = static_cast<uint32_t>(doc_.messages_.size());
  doc_.messages_.emplace_back();
  doc_.messages_.back().open_pos = open.pos;
  offsets_.push_back(0);
  Field& f = add_field(stack_.back().message, name, name_pos);
  f.value_pos = open.pos;
  f.kind = ValueKind::Message;
  f.message = index;
  stack_.push_back(Frame{index, open.symbol == '{' ? '}' : '>', open.pos, name, pending_.size()});
}

void Parser::parse_scalar(std::string_view name, Pos name_pos, Token t) {
  const Pos value_pos = t.pos;
  bool negative = false;
  if (is_symbol(t, '-')) {
    negative = true;
    t = next();
    if (t.kind != Tok::Integer && t.kind != Tok::Float && t.kind != Tok::Identifier)
      fail(t.pos, fmt::format("field \"{}\": {} after \"-\", expected a number", name, show(t)));
  }
  switch (t.kind) {
    case Tok::Identifier:
    case Tok::Integer:
    case Tok::Float: {
      Field& f = add_field(stack_.back().message, name, name_pos);
      f.value_pos = value_pos;
      f.negative = negative;
      f.token = t.text;
      f.kind = t.kind == Tok::Identifier ? ValueKind::Identifier
               : t.kind == Tok::Integer  ? ValueKind::Integer
                                         : ValueKind::Float;
      return;
    }
    case Tok::String: {
      // The body of a lone literal without escapes is its value as it stands.
      std::string_view text = t.text.substr(1, t.text.size() - 2);
      if (t.escaped || string_follows()) {
        char* const begin = buf_ + (text.data() - s_.data());
        char* end = decode_string(t, begin);
        // Adjacent literals concatenate, as in C.
        while (string_follows()) end = decode_string(next(), end);
        text = std::string_view(begin, static_cast<size_t>(end - begin));
      }
      Field& f = add_field(stack_.back().message, name, name_pos);
      f.value_pos = value_pos;
      f.kind = ValueKind::String;
      f.text = text;
      return;
    }
    default:
      fail(t.pos, fmt::format("field \"{}\": {}, expected a value (number, string, identifier or message)",
                              name, show(t)));
  }
}

void Parser::run() {
  doc_.messages_.emplace_back();
  doc_.messages_.back().open_pos = Pos{1, 1};
  offsets_.reserve(doc_.messages_.capacity());
  offsets_.push_back(0);
  stack_.push_back(Frame{0, '\0', Pos{1, 1}, {}, 0});
  // The root holds most fields of a network file (one per layer, a layer being 100-200 bytes of text), and
  // the open layer's own fields sit above them; a guess saves moving the fields as the stack grows.
  pending_.reserve(std::min<size_t>(s_.size() / 128 + 64, 8192));
  if (s_.size() >= 3 && static_cast<unsigned char>(s_[0]) == 0xEF &&
      static_cast<unsigned char>(s_[1]) == 0xBB && static_cast<unsigned char>(s_[2]) == 0xBF)
    p_ = line_start_ = 3;  // a UTF-8 byte-order mark
  while (true) {
    Token t = next_name();
    Frame& top = stack_.back();
    if (top.list_pending) {
      // Just after a message element of `name: [ {...}, ... ]`.
      if (is_symbol(t, ']')) {
        top.list_pending = false;
        skip_separator();
        continue;
      }
      if (!is_symbol(t, ','))
        fail(t.pos, fmt::format("{} in the list \"{}\", expected \",\" or \"]\"", show(t), top.list_name));
      const Token open = next();
      if (!is_open(open))
        fail(open.pos, fmt::format("{} in the list \"{}\", expected \"{{\" to start the next message",
                                   show(open), top.list_name));
      top.list_pending = false;
      const std::string_view list_name = top.list_name;
      const Pos list_name_pos = top.list_name_pos;
      open_message(list_name, list_name_pos, open);
      stack_[stack_.size() - 2].list_pending = true;  // resumes after this element closes
      continue;
    }
    if (t.kind == Tok::End) {
      if (stack_.size() > 1)
        fail(t.pos, fmt::format("end of file inside \"{}\" opened at {}:{}, expected \"{}\"", top.name,
                                top.open_pos.line, top.open_pos.col, top.close));
      close_message();  // the root
      break;
    }
    if (is_symbol(t, '}') || is_symbol(t, '>')) {
      if (top.close != t.symbol) {
        if (stack_.size() == 1)
          fail(t.pos, fmt::format("unexpected {} with no open message, expected a field name", show(t)));
        fail(t.pos, fmt::format("unexpected {} inside \"{}\" opened at {}:{}, expected \"{}\"", show(t),
                                top.name, top.open_pos.line, top.open_pos.col, top.close));
      }
      close_message();
      if (!stack_.back().list_pending) skip_separator();
      continue;
    }
    if (t.kind != Tok::Identifier) {
      if (t.kind == Tok::Symbol && t.symbol == '[')
        fail(t.pos, "extension or Any field names in [brackets] are not supported, expected a field name");
      fail(t.pos, fmt::format("unexpected {}, expected a field name", show(t)));
    }
    const std::string_view name = t.text;
    const Pos name_pos = t.pos;
    // The ':' is optional before a message and before a list of messages, required before scalars. Most
    // names have one; it is read here without making a token of it.
    const bool colon = skip_colon();
    Token v = next();
    if (is_open(v)) {
      open_message(name, name_pos, v);
      continue;
    }
    if (is_symbol(v, '[')) {
      if (is_symbol(peek(), ']')) {
        next();  // an empty list sets nothing
      } else if (is_open(peek())) {
        const Token open = next();
        stack_.back().list_name = name;
        stack_.back().list_name_pos = name_pos;
        open_message(name, name_pos, open);
        stack_[stack_.size() - 2].list_pending = true;
        continue;
      } else {
        if (!colon)
          fail(v.pos,
               fmt::format("\"[\" after field name \"{}\", expected \":\" before a list of values", name));
        while (true) {
          parse_scalar(name, name_pos, next());
          const Token sep = next();
          if (is_symbol(sep, ']')) break;
          if (!is_symbol(sep, ','))
            fail(sep.pos, fmt::format("{} in the list \"{}\", expected \",\" or \"]\"", show(sep), name));
        }
      }
      skip_separator();
      continue;
    }
    if (!colon)
      fail(v.pos, fmt::format("{} after field name \"{}\", expected \":\" or \"{{\"", show(v), name));
    parse_scalar(name, name_pos, v);
    skip_separator();
  }
}

Document Document::parse(std::string text, std::string filename, std::string_view counted_root_field) {
  Document doc;
  doc.text_ = std::make_unique<std::string>(std::move(text));
  doc.filename_ = std::move(filename);
  // Reserving saves moving the lists as they grow; a guess from the size of the text (NB201 and zoo networks
  // have a field per 16-20 bytes and a message per 60-80) is cheaper than counting. Capped, so that a hostile
  // file cannot reserve more than a few MiB before it is rejected.
  const size_t size = doc.text_->size();
  doc.messages_.reserve(std::min<size_t>(size / 48 + 2, 8192));
  doc.fields_.reserve(std::min<size_t>(size / 12 + 8, 65536));
  Parser parser(doc, counted_root_field);
  parser.run();
  parser.finish();
  return doc;
}

// Importers call this for every layer (a layer's origin), so it appends rather than formats.
std::string Document::where(Pos p) const {
  char buf[24];
  std::string s;
  s.reserve(filename_.size() + 16);
  s += filename_;
  s += ':';
  s.append(buf, std::to_chars(buf, buf + sizeof buf, p.line).ptr);
  s += ':';
  s.append(buf, std::to_chars(buf, buf + sizeof buf, p.col).ptr);
  return s;
}

void Document::fail(Pos p, std::string_view what) const {
  throw Error(ErrorKind::BadInput, fmt::format("{}: {}", where(p), what));
}

std::optional<int64_t> to_int(const Field& f) {
  if (f.kind != ValueKind::Integer) return std::nullopt;
  std::string_view t = f.token;
  int base = 10;
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
    base = 16;
    t.remove_prefix(2);
  } else if (t.size() > 1 && t[0] == '0') {
    base = 8;
    t.remove_prefix(1);
  }
  uint64_t magnitude = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), magnitude, base);
  if (ec != std::errc() || end != t.data() + t.size()) return std::nullopt;
  constexpr uint64_t max_pos = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (!f.negative) {
    if (magnitude > max_pos) return std::nullopt;
    return static_cast<int64_t>(magnitude);
  }
  if (magnitude > max_pos + 1) return std::nullopt;
  return magnitude == max_pos + 1 ? std::numeric_limits<int64_t>::min() : -static_cast<int64_t>(magnitude);
}

namespace {
bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}
}  // namespace

std::optional<double> to_double(const Field& f) {
  double v = 0.0;
  switch (f.kind) {
    case ValueKind::Integer: {
      auto i = to_int(f);
      if (i) return static_cast<double>(*i);
      // Integers beyond 64 bits are still valid (if imprecise) floats.
      std::string_view t = f.token;
      if (t.size() > 1 && t[0] == '0') return std::nullopt;  // hex or octal that overflowed
      auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
      if (ec != std::errc() || end != t.data() + t.size()) return std::nullopt;
      return f.negative ? -v : v;
    }
    case ValueKind::Float: {
      std::string_view t = f.token;
      if (t.back() == 'f' || t.back() == 'F') t.remove_suffix(1);
      auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
      if (ec == std::errc::result_out_of_range) {
        // from_chars leaves v unset here. A negative exponent means underflow, which is just zero;
        // anything else overflowed, which is not a value the author meant.
        const size_t e = t.find_first_of("eE");
        if (e == std::string_view::npos || e + 1 >= t.size() || t[e + 1] != '-') return std::nullopt;
        v = 0.0;
      } else if (ec != std::errc() || end != t.data() + t.size()) {
        return std::nullopt;
      }
      return f.negative ? -v : v;
    }
    case ValueKind::Identifier:
      if (iequals(f.token, "inf") || iequals(f.token, "infinity"))
        return f.negative ? -std::numeric_limits<double>::infinity()
                          : std::numeric_limits<double>::infinity();
      if (iequals(f.token, "nan")) return std::numeric_limits<double>::quiet_NaN();
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

std::optional<bool> to_bool(const Field& f) {
  if (f.negative) return std::nullopt;
  if (f.kind == ValueKind::Identifier) {
    const std::string_view t = f.token;
    if (t == "true" || t == "True" || t == "t") return true;
    if (t == "false" || t == "False" || t == "f") return false;
    return std::nullopt;
  }
  if (f.kind == ValueKind::Integer) {
    auto i = to_int(f);
    if (i && (*i == 0 || *i == 1)) return *i == 1;
  }
  return std::nullopt;
}

std::string describe(const Field& f) {
  switch (f.kind) {
    case ValueKind::Message:
      return "a message";
    case ValueKind::String: {
      std::string s = "\"";
      for (char c : f.text) {
        if (s.size() > 40) {
          s += "...";
          break;
        }
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\')
          s += '\\', s += c;
        else if (u < 0x20 || u >= 0x7f)
          s += fmt::format("\\x{:02X}", u);
        else
          s += c;
      }
      return s + "\"";
    }
    default: {
      std::string s = f.negative ? "-" : "";
      s.append(f.token.size() > 40 ? f.token.substr(0, 40) : f.token);
      if (f.token.size() > 40) s += "...";
      return s;
    }
  }
}

std::string_view kind_name(ValueKind k) {
  switch (k) {
    case ValueKind::Identifier:
      return "an identifier";
    case ValueKind::Integer:
      return "an integer";
    case ValueKind::Float:
      return "a float";
    case ValueKind::String:
      return "a string";
    case ValueKind::Message:
      return "a message";
  }
  return "a value";
}

const Field* find_field(const Message& m, std::string_view name) {
  for (const auto& f : m.fields)
    if (f.name == name) return &f;
  return nullptr;
}

}  // namespace convergy::textproto
