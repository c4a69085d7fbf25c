// Unit tests of the protobuf text-format reader: every syntax form, positions, conversions and errors.
#include "import/text_format.h"
#include "util/checked.h"
#include "util/error.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace convergy::textproto {
namespace {

Document parse(const std::string& text) { return Document::parse(text, "t.prototxt"); }

// The message of the BadInput that parsing `text` throws ("" if it parses).
std::string parse_error(const std::string& text) {
  try {
    parse(text);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    return e.what();
  }
  return "";
}

TEST(TextFormat, EmptyTextIsAnEmptyMessage) {
  EXPECT_TRUE(parse("").root().fields.empty());
  EXPECT_TRUE(parse("  \n# only a comment\n\t").root().fields.empty());
}

TEST(TextFormat, ScalarFieldsKeepNameValueAndPositions) {
  const Document d = parse("name: \"net\"\n  kernel_size: 3\n");
  const auto& f = d.root().fields;
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].name, "name");
  EXPECT_EQ(f[0].kind, ValueKind::String);
  EXPECT_EQ(f[0].text, "net");
  EXPECT_EQ(f[0].pos.line, 1u);
  EXPECT_EQ(f[0].pos.col, 1u);
  EXPECT_EQ(f[0].value_pos.col, 7u);
  EXPECT_EQ(f[1].name, "kernel_size");
  EXPECT_EQ(f[1].kind, ValueKind::Integer);
  EXPECT_EQ(f[1].pos.line, 2u);
  EXPECT_EQ(f[1].pos.col, 3u);
  EXPECT_EQ(f[1].value_pos.col, 16u);
  EXPECT_EQ(to_int(f[1]), 3);
}

TEST(TextFormat, CommentsAreSkippedAnywhere) {
  const Document d = parse("# header\na: 1 # trailing\n# between\nb { # open\n c: 2 # inner\n} # close\n");
  ASSERT_EQ(d.root().fields.size(), 2u);
  EXPECT_EQ(d.root().fields[1].pos.line, 4u);
  const Message& b = d.message(d.root().fields[1]);
  ASSERT_EQ(b.fields.size(), 1u);
  EXPECT_EQ(b.fields[0].name, "c");
}

TEST(TextFormat, NestedMessagesWithBracesAnglesAndOptionalColon) {
  const Document d = parse("a { x: 1 } b: { y: 2 } c < z: 3 > d: < w: 4 >");
  const auto& f = d.root().fields;
  ASSERT_EQ(f.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(f[i].kind, ValueKind::Message) << i;
    ASSERT_EQ(d.message(f[i]).fields.size(), 1u) << i;
    EXPECT_EQ(to_int(d.message(f[i]).fields[0]), static_cast<int64_t>(i + 1));
  }
  EXPECT_EQ(d.message(f[2]).open_pos.col, 26u);
}

TEST(TextFormat, DeepNestingAndSeparators) {
  const Document d = parse("a { b { c { d: 1; e: 2, } } };");
  const Message& a = d.message(d.root().fields[0]);
  const Message& b = d.message(a.fields[0]);
  const Message& c = d.message(b.fields[0]);
  ASSERT_EQ(c.fields.size(), 2u);
  EXPECT_EQ(to_int(c.fields[1]), 2);
}

TEST(TextFormat, RepeatedFieldsKeepTheirOrder) {
  const Document d = parse("dim: 1 dim: 3 other: 0 dim: 224");
  std::vector<int64_t> dims;
  for (const auto& f : d.root().fields)
    if (f.name == "dim") dims.push_back(*to_int(f));
  EXPECT_THAT(dims, ::testing::ElementsAre(1, 3, 224));
}

TEST(TextFormat, ListSyntaxExpandsToRepeatedFields) {
  const Document d = parse("dim: [1, 3, -5, 0x10]\nempty: []\nnames: [\"a\", 'b']");
  const auto& f = d.root().fields;
  ASSERT_EQ(f.size(), 6u);
  EXPECT_EQ(to_int(f[2]), -5);
  EXPECT_EQ(to_int(f[3]), 16);
  EXPECT_EQ(f[3].value_pos.col, 17u);
  EXPECT_EQ(f[4].text, "a");
  EXPECT_EQ(f[5].text, "b");
}

TEST(TextFormat, ListOfMessages) {
  const Document d = parse("shape [ { dim: 1 }, <dim: 2> ] shape: [{dim: 3}] tail: 9");
  const auto& f = d.root().fields;
  ASSERT_EQ(f.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(f[static_cast<size_t>(i)].kind, ValueKind::Message);
    EXPECT_EQ(to_int(d.message(f[static_cast<size_t>(i)]).fields.at(0)), i + 1);
  }
  EXPECT_EQ(f[3].name, "tail");
}

TEST(TextFormat, StringQuotesEscapesAndConcatenation) {
  const Document d = parse(R"(a: 'single "q"' b: "tab\there\nnl \\ \" \' \?" c: "\101\x42\x4a\0" d: "ab" 'cd'
  "ef" e: "")");
  const auto& f = d.root().fields;
  ASSERT_EQ(f.size(), 5u);
  EXPECT_EQ(f[0].text, "single \"q\"");
  EXPECT_EQ(f[1].text, "tab\there\nnl \\ \" ' ?");
  EXPECT_EQ(f[2].text, std::string("ABJ\0", 4));
  EXPECT_EQ(f[3].text, "abcdef");
  EXPECT_EQ(f[4].text, "");
}

TEST(TextFormat, IntegerForms) {
  const Document d = parse(
      "a: 0 b: 42 c: -7 d: 0x1F e: 0X1f f: 017 g: 9223372036854775807 h: -9223372036854775808"
      " i: 9223372036854775808");
  const auto& f = d.root().fields;
  EXPECT_EQ(to_int(f[0]), 0);
  EXPECT_EQ(to_int(f[1]), 42);
  EXPECT_EQ(to_int(f[2]), -7);
  EXPECT_EQ(to_int(f[3]), 31);
  EXPECT_EQ(to_int(f[4]), 31);
  EXPECT_EQ(to_int(f[5]), 15);
  EXPECT_EQ(to_int(f[6]), INT64_MAX);
  EXPECT_EQ(to_int(f[7]), INT64_MIN);
  EXPECT_EQ(to_int(f[8]), std::nullopt);  // beyond int64
  EXPECT_DOUBLE_EQ(*to_double(f[8]), 9223372036854775808.0);
}

TEST(TextFormat, FloatForms) {
  const Document d = parse(
      "a: 1.5 b: .5 c: 5. d: 1e-5 e: 2.5f f: -3E+2 g: 1F h: inf i: -inf j: nan k: Infinity "
      "l: 7 m: 1e-400");
  const auto& f = d.root().fields;
  EXPECT_DOUBLE_EQ(*to_double(f[0]), 1.5);
  EXPECT_DOUBLE_EQ(*to_double(f[1]), 0.5);
  EXPECT_DOUBLE_EQ(*to_double(f[2]), 5.0);
  EXPECT_DOUBLE_EQ(*to_double(f[3]), 1e-5);
  EXPECT_DOUBLE_EQ(*to_double(f[4]), 2.5);
  EXPECT_DOUBLE_EQ(*to_double(f[5]), -300.0);
  EXPECT_DOUBLE_EQ(*to_double(f[6]), 1.0);
  EXPECT_TRUE(std::isinf(*to_double(f[7])) && *to_double(f[7]) > 0);
  EXPECT_TRUE(std::isinf(*to_double(f[8])) && *to_double(f[8]) < 0);
  EXPECT_TRUE(std::isnan(*to_double(f[9])));
  EXPECT_TRUE(std::isinf(*to_double(f[10])));
  EXPECT_DOUBLE_EQ(*to_double(f[11]), 7.0);
  EXPECT_DOUBLE_EQ(*to_double(f[12]), 0.0);  // underflow is zero, not an error
  EXPECT_EQ(f[0].kind, ValueKind::Float);
  EXPECT_EQ(to_int(f[0]), std::nullopt);  // a float is not an integer
  EXPECT_EQ(to_double(parse("x: 1e400").root().fields[0]), std::nullopt);
  EXPECT_EQ(to_double(parse("x: \"1.0\"").root().fields[0]), std::nullopt);
}

TEST(TextFormat, BooleansAndEnums) {
  const Document d = parse("a: true b: false c: True d: False e: 1 f: 0 g: t h: MAX i: 2 j: -1");
  const auto& f = d.root().fields;
  EXPECT_EQ(to_bool(f[0]), true);
  EXPECT_EQ(to_bool(f[1]), false);
  EXPECT_EQ(to_bool(f[2]), true);
  EXPECT_EQ(to_bool(f[3]), false);
  EXPECT_EQ(to_bool(f[4]), true);
  EXPECT_EQ(to_bool(f[5]), false);
  EXPECT_EQ(to_bool(f[6]), true);
  EXPECT_EQ(to_bool(f[7]), std::nullopt);
  EXPECT_EQ(to_bool(f[8]), std::nullopt);
  EXPECT_EQ(to_bool(f[9]), std::nullopt);
  EXPECT_EQ(f[7].kind, ValueKind::Identifier);
  EXPECT_EQ(f[7].token, "MAX");
}

TEST(TextFormat, DescribeShowsTheValueAsWritten) {
  const Document d = parse("a: -3 b: 2.5f c: SUM d: \"x\\\"y\\n\" e {}");
  const auto& f = d.root().fields;
  EXPECT_EQ(describe(f[0]), "-3");
  EXPECT_EQ(describe(f[1]), "2.5f");
  EXPECT_EQ(describe(f[2]), "SUM");
  EXPECT_EQ(describe(f[3]), "\"x\\\"y\\x0A\"");
  EXPECT_EQ(describe(f[4]), "a message");
}

TEST(TextFormat, DocumentSurvivesMoves) {
  Document d = parse("name: \"a_rather_long_network_name_beyond_sso\" k: 3");
  Document moved = std::move(d);
  std::vector<Document> v;
  v.push_back(std::move(moved));
  EXPECT_EQ(v[0].root().fields[1].name, "k");
  EXPECT_EQ(v[0].root().fields[1].token, "3");
}

TEST(TextFormat, ByteOrderMarkIsSkipped) {
  const Document d = parse("\xEF\xBB\xBFname: \"x\"");
  EXPECT_EQ(d.root().fields.at(0).name, "name");
  EXPECT_EQ(d.root().fields.at(0).pos.col, 1u);  // columns count what an editor shows
}

TEST(TextFormat, CarriageReturnLineEnds) {
  const Document d = parse("a: 1\r\nb: 2\r\n");
  EXPECT_EQ(d.root().fields.at(1).pos.line, 2u);
  EXPECT_EQ(d.root().fields.at(1).pos.col, 1u);
}

// Errors: exact one-line messages with file:line:col and what was expected.
TEST(TextFormatErrors, UnterminatedString) {
  EXPECT_EQ(parse_error("a: \"abc\nb: 1"),
            "t.prototxt:1:4: unterminated string, expected a closing \" on the same line");
  EXPECT_EQ(parse_error("a: 'abc"),
            "t.prototxt:1:4: unterminated string, expected a closing ' on the same line");
  EXPECT_EQ(parse_error("a: \"abc\\"),
            "t.prototxt:1:4: unterminated string, expected a closing \" on the same line");
}

TEST(TextFormatErrors, BadEscapes) {
  EXPECT_THAT(parse_error("a: \"ok \\q\""),
              ::testing::StartsWith("t.prototxt:1:8: invalid escape \"\\q\" in string, expected"));
  EXPECT_THAT(parse_error("a: \"\\xZZ\""),
              ::testing::StartsWith("t.prototxt:1:5: invalid escape \"\\x\" without hex digits"));
  EXPECT_THAT(parse_error("a: \"\\777\""),
              ::testing::StartsWith("t.prototxt:1:5: octal escape \"\\777\" is above \\377"));
}

TEST(TextFormatErrors, BadNumbers) {
  EXPECT_THAT(parse_error("a: 1.2.3"),
              ::testing::StartsWith("t.prototxt:1:4: invalid number \"1.2.3\", expected"));
  EXPECT_THAT(parse_error("a: 3x"), ::testing::StartsWith("t.prototxt:1:4: invalid number \"3x\""));
  EXPECT_THAT(parse_error("a: 0x"), ::testing::StartsWith("t.prototxt:1:4: invalid number \"0x\""));
  EXPECT_THAT(parse_error("a: 09"), ::testing::StartsWith("t.prototxt:1:4: invalid number \"09\""));
  EXPECT_THAT(parse_error("a: 1e"), ::testing::StartsWith("t.prototxt:1:4: invalid number \"1e\""));
  EXPECT_EQ(parse_error("a: - {"), "t.prototxt:1:6: field \"a\": \"{\" after \"-\", expected a number");
}

TEST(TextFormatErrors, BracesAndStructure) {
  EXPECT_EQ(parse_error("layer {\n  name: \"x\"\n"),
            "t.prototxt:3:1: end of file inside \"layer\" opened at 1:7, expected \"}\"");
  EXPECT_EQ(parse_error("a: 1\n}\n"),
            "t.prototxt:2:1: unexpected \"}\" with no open message, expected a field name");
  EXPECT_EQ(parse_error("a { b: 1 >"),
            "t.prototxt:1:10: unexpected \">\" inside \"a\" opened at 1:3, expected \"}\"");
  EXPECT_EQ(parse_error("a 1"), "t.prototxt:1:3: \"1\" after field name \"a\", expected \":\" or \"{\"");
  EXPECT_EQ(parse_error("a [1]"),
            "t.prototxt:1:3: \"[\" after field name \"a\", expected \":\" before a list of values");
  EXPECT_EQ(
      parse_error("a:"),
      "t.prototxt:1:3: field \"a\": end of file, expected a value (number, string, identifier or message)");
  EXPECT_EQ(parse_error("5: 1"), "t.prototxt:1:1: unexpected \"5\", expected a field name");
  EXPECT_EQ(parse_error("a: [1 2]"), "t.prototxt:1:7: \"2\" in the list \"a\", expected \",\" or \"]\"");
  EXPECT_EQ(parse_error("a: [{} 2]"), "t.prototxt:1:8: \"2\" in the list \"a\", expected \",\" or \"]\"");
  EXPECT_EQ(
      parse_error("[ext]: 1"),
      "t.prototxt:1:1: extension or Any field names in [brackets] are not supported, expected a field name");
}

TEST(TextFormatErrors, BinaryGarbageNamesTheByte) {
  EXPECT_EQ(
      parse_error(std::string("\x89PNG\r\n", 6)),
      "t.prototxt:1:1: unexpected byte 0x89, expected a field name, a value or one of { } < > [ ] : , ;");
  EXPECT_EQ(
      parse_error(std::string("a: 1\n\0", 6)),
      "t.prototxt:2:1: unexpected byte 0x00, expected a field name, a value or one of { } < > [ ] : , ;");
}

TEST(TextFormatErrors, NestingLimit) {
  const int64_t limit = global_limits().max_nesting;
  std::string ok, deep;
  for (int64_t i = 0; i < limit; ++i) ok += "a {";
  ok += std::string(static_cast<size_t>(limit), '}');
  EXPECT_EQ(parse_error(ok), "");
  for (int64_t i = 0; i <= limit; ++i) deep += "a {";
  EXPECT_EQ(
      parse_error(deep),
      fmt::format("t.prototxt:1:{}: message \"a\" is nested {} levels deep, expected at most {} (raise with "
                  "--max-nesting)",
                  3 * limit + 3, limit + 1, limit));
}

// Fields are stored in one array for the whole file, each message's together; a message's fields must stay
// its own when nested messages interrupt them, and stay valid when the Document moves.
TEST(TextFormat, InterleavedNestedMessagesKeepTheirOwnFields) {
  Document moved = parse("a: 1 m { b: 2 n { c: 3 } d: 4 l: [ {e: 5}, {f: 6 g: 7} ] } h: 8 m { }");
  const Document d = std::move(moved);
  const auto& root = d.root().fields;
  ASSERT_EQ(root.size(), 4u);
  EXPECT_EQ(root[0].name, "a");
  EXPECT_EQ(root[2].name, "h");
  EXPECT_EQ(to_int(root[2]), 8);
  EXPECT_TRUE(d.message(root[3]).fields.empty());
  const auto& m = d.message(root[1]).fields;
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m[0].name, "b");
  EXPECT_EQ(m[2].name, "d");
  EXPECT_EQ(to_int(m[2]), 4);
  ASSERT_EQ(d.message(m[1]).fields.size(), 1u);
  EXPECT_EQ(to_int(d.message(m[1]).fields[0]), 3);
  EXPECT_EQ(m[3].name, "l");
  EXPECT_EQ(m[4].name, "l");
  EXPECT_EQ(to_int(d.message(m[3]).fields.at(0)), 5);
  const auto& second = d.message(m[4]).fields;
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second.front().name, "f");
  EXPECT_EQ(to_int(second.back()), 7);
}

TEST(TextFormat, RaisedNestingLimitDoesNotUseTheCallStack) {
  // The parser keeps its own stack, so a limit raised far beyond what recursion could take still works.
  const int64_t saved = global_limits().max_nesting;
  global_limits().max_nesting = 200000;
  std::string text;
  for (int i = 0; i < 150000; ++i) text += "a{";
  text += std::string(150000, '}');
  EXPECT_EQ(parse_error(text), "");
  global_limits().max_nesting = saved;
}

}  // namespace
// String values are views into the Document's copy of the text, with escapes decoded over the literal itself
// and adjacent literals compacted onto the first: the text around them must come through untouched.
TEST(TextFormat, EscapesDecodeInPlaceWithoutDisturbingTheRest) {
  const Document d = parse(
      "a: \"x\\ny\\tz\" after_a: 1\n"
      "b: \"\\\\ \\\" \\' \\101\\x41\\X4a\\7\" after_b: \"plain\"\n"
      "c: \"\\101\\102\\103\" c2: t\n");
  const auto& f = d.root().fields;
  ASSERT_EQ(f.size(), 6u);
  EXPECT_EQ(f[0].text, "x\ny\tz");
  EXPECT_EQ(f[1].name, "after_a");
  EXPECT_EQ(f[1].token, "1");
  EXPECT_EQ(f[2].text, "\\ \" ' AAJ\a");
  EXPECT_EQ(f[3].name, "after_b");
  EXPECT_EQ(f[3].text, "plain");
  EXPECT_EQ(f[4].text, "ABC");  // 12 bytes of literal decode to 3
  EXPECT_EQ(f[5].name, "c2");
  EXPECT_EQ(f[5].token, "t");
  EXPECT_EQ(f[5].pos.line, 3u);
  EXPECT_EQ(f[5].pos.col, 19u);
}

TEST(TextFormat, AdjacentLiteralsAcrossSpaceCommentsAndLines) {
  const Document d = parse(
      "a: \"a\" \"b\" 'c' next: 1\n"
      "b: \"x\" # a comment between the parts\n"
      "   \"\\x79\" 'z\\n'\n"
      "c: \"\" \"\" d: \"\" \"q\" e: \"q\" \"\" f: \"\"\n"
      "g: \"short\" \"a much longer second part than the first\" h: 'end'");
  const auto& f = d.root().fields;
  ASSERT_EQ(f.size(), 9u);
  EXPECT_EQ(f[0].text, "abc");
  EXPECT_EQ(f[1].name, "next");
  EXPECT_EQ(f[1].value_pos.col, 22u);
  EXPECT_EQ(f[2].text, "xyz\n");
  EXPECT_EQ(f[2].value_pos.line, 2u);
  EXPECT_EQ(f[3].text, "");
  EXPECT_EQ(f[3].pos.line, 4u);
  EXPECT_EQ(f[4].text, "q");
  EXPECT_EQ(f[5].text, "q");
  EXPECT_EQ(f[6].text, "");
  EXPECT_EQ(f[6].kind, ValueKind::String);
  EXPECT_EQ(f[7].text, "shorta much longer second part than the first");
  EXPECT_EQ(f[8].name, "h");
  EXPECT_EQ(f[8].text, "end");
  EXPECT_EQ(f[8].pos.line, 5u);
  EXPECT_EQ(describe(f[7]), "\"shorta much longer second part than the ...\"");
}

TEST(TextFormat, StringsInListsAndNestedMessages) {
  const Document d = parse("m { s: [\"a\\x62\", 'c' \"d\", \"\"] t { u: \"\\\"q\\\"\" } } v: \"w\"");
  const Message& m = d.message(d.root().fields[0]);
  ASSERT_EQ(m.fields.size(), 4u);
  EXPECT_EQ(m.fields[0].text, "ab");
  EXPECT_EQ(m.fields[1].text, "cd");
  EXPECT_EQ(m.fields[2].text, "");
  EXPECT_EQ(d.message(m.fields[3]).fields.at(0).text, "\"q\"");
  EXPECT_EQ(d.root().fields.at(1).text, "w");
}

// Error positions in the second of two adjacent literals, and after a decoded one, are those of the source.
TEST(TextFormatErrors, PositionsAroundDecodedStrings) {
  EXPECT_THAT(parse_error("a: \"ok\" \"\\q\""),
              ::testing::StartsWith("t.prototxt:1:10: invalid escape \"\\q\" in string, expected"));
  EXPECT_THAT(parse_error("a: \"\\101\\102\" 'x'\n  'y\\z'"),
              ::testing::StartsWith("t.prototxt:2:5: invalid escape \"\\z\" in string"));
  EXPECT_THAT(parse_error("a: \"\\101\\102\" b: 1.2.3"),
              ::testing::StartsWith("t.prototxt:1:18: invalid number \"1.2.3\""));
  EXPECT_EQ(parse_error("a: \"x\" \"y\" }"),
            "t.prototxt:1:12: unexpected \"}\" with no open message, expected a field name");
  EXPECT_EQ(parse_error("a: \"x\" \"y\n"),
            "t.prototxt:1:8: unterminated string, expected a closing \" on the same line");
  EXPECT_EQ(parse_error("a: \"x\\\"\" 'y\\'' : 1"),
            "t.prototxt:1:16: unexpected \":\", expected a field name");
}

// What follows a value is read without a token where it can be; errors in it keep their message and place.
TEST(TextFormatErrors, ErrorsJustAfterValues) {
  EXPECT_EQ(parse_error("a: \"x\" $"),
            "t.prototxt:1:8: unexpected \"$\", expected a field name, a value or one of { } < > [ ] : , ;");
  EXPECT_EQ(parse_error("a: 1 ;\n  $"),
            "t.prototxt:2:3: unexpected \"$\", expected a field name, a value or one of { } < > [ ] : , ;");
  EXPECT_EQ(parse_error("m { a: \"x\"\n. }"),
            "t.prototxt:2:1: unexpected \".\", expected a field name, a value or one of { } < > [ ] : , ;");
  EXPECT_THAT(parse_error("a: \"x\" 1.2.3"),
              ::testing::StartsWith("t.prototxt:1:8: invalid number \"1.2.3\""));
  EXPECT_EQ(parse_error("a: \"x\" 'y"),
            "t.prototxt:1:8: unterminated string, expected a closing ' on the same line");
  EXPECT_EQ(parse_error("a: 1; ; b: 2"), "t.prototxt:1:7: unexpected \";\", expected a field name");
  EXPECT_EQ(parse_error("a: 1 b 2"), "t.prototxt:1:8: \"2\" after field name \"b\", expected \":\" or \"{\"");
  EXPECT_EQ(parse_error("a: 'x' # c\n: 2"), "t.prototxt:2:1: unexpected \":\", expected a field name");
  const Document d = parse("a: 1; b: 'x', c { d: 2; }; e: [1, 2]; f: \"y\"\n# end");
  ASSERT_EQ(d.root().fields.size(), 6u);
  EXPECT_EQ(d.root().fields[5].text, "y");
}

// Random byte strings, written as a literal with random escapes and split into random adjacent parts, come
// back as they went in.
TEST(TextFormat, RandomlyEscapedAndSplitStringsRoundTrip) {
  std::mt19937 rng(15);
  auto uniform = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  for (int round = 0; round < 300; ++round) {
    std::string expected, text;
    const int n = uniform(4);  // fields per document
    std::vector<std::string> values;
    for (int k = 0; k < n; ++k) {
      std::string value;
      const int len = uniform(24);
      for (int i = 0; i < len; ++i) value += static_cast<char>(uniform(256));
      values.push_back(value);
      text += "f" + std::to_string(k) + ": ";
      const char quote = uniform(2) ? '"' : '\'';
      text += quote;
      for (size_t i = 0; i < value.size(); ++i) {
        const auto u = static_cast<unsigned char>(value[i]);
        const bool next_is_hex =
            i + 1 < value.size() && std::isxdigit(static_cast<unsigned char>(value[i + 1]));
        const bool next_is_octal = i + 1 < value.size() && value[i + 1] >= '0' && value[i + 1] <= '7';
        const int how = uniform(4);
        if (how == 0 && !next_is_octal) {
          text += fmt::format("\\{:o}", u);
        } else if (how == 1 && !next_is_hex) {
          text += fmt::format("\\x{:x}", u);
        } else if (how == 2) {
          text += fmt::format("\\{:03o}", u);
        } else if (u == '\\' || u == '"' || u == '\'' || u == '\n' || u == 0) {
          text += fmt::format("\\x{:02X}", u);
        } else {
          text += value[i];
        }
        if (uniform(6) == 0) text += std::string(1, quote) + (uniform(2) ? " " : "\n# c\n ") + quote;
      }
      text += quote;
      text += uniform(2) ? " " : "\n";
    }
    const Document d = Document::parse(text, "r.prototxt");
    const auto& f = d.root().fields;
    ASSERT_EQ(f.size(), values.size()) << text;
    for (size_t k = 0; k < values.size(); ++k) {
      EXPECT_EQ(f[k].name, "f" + std::to_string(k)) << text;
      EXPECT_EQ(f[k].text, values[k]) << "field " << k << " of " << text;
    }
  }
}

TEST(TextFormat, StringValuesSurviveMovingTheDocument) {
  // The first text is short enough for std::string's inline buffer, which a move would copy.
  Document a = parse("s:'\\x41'");
  Document b = parse(
      "name: \"a_rather_long_network_name_beyond_sso\" e: \"\\101\\102, long enough for the heap\" "
      "c: 'x' \"y\" k: 3");
  std::vector<Document> v;
  v.push_back(std::move(a));
  v.push_back(std::move(b));
  for (int i = 0; i < 8; ++i) v.push_back(parse("x: 1"));  // the vector grows and moves its Documents
  Document c = std::move(v[1]);
  EXPECT_EQ(v[0].root().fields.at(0).text, "A");
  const auto& f = c.root().fields;
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0].text, "a_rather_long_network_name_beyond_sso");
  EXPECT_EQ(f[1].text, "AB, long enough for the heap");
  EXPECT_EQ(f[2].text, "xy");
  EXPECT_EQ(f[3].token, "3");
}

}  // namespace convergy::textproto
