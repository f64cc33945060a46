// The loader's generic checks and how it words and places an error: a value
// of the wrong JSON kind, an unknown key (with "did you mean" for a near
// miss) or a duplicate one, and the FILE:LINE:COL of a character inside a
// JSON string. Every part of the loader reports through LoadContext::error.
#include "rules/load_context.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace quotamilter::rules::load_internal {

namespace {

std::string join(std::span<const std::string_view> words) {
    std::string out;
    for (std::string_view word : words) {
        if (!out.empty()) out += ", ";
        out += word;
    }
    return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            const char ca = static_cast<char>(std::tolower(static_cast<unsigned char>(a[i - 1])));
            const char cb = static_cast<char>(std::tolower(static_cast<unsigned char>(b[j - 1])));
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (ca == cb ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

// The known key closest to `key`, if it is near enough to be a misspelling.
std::string_view nearest_key(std::string_view key, std::span<const std::string_view> known) {
    std::string_view best;
    std::size_t best_distance = 3;
    for (std::string_view candidate : known) {
        const std::size_t distance = edit_distance(key, candidate);
        if (distance < best_distance) {
            best_distance = distance;
            best = candidate;
        }
    }
    return best;
}

}  // namespace

std::string in_quotes(std::string_view text) { return "\"" + std::string(text) + "\""; }

bool contains(std::span<const std::string_view> words, std::string_view word) {
    return std::find(words.begin(), words.end(), word) != words.end();
}

bool has_control_characters(std::string_view text) {
    return std::any_of(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f;
    });
}

void LoadContext::error(TextPosition where, std::string message) {
    errors.push_back(Diagnostic{file, where.line, where.column, std::move(message)});
}

bool LoadContext::expect_kind(const JsonValue& value, Kind kind, std::string_view what) {
    if (value.kind == kind) return true;
    JsonValue wanted;
    wanted.kind = kind;
    error(value.position, std::string(what) + ": expected " + std::string(wanted.kind_name()) + ", got " +
                              std::string(value.kind_name()));
    return false;
}

bool LoadContext::accept_key(const JsonMember& member, std::span<const std::string_view> known, std::string_view where,
                             std::set<std::string>& seen) {
    if (!contains(known, member.key)) {
        std::string message = "unknown key " + in_quotes(member.key) + " in " + std::string(where);
        const std::string_view best = nearest_key(member.key, known);
        if (!best.empty()) {
            message += "; did you mean " + in_quotes(best) + "?";
            seen.insert("?" + std::string(best));  // a missing `best` is this same mistake: not reported twice
        }
        else message += " (expected one of: " + join(known) + ")";
        error(member.key_position, message);
        return false;
    }
    if (!seen.insert(member.key).second) {
        error(member.key_position, "duplicate key " + in_quotes(member.key) + " in " + std::string(where));
        return false;
    }
    return true;
}

std::optional<std::string> LoadContext::get_string(const JsonValue& value, std::string_view what) {
    if (!expect_kind(value, Kind::string, what)) return std::nullopt;
    return value.string;
}

// The line and column of the character of string `value` (a JSON string
// in the file) where its decoded text reaches byte `decoded_offset`:
// escapes like \\ count once in the text, twice in the file.
TextPosition LoadContext::position_inside_string(TextPosition opening_quote, std::size_t decoded_offset) const {
    std::size_t offset = 0;
    for (int line = 1; line < opening_quote.line && offset < text.size(); ++offset) {
        if (text[offset] == '\n') ++line;
    }
    if (opening_quote.line == 1 && text.substr(0, 3) == "\xEF\xBB\xBF") offset += 3;  // the parser skips a BOM
    offset += static_cast<std::size_t>(opening_quote.column - 1) + 1;  // past the quote
    TextPosition here{opening_quote.line, opening_quote.column + 1};
    std::size_t decoded = 0;
    while (offset < text.size() && text[offset] != '"' && decoded < decoded_offset) {
        std::size_t raw = 1, produced = 1;
        if (text[offset] == '\\' && offset + 1 < text.size()) {
            raw = 2;
            if (text[offset + 1] == 'u' && offset + 6 <= text.size()) {
                raw = 6;
                const unsigned long unit = std::strtoul(std::string(text.substr(offset + 2, 4)).c_str(), nullptr, 16);
                produced = unit < 0x80 ? 1 : unit < 0x800 ? 2 : 3;
                if (unit >= 0xD800 && unit <= 0xDBFF) {
                    raw = 12;  // a surrogate pair: one 4-byte character
                    produced = 4;
                }
            }
        }
        offset += raw;
        here.column += static_cast<int>(raw);
        decoded += produced;
    }
    return here;
}

}  // namespace quotamilter::rules::load_internal
