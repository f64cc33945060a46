#include "rules/header_text.h"

#include <array>
#include <cstdint>

namespace quotamilter::rules {
namespace {

// RFC 2047 says 75; real mail has longer words. Bounding the length bounds
// the work of a failed attempt, so decoding stays linear in the input.
constexpr std::size_t kMaxEncodedWord = 256;
constexpr std::size_t kMaxCharsetName = 64;
constexpr std::size_t kMaxTrackedValue = 320;

bool is_blank(char c) { return c == ' ' || c == '\t'; }

char lower_char(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

void append_utf8(std::string& out, std::uint32_t code_point) {
    if (code_point < 0x80) {
        out += static_cast<char>(code_point);
    } else if (code_point < 0x800) {
        out += static_cast<char>(0xC0 | (code_point >> 6));
        out += static_cast<char>(0x80 | (code_point & 0x3F));
    } else {
        out += static_cast<char>(0xE0 | (code_point >> 12));
        out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (code_point & 0x3F));
    }
}

// Windows-1252 0x80..0x9F; 0 where the code page leaves a hole (kept as the
// Latin-1 control character).
constexpr std::array<std::uint16_t, 32> kWindows1252High = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};

enum class Charset { utf8, latin1, windows1252, latin9 };

std::optional<Charset> charset_named(std::string_view name) {
    // RFC 2231 allows a language after '*': "utf-8*en".
    if (const std::size_t star = name.find('*'); star != std::string_view::npos) name = name.substr(0, star);
    const std::string lower = lower_ascii(name);
    if (lower == "utf-8" || lower == "utf8" || lower == "us-ascii" || lower == "ascii") return Charset::utf8;
    if (lower == "iso-8859-1" || lower == "iso8859-1" || lower == "latin1" || lower == "latin-1" ||
        lower == "iso_8859-1")
        return Charset::latin1;
    if (lower == "windows-1252" || lower == "cp1252") return Charset::windows1252;
    if (lower == "iso-8859-15" || lower == "iso8859-15" || lower == "latin9" || lower == "latin-9") return Charset::latin9;
    return std::nullopt;
}

std::uint32_t latin9_code_point(unsigned char byte) {
    switch (byte) {
        case 0xA4: return 0x20AC;
        case 0xA6: return 0x0160;
        case 0xA8: return 0x0161;
        case 0xB4: return 0x017D;
        case 0xB8: return 0x017E;
        case 0xBC: return 0x0152;
        case 0xBD: return 0x0153;
        case 0xBE: return 0x0178;
        default: return byte;
    }
}

void append_in_charset(std::string& out, const std::string& bytes, Charset charset) {
    for (char c : bytes) {
        const auto byte = static_cast<unsigned char>(c);
        // A value is one line: decoded line breaks and NULs become spaces.
        if (byte == '\r' || byte == '\n' || byte == 0) {
            out += ' ';
            continue;
        }
        if (byte < 0x80 || charset == Charset::utf8) {
            out += c;
            continue;
        }
        std::uint32_t code_point = byte;
        if (charset == Charset::windows1252 && byte < 0xA0 && kWindows1252High[byte - 0x80] != 0)
            code_point = kWindows1252High[byte - 0x80];
        else if (charset == Charset::latin9)
            code_point = latin9_code_point(byte);
        append_utf8(out, code_point);
    }
}

std::optional<std::string> decode_q(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '_') {
            out += ' ';
        } else if (c == '=' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
            i += 2;
        } else {
            out += c;  // a stray '=' stays as written
        }
    }
    return out;
}

std::optional<std::string> decode_b(std::string_view text) {
    std::string out;
    out.reserve(text.size() / 4 * 3 + 3);
    std::uint32_t bits = 0;
    int bit_count = 0;
    for (char c : text) {
        if (c == '=') break;  // padding ends the data
        const int value = base64_value(c);
        if (value < 0) return std::nullopt;
        bits = (bits << 6) | static_cast<std::uint32_t>(value);
        bit_count += 6;
        if (bit_count >= 8) {
            bit_count -= 8;
            out += static_cast<char>((bits >> bit_count) & 0xFF);
        }
    }
    return out;
}

// An encoded word starting at `start` ("=?"): its decoded UTF-8 text and the
// index after "?=", or nullopt when there is none (or its charset is unknown).
struct EncodedWord {
    std::string decoded;
    std::size_t end = 0;
};

std::optional<EncodedWord> encoded_word_at(std::string_view text, std::size_t start) {
    const std::size_t limit = std::min(text.size(), start + kMaxEncodedWord);
    std::size_t i = start + 2;
    const std::size_t charset_start = i;
    while (i < limit && text[i] != '?' && !is_blank(text[i]) && i - charset_start <= kMaxCharsetName) ++i;
    if (i >= limit || text[i] != '?' || i == charset_start) return std::nullopt;
    const std::string_view charset_name = text.substr(charset_start, i - charset_start);
    ++i;
    if (i + 1 >= limit || text[i + 1] != '?') return std::nullopt;
    const char encoding = lower_char(text[i]);
    if (encoding != 'b' && encoding != 'q') return std::nullopt;
    i += 2;
    const std::size_t payload_start = i;
    while (i + 1 < limit && !(text[i] == '?' && text[i + 1] == '=')) {
        if (is_blank(text[i]) || text[i] == '\r' || text[i] == '\n') return std::nullopt;
        ++i;
    }
    if (i + 1 >= limit) return std::nullopt;
    const auto charset = charset_named(charset_name);
    if (!charset) return std::nullopt;
    const std::string_view payload = text.substr(payload_start, i - payload_start);
    const auto bytes = encoding == 'b' ? decode_b(payload) : decode_q(payload);
    if (!bytes) return std::nullopt;
    EncodedWord word;
    append_in_charset(word.decoded, *bytes, *charset);
    word.end = i + 2;
    return word;
}

void cut_to_utf8_boundary(std::string& text, std::size_t max_bytes) {
    if (text.size() <= max_bytes) return;
    std::size_t cut = max_bytes;
    // Back off over continuation bytes (10xxxxxx), at most 3, so no character is split.
    for (int step = 0; step < 3 && cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80; ++step) --cut;
    text.resize(cut);
}

}  // namespace

std::string lower_ascii(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = lower_char(c);
    return out;
}

bool is_valid_header_name(std::string_view name) {
    if (name.empty() || name.size() > 128) return false;
    for (char c : name) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 33 || byte > 126 || c == ':') return false;
    }
    return true;
}

std::string unfold_header_value(std::string_view raw) {
    std::string out;
    out.reserve(raw.size());
    for (char c : raw) {
        if (c == '\r' || c == '\n') continue;
        out += c;
    }
    std::size_t first = 0;
    while (first < out.size() && is_blank(out[first])) ++first;
    std::size_t last = out.size();
    while (last > first && is_blank(out[last - 1])) --last;
    return out.substr(first, last - first);
}

std::string decode_encoded_words(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    bool after_encoded_word = false;
    for (std::size_t i = 0; i < text.size();) {
        if (text[i] == '=' && i + 1 < text.size() && text[i + 1] == '?') {
            if (auto word = encoded_word_at(text, i)) {
                out += word->decoded;
                i = word->end;
                after_encoded_word = true;
                continue;
            }
        }
        if (after_encoded_word && is_blank(text[i])) {
            // Blanks between two encoded words are not part of the text (RFC 2047, 6.2).
            std::size_t next = i;
            while (next < text.size() && is_blank(text[next])) ++next;
            if (next + 1 < text.size() && text[next] == '=' && text[next + 1] == '?' && encoded_word_at(text, next)) {
                i = next;
                continue;
            }
        }
        after_encoded_word = false;
        const char c = text[i];
        out += (c == '\r' || c == '\n' || c == '\0') ? ' ' : c;
        ++i;
    }
    return out;
}

std::string decode_header_value(std::string_view raw, std::size_t max_bytes) {
    // Decoding never grows text by more than a factor 3 (Latin-1 -> UTF-8 is
    // at most 3 bytes per byte of Q text), so this much raw input is enough
    // for max_bytes of output, and the work is bounded whatever was sent.
    const std::size_t raw_limit = max_bytes > (std::size_t{1} << 40) ? raw.size() : max_bytes * 3 + 1024;
    if (raw.size() > raw_limit) raw = raw.substr(0, raw_limit);
    std::string value = decode_encoded_words(unfold_header_value(raw));
    cut_to_utf8_boundary(value, max_bytes);
    return value;
}

std::string header_tracked_value(std::string_view decoded_value) {
    std::string_view candidate;
    // The last <...> holding an '@': a display name may itself hold a fake
    // "<x@y>" in quotes, the real address comes last.
    for (std::size_t close = decoded_value.rfind('>'); close != std::string_view::npos && close > 0;
         close = decoded_value.rfind('>', close - 1)) {
        const std::size_t open = decoded_value.rfind('<', close);
        if (open == std::string_view::npos) break;
        const std::string_view inside = decoded_value.substr(open + 1, close - open - 1);
        if (inside.find('@') != std::string_view::npos) {
            candidate = inside;
            break;
        }
        if (open == 0) break;
        close = open;
    }
    if (candidate.empty()) {
        // Else the first word with an '@' (a bare addr-spec: "user@example.org").
        const std::size_t at = decoded_value.find('@');
        if (at != std::string_view::npos) {
            std::size_t begin = at;
            while (begin > 0 && !is_blank(decoded_value[begin - 1]) && decoded_value[begin - 1] != ',') --begin;
            std::size_t end = at;
            while (end < decoded_value.size() && !is_blank(decoded_value[end]) && decoded_value[end] != ',') ++end;
            candidate = decoded_value.substr(begin, end - begin);
        }
    }
    std::string value;
    if (!candidate.empty()) {
        const Address address = normalize_address(candidate);
        if (!address.null_sender && !address.domain.empty() && !address.local.empty()) value = address.str();
    }
    if (value.empty()) {
        bool blank = false;
        for (char c : decoded_value) {
            if (is_blank(c)) {
                blank = !value.empty();
                continue;
            }
            if (blank) value += ' ';
            blank = false;
            value += lower_char(c);
            if (value.size() > kMaxTrackedValue) break;
        }
    }
    cut_to_utf8_boundary(value, kMaxTrackedValue);
    return value;
}

}  // namespace quotamilter::rules
