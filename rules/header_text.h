// Header values as content rules see them: unfolded, RFC 2047 encoded words
// decoded to UTF-8, bounded in size. Pure functions, no allocation beyond the
// result, linear in the input: they run on whatever a client sends.
#pragma once

#include "rules/address.h"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace quotamilter::rules {

// The most a decoded header value keeps (longer values are cut, never
// rejected): a rule can never make one header cost more than this to match.
inline constexpr std::size_t kMaxHeaderValueBytes = 64 * 1024;

// RFC 5322 unfolding: every CR, LF or CRLF line break is removed (the
// whitespace after it stays); leading and trailing blanks are trimmed.
std::string unfold_header_value(std::string_view raw);

// RFC 2047: decodes encoded words (=?charset?B?...?= and =?charset?Q?...?=,
// charset UTF-8, US-ASCII, ISO-8859-1 / Latin-1, Windows-1252 and ISO-8859-15)
// into UTF-8; whitespace between two adjacent encoded words is dropped. A
// word with another charset, or malformed, stays as written. Decoded CR, LF
// and NUL become spaces (a value is one line).
std::string decode_encoded_words(std::string_view text);

// unfold + decode, cut to `max_bytes` (on a UTF-8 character boundary).
std::string decode_header_value(std::string_view raw, std::size_t max_bytes = kMaxHeaderValueBytes);

// A header field name is 1 to 128 printable ASCII characters except ':'
// (RFC 5322 ftext; the length bound is ours).
bool is_valid_header_name(std::string_view name);

// ASCII lower case (header names compare case-insensitively).
std::string lower_ascii(std::string_view text);

// The value a `track: "header:NAME"` quota counts by: the address when the
// value holds one ("Alice <Alice+x@Example.org>" -> alice@example.org, as
// normalize_address), otherwise the value lower-cased with runs of blanks
// collapsed, cut to 256 bytes. Empty when the value is empty.
std::string header_tracked_value(std::string_view decoded_value);

}  // namespace quotamilter::rules
