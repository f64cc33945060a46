// SMTP replies for refusals: templates, defaults and the rules libmilter and
// Postfix impose on smfi_setreply (docs/MILTER-TRAPS.md, "Replies").
#pragma once

#include "rules/rule_set.h"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace quotamilter::filter {

// Longest reply text we hand to smfi_setreply (after %-escaping).
inline constexpr std::size_t kMaxReplyText = 980;

// The values a reply template can name.
struct ReplyValues {
    std::string policy;
    std::string track;        // "sender", "client_net", ...
    std::string key;          // the tracked value
    std::string unit;         // "messages", "recipients", "bytes" (default text only)
    std::uint64_t count = 0;  // units in the window before this message
    std::uint64_t limit = 0;
    std::chrono::seconds window{0};
    std::optional<std::chrono::milliseconds> retry_after;  // unset: the message never fits
};

struct SmtpReply {
    std::string rcode;  // "451"
    std::string xcode;  // "4.7.1"
    std::string text;   // ready for smfi_setreply: no CR/LF, '%' doubled, <= kMaxReplyText
};

// "4m12s", "1h", "2d3h"; rounded up to whole seconds, at least "1s";
// "never" when unset.
std::string format_retry_after(const std::optional<std::chrono::milliseconds>& retry_after);
// The window as rule files write it: "30m", "1h", "90s" (rules::format_duration).
std::string format_window(std::chrono::seconds window);

// Replaces {policy} {track} {key} {count} {limit} {window} {retry_after};
// anything else in braces is left as written.
std::string expand_reply_template(std::string_view text, const ReplyValues& values);

// Makes `text` safe for smfi_setreply: CR, LF and other control characters
// become spaces, '%' becomes "%%", surrounding blanks are trimmed, and the
// result is cut to kMaxReplyText bytes without splitting a "%%" or a UTF-8
// character.
std::string sanitize_reply_text(std::string_view text);

// The reply for a refusing verdict (tempfail or reject): the configured
// code/xcode when they agree with the verdict's class (4xx / 5xx), else the
// defaults (rules/replies.h); the configured text expanded, else the default
// text of a quota refusal (`quota_refusal`) or of a content rule.
SmtpReply make_reply(rules::Verdict verdict, const rules::ReplySpec& spec, const ReplyValues& values,
                     bool quota_refusal = true);

// The reply used when the store cannot answer and on_store_error=tempfail.
SmtpReply store_unavailable_reply();

}  // namespace quotamilter::filter
