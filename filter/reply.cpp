#include "filter/reply.h"

#include "rules/replies.h"
#include "rules/units.h"

#include <fmt/format.h>

#include <cctype>

namespace quotamilter::filter {

namespace {

std::string compose_duration(std::uint64_t total_seconds) {
    static constexpr std::pair<std::uint64_t, char> kUnits[] = {
        {86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
    std::string out;
    for (const auto& [size, letter] : kUnits) {
        if (total_seconds >= size) {
            out += fmt::format("{}{}", total_seconds / size, letter);
            total_seconds %= size;
        }
    }
    return out.empty() ? "0s" : out;
}


// Length of the UTF-8 sequence starting with `lead` (1 for anything odd, so
// garbage never stalls the loop).
std::size_t utf8_length(unsigned char lead) {
    if (lead >= 0xF0 && lead <= 0xF4) return 4;
    if (lead >= 0xE0) return 3;
    if (lead >= 0xC2 && lead <= 0xDF) return 2;
    return 1;
}

}  // namespace

std::string format_retry_after(const std::optional<std::chrono::milliseconds>& retry_after) {
    if (!retry_after) return "never";
    auto ms = retry_after->count();
    if (ms < 1000) return "1s";
    return compose_duration(static_cast<std::uint64_t>((ms + 999) / 1000));
}

std::string format_window(std::chrono::seconds window) { return rules::format_duration(window); }

std::string expand_reply_template(std::string_view text, const ReplyValues& values) {
    std::string out;
    out.reserve(text.size() + 64);
    std::size_t i = 0;
    while (i < text.size()) {
        if (text[i] == '{') {
            auto close = text.find('}', i + 1);
            if (close != std::string_view::npos) {
                std::string_view name = text.substr(i + 1, close - i - 1);
                bool known = true;
                if (name == "policy") out += values.policy;
                else if (name == "track") out += values.track;
                else if (name == "key") out += values.key;
                else if (name == "count") out += std::to_string(values.count);
                else if (name == "limit") out += std::to_string(values.limit);
                else if (name == "window") out += format_window(values.window);
                else if (name == "retry_after") out += format_retry_after(values.retry_after);
                else known = false;
                if (known) {
                    i = close + 1;
                    continue;
                }
            }
        }
        out += text[i++];
    }
    return out;
}

std::string sanitize_reply_text(std::string_view text) {
    // Trim blanks and line breaks at both ends first.
    auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!text.empty() && blank(text.front())) text.remove_prefix(1);
    while (!text.empty() && blank(text.back())) text.remove_suffix(1);

    std::string out;
    out.reserve(std::min(text.size() + 8, kMaxReplyText));
    std::size_t i = 0;
    while (i < text.size()) {
        auto lead = static_cast<unsigned char>(text[i]);
        std::string piece;
        std::size_t consumed = 1;
        if (lead == '%') {
            piece = "%%";
        } else if (lead < 0x20 || lead == 0x7F) {
            piece = " ";  // CR, LF, TAB and other controls
        } else if (lead < 0x80) {
            piece.assign(1, static_cast<char>(lead));
        } else {
            consumed = std::min(utf8_length(lead), text.size() - i);
            piece.assign(text.substr(i, consumed));
        }
        if (out.size() + piece.size() > kMaxReplyText) break;
        out += piece;
        i += consumed;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

SmtpReply make_reply(rules::Verdict verdict, const rules::ReplySpec& spec, const ReplyValues& values,
                     bool quota_refusal) {
    const rules::ReplyCodes defaults = rules::default_reply_codes(verdict);
    SmtpReply reply;
    reply.rcode = spec.code && rules::code_fits_verdict(*spec.code, verdict) ? *spec.code : std::string(defaults.code);
    reply.xcode = spec.xcode && rules::xcode_fits_verdict(*spec.xcode, verdict) ? *spec.xcode : std::string(defaults.xcode);

    std::string text;
    if (spec.text) text = sanitize_reply_text(expand_reply_template(*spec.text, values));
    if (text.empty()) {
        std::string expanded = expand_reply_template(
            rules::default_reply_text(verdict, quota_refusal, values.retry_after.has_value()), values);
        // {unit} is not a public placeholder; fill it here.
        if (auto at = expanded.find("{unit}"); at != std::string::npos) expanded.replace(at, 6, values.unit);
        text = sanitize_reply_text(expanded);
    }
    reply.text = std::move(text);
    return reply;
}

SmtpReply store_unavailable_reply() {
    return {"451", "4.7.1", "Quota service temporarily unavailable, try again later"};
}

}  // namespace quotamilter::filter
