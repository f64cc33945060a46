#include "rules/json_tree.h"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>

namespace quotamilter::rules {

JsonValue::JsonValue() = default;
JsonValue::~JsonValue() = default;
JsonValue::JsonValue(const JsonValue&) = default;
JsonValue::JsonValue(JsonValue&&) noexcept = default;
JsonValue& JsonValue::operator=(const JsonValue&) = default;
JsonValue& JsonValue::operator=(JsonValue&&) noexcept = default;


std::string_view JsonValue::kind_name() const {
    switch (kind) {
        case Kind::null: return "null";
        case Kind::boolean: return "a boolean";
        case Kind::integer: return "an integer";
        case Kind::number: return "a number";
        case Kind::string: return "a string";
        case Kind::array: return "a list";
        case Kind::object: return "an object";
    }
    return "a value";
}

namespace {

constexpr int kMaxDepth = 64;

struct SyntaxFailure {
    TextPosition position;
    std::string message;
};

class Parser {
public:
    explicit Parser(std::string_view text) : text_(text) {}

    JsonValue parse_document() {
        // A UTF-8 byte order mark (some Windows editors write one) is not an error.
        if (text_.substr(0, 3) == "\xEF\xBB\xBF") offset_ = 3;
        skip_blanks();
        if (at_end()) fail("empty file: expected a JSON object");
        JsonValue root = parse_value(0);
        skip_blanks();
        if (!at_end()) fail(std::string("unexpected ") + describe_here() + " after the end of the JSON value");
        return root;
    }

private:
    std::string_view text_;
    std::size_t offset_ = 0;
    TextPosition position_;

    bool at_end() const { return offset_ >= text_.size(); }
    char peek() const { return text_[offset_]; }

    void advance() {
        if (text_[offset_] == '\n') {
            ++position_.line;
            position_.column = 1;
        } else {
            ++position_.column;
        }
        ++offset_;
    }

    [[noreturn]] void fail(const std::string& message) { throw SyntaxFailure{position_, message}; }
    [[noreturn]] void fail_at(TextPosition where, const std::string& message) { throw SyntaxFailure{where, message}; }

    std::string describe_here() const {
        if (at_end()) return "end of file";
        const unsigned char c = static_cast<unsigned char>(peek());
        if (c < 0x20 || c >= 0x7f) {
            char buffer[16];
            std::snprintf(buffer, sizeof buffer, "byte 0x%02X", c);
            return buffer;
        }
        return std::string("'") + static_cast<char>(c) + "'";
    }

    void skip_blanks() {
        while (!at_end()) {
            const char c = peek();
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
            advance();
        }
    }

    void expect_literal(std::string_view word) {
        const TextPosition start = position_;
        for (char c : word) {
            if (at_end() || peek() != c) fail_at(start, "invalid literal: expected " + std::string(word));
            advance();
        }
    }

    JsonValue parse_value(int depth) {
        if (depth > kMaxDepth) fail("nesting deeper than 64 levels");
        if (at_end()) fail("unexpected end of file: expected a value");
        JsonValue value;
        value.position = position_;
        switch (peek()) {
            case '{': parse_object(value, depth); break;
            case '[': parse_array(value, depth); break;
            case '"':
                value.kind = JsonValue::Kind::string;
                value.string = parse_string();
                break;
            case 't': expect_literal("true"); value.kind = JsonValue::Kind::boolean; value.boolean = true; break;
            case 'f': expect_literal("false"); value.kind = JsonValue::Kind::boolean; break;
            case 'n': expect_literal("null"); value.kind = JsonValue::Kind::null; break;
            default:
                if (peek() == '-' || (peek() >= '0' && peek() <= '9')) {
                    parse_number(value);
                } else {
                    fail("unexpected " + describe_here() + ": expected a value");
                }
        }
        return value;
    }

    void parse_object(JsonValue& value, int depth) {
        value.kind = JsonValue::Kind::object;
        advance();  // '{'
        skip_blanks();
        if (!at_end() && peek() == '}') { advance(); return; }
        while (true) {
            skip_blanks();
            if (at_end() || peek() != '"') fail("unexpected " + describe_here() + ": expected a key in double quotes");
            JsonMember member;
            member.key_position = position_;
            member.key = parse_string();
            skip_blanks();
            if (at_end() || peek() != ':') fail("unexpected " + describe_here() + ": expected ':' after key \"" + member.key + "\"");
            advance();
            skip_blanks();
            JsonValue child = parse_value(depth + 1);
            value.members.emplace_back(std::move(member), std::move(child));
            skip_blanks();
            if (at_end()) fail("unexpected end of file: expected ',' or '}'");
            if (peek() == ',') {
                advance();
                skip_blanks();
                if (!at_end() && peek() == '}') fail("trailing comma before '}'");
                continue;
            }
            if (peek() == '}') { advance(); return; }
            fail("unexpected " + describe_here() + ": expected ',' or '}'");
        }
    }

    void parse_array(JsonValue& value, int depth) {
        value.kind = JsonValue::Kind::array;
        advance();  // '['
        skip_blanks();
        if (!at_end() && peek() == ']') { advance(); return; }
        while (true) {
            skip_blanks();
            value.items.push_back(parse_value(depth + 1));
            skip_blanks();
            if (at_end()) fail("unexpected end of file: expected ',' or ']'");
            if (peek() == ',') {
                advance();
                skip_blanks();
                if (!at_end() && peek() == ']') fail("trailing comma before ']'");
                continue;
            }
            if (peek() == ']') { advance(); return; }
            fail("unexpected " + describe_here() + ": expected ',' or ']'");
        }
    }

    static void append_utf8(std::string& out, std::uint32_t code_point) {
        if (code_point < 0x80) {
            out.push_back(static_cast<char>(code_point));
        } else if (code_point < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
            out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
        } else if (code_point < 0x10000) {
            out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
            out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
        } else {
            out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
            out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
        }
    }

    std::uint32_t parse_hex4() {
        std::uint32_t value = 0;
        for (int i = 0; i < 4; ++i) {
            if (at_end()) fail("unexpected end of file in \\u escape");
            const char c = peek();
            int digit = -1;
            if (c >= '0' && c <= '9') digit = c - '0';
            else if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
            else if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
            if (digit < 0) fail("invalid \\u escape: expected 4 hex digits");
            value = value * 16 + static_cast<std::uint32_t>(digit);
            advance();
        }
        return value;
    }

    std::string parse_string() {
        const TextPosition start = position_;
        advance();  // opening quote
        std::string out;
        while (true) {
            if (at_end()) fail_at(start, "unterminated string");
            const unsigned char c = static_cast<unsigned char>(peek());
            if (c == '"') { advance(); return out; }
            if (c < 0x20) fail(c == '\n' ? "unterminated string (line break inside a string)" : "control character inside a string");
            if (c != '\\') {
                out.push_back(static_cast<char>(c));
                advance();
                continue;
            }
            const TextPosition escape_start = position_;
            advance();
            if (at_end()) fail_at(start, "unterminated string");
            const char e = peek();
            advance();
            switch (e) {
                case '"': out.push_back('"'); break;
                case '\\': out.push_back('\\'); break;
                case '/': out.push_back('/'); break;
                case 'b': out.push_back('\b'); break;
                case 'f': out.push_back('\f'); break;
                case 'n': out.push_back('\n'); break;
                case 'r': out.push_back('\r'); break;
                case 't': out.push_back('\t'); break;
                case 'u': {
                    std::uint32_t code_point = parse_hex4();
                    if (code_point >= 0xD800 && code_point <= 0xDBFF) {
                        if (offset_ + 1 < text_.size() && peek() == '\\' && text_[offset_ + 1] == 'u') {
                            advance();
                            advance();
                            const std::uint32_t low = parse_hex4();
                            if (low < 0xDC00 || low > 0xDFFF) fail_at(escape_start, "invalid UTF-16 surrogate pair");
                            code_point = 0x10000 + ((code_point - 0xD800) << 10) + (low - 0xDC00);
                        } else {
                            fail_at(escape_start, "lone UTF-16 surrogate");
                        }
                    } else if (code_point >= 0xDC00 && code_point <= 0xDFFF) {
                        fail_at(escape_start, "lone UTF-16 surrogate");
                    }
                    append_utf8(out, code_point);
                    break;
                }
                default: fail_at(escape_start, std::string("invalid escape \\") + e);
            }
        }
    }

    void parse_number(JsonValue& value) {
        const std::size_t begin = offset_;
        bool is_integer = true;
        if (peek() == '-') advance();
        if (at_end() || !(peek() >= '0' && peek() <= '9')) fail("invalid number");
        if (peek() == '0') {
            advance();
            if (!at_end() && peek() >= '0' && peek() <= '9') fail("invalid number: leading zero");
        } else {
            while (!at_end() && peek() >= '0' && peek() <= '9') advance();
        }
        if (!at_end() && peek() == '.') {
            is_integer = false;
            advance();
            if (at_end() || !(peek() >= '0' && peek() <= '9')) fail("invalid number: expected a digit after '.'");
            while (!at_end() && peek() >= '0' && peek() <= '9') advance();
        }
        if (!at_end() && (peek() == 'e' || peek() == 'E')) {
            is_integer = false;
            advance();
            if (!at_end() && (peek() == '+' || peek() == '-')) advance();
            if (at_end() || !(peek() >= '0' && peek() <= '9')) fail("invalid number: expected a digit in the exponent");
            while (!at_end() && peek() >= '0' && peek() <= '9') advance();
        }
        const std::string_view digits = text_.substr(begin, offset_ - begin);
        if (is_integer) {
            std::int64_t parsed = 0;
            auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), parsed);
            if (ec == std::errc() && end == digits.data() + digits.size()) {
                value.kind = JsonValue::Kind::integer;
                value.integer = parsed;
                return;
            }
        }
        value.kind = JsonValue::Kind::number;
        value.number = std::strtod(std::string(digits).c_str(), nullptr);
    }
};

}  // namespace

JsonParseResult parse_json_with_positions(std::string_view text) {
    Parser parser(text);
    try {
        return parser.parse_document();
    } catch (const SyntaxFailure& failure) {
        return JsonSyntaxError{failure.position, failure.message};
    }
}

}  // namespace quotamilter::rules
