// The SMTP replies a rule file leaves unsaid: the default codes of the
// refusing verdicts and the default texts, stated once for the milter
// (filter/reply.cpp) and `explain`. Templates and escaping live in
// filter/reply.h. Pure.
#pragma once

#include "rules/rule_set.h"

#include <string_view>

namespace quotamilter::rules {

struct ReplyCodes {
    std::string_view code;   // "451" | "550"
    std::string_view xcode;  // "4.7.1" | "5.7.1"
};

// 550 5.7.1 for reject; 451 4.7.1 for tempfail (and any other verdict).
ReplyCodes default_reply_codes(Verdict verdict);

// The class digit of a refusing verdict's codes: '5' for reject, '4' otherwise.
char reply_class(Verdict verdict);

// "451": three digits, the first 4 or 5. "4.7.1": class.subject.detail
// (RFC 3463), class 4 or 5, subject and detail of 1 to 3 digits.
bool is_reply_code(std::string_view code);
bool is_enhanced_code(std::string_view xcode);

// Is `code` ("550") / `xcode` ("5.7.1") of the verdict's class (5 for reject,
// 4 otherwise)? A configured code of the other class is replaced by the default.
bool code_fits_verdict(std::string_view code, Verdict verdict);
bool xcode_fits_verdict(std::string_view xcode, Verdict verdict);

// The reply text of a refusal when the rule file gives none, as a template
// (filter/reply.h expands it). `quota_refusal`: a quota refused (texts speak
// of its limit; {unit} is filled too), else a content rule. `fits_later`: the
// message will fit once older mail leaves the window (there is a retry time).
std::string_view default_reply_text(Verdict verdict, bool quota_refusal, bool fits_later);

}  // namespace quotamilter::rules
