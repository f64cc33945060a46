// What a verdict may say, wherever it is written (defaults, a quota, a
// content rule): the verdict and mode words, the reply text (one SMTP line,
// no control characters, known {placeholders} only), the SMTP code (4XX or
// 5XX) and enhanced code (4.X.X or 5.X.X), and that code and xcode agree with
// the verdict -- their own or the one they inherit from defaults.
#include "rules/load_context.h"
#include "rules/replies.h"

#include <algorithm>
#include <cctype>

namespace quotamilter::rules::load_internal {

namespace {


// How the rest of a code of `key` looks, closing the "(expected 4" of a message.
std::string_view code_shape(std::string_view key) { return key == "code" ? "XX)" : ".X.X)"; }

// Reports the {placeholders} of a reply text that have no value; false if any.
bool check_placeholders(LoadContext& context, const JsonValue& value, bool only_policy) {
    static constexpr std::string_view kPlaceholders[] = {"policy", "track", "key", "count", "limit", "window", "retry_after"};
    const std::string& text = value.string;
    bool ok = true;
    for (std::size_t open = text.find('{'); open != std::string::npos; open = text.find('{', open + 1)) {
        const std::size_t close = text.find('}', open + 1);
        if (close == std::string::npos) break;
        const std::string_view name = std::string_view(text).substr(open + 1, close - open - 1);
        const bool word = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
        });
        if (word && only_policy && name != "policy") {
            context.error(value.position, "reply: placeholder {" + std::string(name) +
                                              "} has no value in a content rule's reply (only {policy}; the others belong to quotas)");
            ok = false;
        } else if (word && !contains(kPlaceholders, name)) {
            context.error(value.position, "reply: unknown placeholder {" + std::string(name) +
                                              "} (expected {policy} {track} {key} {count} {limit} {window} {retry_after})");
            ok = false;
        }
    }
    return ok;
}

std::optional<std::string> parse_code(LoadContext& context, const JsonValue& value) {
    std::string text;
    if (value.kind == Kind::integer) text = std::to_string(value.integer);
    else if (value.kind == Kind::string) text = value.string;
    if (is_reply_code(text)) return text;
    context.error(value.position, "code: expected an SMTP reply code 4XX or 5XX, e.g. \"451\" or \"550\"");
    return std::nullopt;
}

std::optional<std::string> parse_xcode(LoadContext& context, const JsonValue& value) {
    const bool ok = value.kind == Kind::string && is_enhanced_code(value.string);
    if (!ok) {
        context.error(value.position, "xcode: expected an enhanced status code 4.X.X or 5.X.X, e.g. \"4.7.1\"");
        return std::nullopt;
    }
    return value.string;
}

}  // namespace

std::optional<Verdict> parse_verdict(std::string_view text) {
    if (text == "tempfail") return Verdict::tempfail;
    if (text == "reject") return Verdict::reject;
    if (text == "quarantine") return Verdict::quarantine;
    if (text == "discard") return Verdict::discard;
    if (text == "tag") return Verdict::tag;
    return std::nullopt;
}

std::optional<Verdict> parse_quota_verdict(LoadContext& context, const JsonValue& value) {
    if (value.kind == Kind::string) {
        auto verdict = parse_verdict(value.string);
        if (verdict && *verdict != Verdict::tag) return verdict;
        if (verdict) {
            context.error(value.position, "verdict: \"tag\" is only for content rules; expected \"tempfail\", \"reject\", "
                                          "\"quarantine\" or \"discard\"");
            return std::nullopt;
        }
    }
    context.error(value.position, "verdict: expected \"tempfail\", \"reject\", \"quarantine\" or \"discard\"");
    return std::nullopt;
}

std::optional<Mode> parse_mode(LoadContext& context, const JsonValue& value) {
    if (value.kind == Kind::string) {
        if (value.string == "enforce") return Mode::enforce;
        if (value.string == "monitor") return Mode::monitor;
    }
    context.error(value.position, "mode: expected \"enforce\" or \"monitor\"");
    return std::nullopt;
}

std::optional<std::string> parse_reply_text(LoadContext& context, const JsonValue& value, bool only_policy) {
    if (!context.expect_kind(value, Kind::string, "reply")) return std::nullopt;
    const std::string& text = value.string;
    bool ok = true;
    if (text.size() > kMaxReplyText) {
        context.error(value.position, "reply: text is " + std::to_string(text.size()) + " characters, expected at most 900");
        ok = false;
    }
    if (text.find_first_of("\r\n") != std::string::npos) {
        context.error(value.position, "reply: text must not contain CR or LF (one SMTP reply line)");
        ok = false;
    } else if (has_control_characters(text)) {
        context.error(value.position, "reply: text must not contain control characters");
        ok = false;
    }
    if (!check_placeholders(context, value, only_policy)) ok = false;
    if (!ok) return std::nullopt;
    return text;
}

void read_smtp_code(LoadContext& context, std::string_view key, const JsonValue& value, SmtpCodes& codes) {
    if (key == "code") {
        codes.code = parse_code(context, value);
        codes.code_position = value.position;
    } else {
        codes.xcode = parse_xcode(context, value);
        codes.xcode_position = value.position;
    }
}

// code/xcode must say the same as the verdict: 4xx for tempfail, 5xx for reject.
void check_codes_agree(LoadContext& context, Verdict verdict, const SmtpCodes& codes, std::string_view where) {
    auto check = [&](const std::optional<std::string>& value, TextPosition position, std::string_view key) {
        if (!value) return;
        if (verdict != Verdict::tempfail && verdict != Verdict::reject) {
            context.error(position, std::string(where) + ": " + std::string(key) + " " + in_quotes(*value) +
                                        " makes no sense with verdict " + in_quotes(to_string(verdict)) +
                                        " (the message is accepted; only tempfail and reject send a code)");
            return;
        }
        const char expected = reply_class(verdict);
        if ((*value)[0] != expected) {
            context.error(position, std::string(where) + ": " + std::string(key) + " " + in_quotes(*value) +
                                        " disagrees with verdict " + in_quotes(to_string(verdict)) + " (expected " +
                                        expected + std::string(code_shape(key)));
        }
    };
    check(codes.code, codes.code_position, "code");
    check(codes.xcode, codes.xcode_position, "xcode");
}

void check_inherited_code(LoadContext& context, Verdict verdict, const std::string& value, std::string_view key,
                          TextPosition verdict_position) {
    // quarantine/discard send no code: a default code simply does not concern them
    if (verdict != Verdict::tempfail && verdict != Verdict::reject) return;
    const char expected = reply_class(verdict);
    if (value[0] == expected) return;
    context.error(verdict_position, "quota: verdict " + in_quotes(to_string(verdict)) + " disagrees with " +
                                        std::string(key) + " " + in_quotes(value) + " from defaults (set \"" +
                                        std::string(key) + "\" on this quota, expected " + expected +
                                        std::string(code_shape(key)));
}

}  // namespace quotamilter::rules::load_internal
