// A small JSON parser that remembers where every value and key starts, so
// that the validator can say FILE:LINE:COL (nlohmann's DOM keeps no
// positions). Strict RFC 8259: no comments, no trailing commas.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace quotamilter::rules {

struct TextPosition {
    int line = 1;    // 1-based
    int column = 1;  // 1-based, in bytes
};

struct JsonValue;

struct JsonMember {
    std::string key;
    TextPosition key_position;
};

struct JsonValue {
    enum class Kind { null, boolean, integer, number, string, array, object };
    Kind kind = Kind::null;
    TextPosition position;
    bool boolean = false;
    std::int64_t integer = 0;      // Kind::integer (fits in int64)
    double number = 0;             // Kind::number (fraction, exponent, or too big for int64)
    std::string string;            // Kind::string (decoded UTF-8)
    std::vector<JsonValue> items;  // Kind::array
    std::vector<std::pair<JsonMember, JsonValue>> members;  // Kind::object, in file order

    // Declared here, defined in json_tree.cpp where JsonValue is complete:
    // clang would otherwise instantiate the members' destructor while
    // std::pair<JsonMember, JsonValue> is still incomplete (the fuzz build).
    JsonValue();
    ~JsonValue();
    JsonValue(const JsonValue&);
    JsonValue(JsonValue&&) noexcept;
    JsonValue& operator=(const JsonValue&);
    JsonValue& operator=(JsonValue&&) noexcept;

    // "a string", "an integer", ... for messages.
    std::string_view kind_name() const;
};

struct JsonSyntaxError {
    TextPosition position;
    std::string message;
};

using JsonParseResult = std::variant<JsonValue, JsonSyntaxError>;

// Nesting deeper than 64 levels is an error (no stack exhaustion on hostile files).
JsonParseResult parse_json_with_positions(std::string_view text);

}  // namespace quotamilter::rules
